//! `appstack health-check --strict` passes on a healthy stack like the quickstart, and fails
//! for the right check id on each thing the users' strict check must catch: NODE_ENV
//! development, a missing CSP header, a missing core table, a queue backlog, the database published on 0.0.0.0, a weak CMS admin
//! password, a volume more than 90 % full, WAL shipping stopped, a failed drill. A stack
//! that does not run here is exit 2.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

const NAME: &str = "it-health";

fn spec(store: &std::path::Path, frontend_env: &str, extra: &str) -> String {
    spec_checks(store, frontend_env, extra, "", "")
}

/// `checks`: more lines under `healthCheck`; `cms`: more fields of `cms` (`, key: value`).
fn spec_checks(
    store: &std::path::Path,
    frontend_env: &str,
    extra: &str,
    checks: &str,
    cms: &str,
) -> String {
    format!(
        "  database: {{image: appstack/postgis:15, storage: 1Gi}}\n  cache: {{image: appstack/redis:7}}\n  cms: {{image: appstack/directus:11.16.1, env: {{PUBLIC_URL: 'http://127.0.0.1:8055'}}{cms}}}\n  frontend: {{image: appstack/web:next-15, env: {{{frontend_env}}}}}\n{extra}  healthCheck:\n    queue: {{key: 'jobs:pending', maxBacklog: 3}}\n{checks}  backup:\n    target: file://{}\n    wal: {{shipInterval: 1s}}\n  recovery:\n    objectives: {{rto: 10m, rpo: 1m}}\n",
        store.display()
    )
}

/// (exit code, ids of the failed checks).
fn check(s: &TestStack) -> (i32, Vec<String>) {
    let out = s.run(&["health-check", "--strict", "-o", "json"]);
    let code = out.status.code().unwrap_or(-1);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    let failed = doc["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["passed"] == false)
        .map(|c| {
            eprintln!("  failed {}: {}", c["id"], c["evidence"]);
            c["id"].as_str().unwrap().to_string()
        })
        .collect();
    (code, failed)
}

/// Waits until the strict check fails (exit 1) naming `id`: `appstack run` applies a
/// manifest edit by itself.
fn fails_for(s: &TestStack, id: &str) {
    wait_for(id, Duration::from_secs(120), || {
        let (code, failed) = check(s);
        code == 1 && failed.iter().any(|f| f == id)
    });
}

/// Waits until check `id` fails with `needle` in its evidence.
fn fails_with(s: &TestStack, id: &str, needle: &str) {
    wait_for(id, Duration::from_secs(120), || {
        let out = s.run(&["health-check", "--strict", "-o", "json"]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        doc["report"]["checks"].as_array().is_some_and(|checks| {
            checks.iter().any(|c| {
                c["id"] == id
                    && c["passed"] == false
                    && c["evidence"].as_str().is_some_and(|e| e.contains(needle))
            })
        })
    });
}

fn passes(s: &TestStack) {
    wait_for(
        "a passing strict health check",
        Duration::from_secs(120),
        || check(s) == (0, vec![]),
    );
}

/// The user id an image runs as.
fn image_uid(image: &str) -> String {
    docker_ok(&["run", "--rm", "--entrypoint", "id", image, "-u"])
        .trim()
        .to_string()
}

/// A tmpfs of a known size mounted on the host, bound as this stack's `volume` (labelled as
/// `up` would label it). On the host, not in the engine's tmpfs volume driver: that one is
/// emptied whenever its container is recreated, and the test recreates the database.
struct HostTmpfs(std::path::PathBuf);

impl HostTmpfs {
    fn mount(dir: &std::path::Path, volume: &str, size: &str, uid: &str) -> Self {
        let path = dir.join(volume);
        std::fs::create_dir_all(&path).unwrap();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},uid={uid},mode=0700"),
            ])
            .arg("tmpfs")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "mount tmpfs: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let device = format!("device={}", path.display());
        docker_ok(&[
            "volume",
            "create",
            "--driver",
            "local",
            "--opt",
            "type=none",
            "--opt",
            "o=bind",
            "--opt",
            &device,
            "--label",
            &format!("appstack.io/stack={NAME}"),
            "--label",
            "app.kubernetes.io/managed-by=appstack",
            "--label",
            &format!("appstack.io/volume={volume}"),
            &format!("{NAME}-{volume}"),
        ]);
        Self(path)
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["--lazy"])
            .arg(&self.0)
            .status();
    }
}

