//! A host is lost: the stack runs with `appstack run` shipping WAL to S3 (moto), a writer
//! commits rows, a file is uploaded through Directus and backed up; then every trace of the
//! stack goes from this machine (containers, volumes, the state directory), and `appstack
//! recover` brings it back from the bucket alone: healthy under its own name and ports, the
//! rows up to the last shipped WAL, the file byte for byte, and Directus' admin signing in —
//! with the original password when the key opens the sealed secrets, with the new one
//! `recover` wrote to the state directory when there is no key.

mod common;

use std::time::Duration;

use common::directus::{admin_password, Cms};
use common::moto::{s3_backup, Moto};
use common::*;

fn host_lost_and_recovered(name: &str, with_key: bool) {
    let moto = Moto::start();
    moto.create_bucket("dr-store");
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("backup.key");
    let encryption = if with_key {
        keygen(&key);
        format!("    encryption: {{keyFile: \"{}\"}}\n", key.display())
    } else {
        String::new()
    };
    let (_creds, backup) = s3_backup(
        "dr-store",
        moto.port,
        &format!("    wal: {{shipInterval: 1s}}\n{encryption}"),
    );
    let (cms_port, web_port) = (free_port(), free_port());
    let spec = format!(
        "{}  ingress:\n    publishedPorts: [{{component: cms, hostPort: {cms_port}}}, {{component: frontend, hostPort: {web_port}}}]\n{backup}",
        small_with_cms_env(&format!("PUBLIC_URL: 'http://127.0.0.1:{cms_port}'"))
    );
    let s = TestStack::new(name, &spec);
    s.run_ok(&["up"]);
    let daemon = Daemon::start(&s, &["run"]);
    let original = admin_password(&s.state_dir(), name);
    let upload = s.dir.path().join("upload.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
    std::fs::write(&upload, &bytes).unwrap();
    let file_id = Cms::login(cms_port, &original).upload(&upload);
    s.run_ok(&["backup", "now"]);

    // A writer commits a row every 50 ms until the host goes.
    s.psql("CREATE TABLE ticks (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())");
    let mut writer = spawn_psql(
        name,
        "DO $$ BEGIN FOR i IN 1..2000 LOOP INSERT INTO ticks DEFAULT VALUES; COMMIT; PERFORM pg_sleep(0.05); END LOOP; END $$",
    );
    std::thread::sleep(Duration::from_secs(8));
    let newest_on_host = s.psql("SELECT extract(epoch FROM max(at)) FROM ticks");
    // The host is gone: the daemon, the containers, the volumes, the state directory.
    drop(daemon);
    s.run_ok(&["down", "--volumes", "--yes"]);
    // Its database is gone: the writer's psql ends with it.
    let _ = writer.kill();
    let _ = writer.wait();
    std::fs::remove_dir_all(s.state_dir()).unwrap();
    assert!(s.containers().is_empty());

    // A new machine: the engine, the binary, the bucket and (maybe) the key; no manifest.
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let mut recover = appstack();
    recover
        .arg("--state-dir")
        .arg(s.state_dir())
        .args(["recover", "--from", "s3://dr-store/prod", "--stack", name])
        .args(["--s3-endpoint", &endpoint, "--s3-path-style"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test");
    if with_key {
        recover.arg("--key").arg(&key);
    }
    let out = recover.output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("stack {name} recovered and healthy: RTO")),
        "{log}"
    );

    // Every component healthy, under its own name (recover waits on its own probes; the
    // engine's own check, every 10 s, catches up).
    let cs = s.containers();
    assert!(cs.len() >= 5, "{cs:?}");
    wait_for(
        "the engine to see every component healthy",
        Duration::from_secs(30),
        || {
            s.containers()
                .iter()
                .all(|c| c.3.contains("(healthy)") || !c.3.contains("health"))
        },
    );
    // The rows up to the last shipped WAL: at most a few seconds lost.
    let newest_recovered = s.psql("SELECT extract(epoch FROM max(at)) FROM ticks");
    let lost = newest_on_host.parse::<f64>().unwrap() - newest_recovered.parse::<f64>().unwrap();
    eprintln!("{name}: data loss {lost:.2}s (host's newest commit minus the recovered newest)");
    assert!(lost <= 5.0, "lost {lost:.2}s of commits");
    // The same ports, the same file, and Directus' admin signs in.
    let password = admin_password(&s.state_dir(), name);
    if with_key {
        assert_eq!(password, original, "the sealed secrets come back");
        assert!(log.contains("its sealed secrets"), "{log}");
    } else {
        assert_ne!(password, original, "no key: new credentials");
        assert!(log.contains("new credentials were set"), "{log}");
    }
    let cms = Cms::login(cms_port, &password);
    assert_eq!(
        cms.asset(&file_id),
        bytes,
        "the uploaded file, byte for byte"
    );
    let (code, page) = common::directus::curl(&[&format!("http://127.0.0.1:{web_port}/")]);
    assert_eq!(code, 200, "{page}");
    // The recovered stack's manifest is written for `appstack run -f`.
    assert!(s
        .state_dir()
        .join("stacks")
        .join(name)
        .join("appstack.yaml")
        .exists());
}

#[test]
fn a_lost_host_comes_back_from_s3_with_its_key() {
    if !engine_available() {
        return;
    }
    host_lost_and_recovered("it-dr-key", true);
}

#[test]
fn a_lost_host_comes_back_from_s3_without_a_key_with_new_credentials() {
    if !engine_available() {
        return;
    }
    host_lost_and_recovered("it-dr-nokey", false);
}

#[test]
fn recover_refuses_what_it_cannot_do() {
    if !engine_available() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = appstack()
            .arg("--state-dir")
            .arg(store.path().join("state"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let from = format!("file://{}", store.path().join("none").display());
    let (code, err) = run(&["recover", "--from", &from, "--stack", "nothing-here"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("holds no record of stack \"nothing-here\""),
        "{err}"
    );
    let (code, err) = run(&["recover", "--from", "ftp://x", "--stack", "a"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--from"), "{err}");
}