#[test]
fn strict_health_check_passes_and_catches_each_problem() {
    if !engine_available() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let s = TestStack::new(NAME, &spec(store.path(), "", ""));
    assert_eq!(
        s.run(&["health-check"]).status.code(),
        Some(2),
        "no stack yet"
    );
    // Every volume is a tmpfs of a known size, so the free-disk verdict does not depend on
    // the host's disk (a CI host may well be more than 90 % full); the uploads' 64 MiB are
    // filled below.
    let mounts = tempfile::tempdir().unwrap();
    let postgres = image_uid("appstack/postgis:15");
    let volumes = [
        HostTmpfs::mount(mounts.path(), "database-data", "1g", &postgres),
        HostTmpfs::mount(mounts.path(), "wal-spool", "256m", &postgres),
        HostTmpfs::mount(
            mounts.path(),
            "cache-data",
            "64m",
            &image_uid("appstack/redis:7"),
        ),
        HostTmpfs::mount(
            mounts.path(),
            "cms-uploads",
            "64m",
            &image_uid("appstack/directus:11.16.1"),
        ),
    ];
    s.run_ok(&["up"]);
    let daemon = Daemon::start(&s, &["run"]);
    s.run_ok(&["backup", "now", "--only", "db"]);
    wait_for("WAL in the store", Duration::from_secs(30), || {
        wal_synced_after(&s, NAME, chrono::Utc::now() - chrono::Duration::seconds(1))
    });
    // Right after the backup's WAL switch the receiver's next segment starts with the next
    // write (the daemon's heartbeat row, every 10 s).
    passes(&s);
    let out = s.run(&["health-check", "--strict"]);
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));

    s.write(&spec(store.path(), "NODE_ENV: development", ""));
    fails_for(&s, "security.debug-off");

    s.write(&spec(store.path(), "CONTENT_SECURITY_POLICY: ''", ""));
    fails_for(&s, "security.csp");

    let port = free_port();
    s.write(&spec(
        store.path(),
        "",
        &format!("  ingress:\n    publishedPorts: [{{component: database, hostPort: {port}, bind: 0.0.0.0}}]\n"),
    ));
    fails_for(&s, "security.database-not-public");
    s.write(&spec(store.path(), "", ""));
    passes(&s);

    let admin = s
        .state_dir()
        .join("stacks")
        .join(NAME)
        .join("secrets/cms/admin-password");
    let strong = std::fs::read_to_string(&admin).unwrap();
    std::fs::write(&admin, "admin123").unwrap();
    fails_for(&s, "security.weak-passwords");
    std::fs::write(&admin, strong).unwrap();

    // A table the spec lists is missing; the queue holds more than maxBacklog jobs.
    s.write(&spec_checks(
        store.path(),
        "",
        "",
        "    coreTables: [directus_users, public.orders]\n",
        "",
    ));
    fails_for(&s, "connectivity.core-tables");
    s.write(&spec(store.path(), "", ""));
    let redis = |args: &[&str]| {
        let mut argv = vec![
            "exec",
            "it-health-cache",
            "sh",
            "-c",
            "REDISCLI_AUTH=\"$(cat /run/secrets/cache-password)\" exec redis-cli \"$@\"",
            "redis-cli",
        ];
        argv.extend(args);
        docker_ok(&argv);
    };
    redis(&["RPUSH", "jobs:pending", "1", "2", "3", "4"]);
    fails_for(&s, "connectivity.queue-backlog");
    redis(&["DEL", "jobs:pending"]);

    docker_ok(&[
        "exec",
        "it-health-cms",
        "dd",
        "if=/dev/zero",
        "of=/directus/uploads/filler",
        "bs=1M",
        "count=60",
    ]);
    fails_for(&s, "storage.free-disk");
    docker_ok(&["exec", "it-health-cms", "rm", "/directus/uploads/filler"]);

    // An admin allowlist the running Directus cannot enforce (11.16.1 caches admin access
    // without the client's address) is reported, not taken on trust.
    s.write(&spec_checks(
        store.path(),
        "",
        "",
        "",
        ", adminAllowlist: [10.99.0.0/16]",
    ));
    fails_with(
        &s,
        "security.admin-allowlist",
        "1 of 1 admin policies allow exactly [10.99.0.0/16, 127.0.0.1, ::1]; IP_TRUST_PROXY=false; Directus 11.16.1 caches admin access",
    );
    s.write(&spec(store.path(), "", ""));

    // A fault-injected drill fails and its report is the stack's last drill.
    let out = s.run(&["drill", "--inject-fault", "corrupt-base"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    fails_for(&s, "recoverability.drill");

    // WAL shipping stops with the daemon.
    drop(daemon);
    wait_for(
        "recoverability.rpo failing",
        Duration::from_secs(60),
        || check(&s).1.iter().any(|f| f == "recoverability.rpo"),
    );
    // The containers go before their filesystems do.
    s.cleanup();
    drop(volumes);
}
