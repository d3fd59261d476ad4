//! In-place restore (`restore --force`, no `--into`) while `appstack run` keeps the stack:
//! the stack's own database goes back to a point in time, a safety backup of what it
//! replaced is restorable, the new timeline is backed up and its WAL shipped, a second
//! in-place restore from the same old backup does not reuse the timeline id of the first,
//! a database that does not answer is kept aside instead of backed up, and `latest` from a
//! base backup of a timeline the stack has left is refused.

mod common;

use std::time::Duration;

use common::*;

fn timeline(stack: &str) -> String {
    let hex = psql(
        stack,
        "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)",
    );
    u32::from_str_radix(&hex, 16).unwrap().to_string()
}

fn safety_id(log: &str) -> String {
    let at = log.find("safety backup base-").expect(log);
    log[at + "safety backup ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Runs a restore that must succeed; on failure the database's last log lines say why.
fn restore_ok(s: &TestStack, args: &[&str]) -> String {
    let out = s.run(args);
    let log = String::from_utf8_lossy(&out.stderr).to_string();
    if !out.status.success() {
        let db = docker(&["logs", "--tail", "40", "it-inplace-database"]);
        panic!(
            "{args:?} failed: {log}\n--- database log ---\n{}{}",
            String::from_utf8_lossy(&db.stdout),
            String::from_utf8_lossy(&db.stderr)
        );
    }
    log
}

#[test]
fn restore_in_place_with_a_safety_backup_and_a_new_timeline() {
    if !engine_available() {
        return;
    }
    let (store, s) = wal_stack("it-inplace");
    let _copies = [
        TestStack::new("it-inplace-undo", SMALL),
        TestStack::new("it-inplace-next", SMALL),
    ];
    s.run_ok(&["up"]);
    let daemon = Daemon::start(&s, &["--log-level", "info", "run"]);
    s.psql("CREATE TABLE orders (id int PRIMARY KEY); INSERT INTO orders SELECT generate_series(1, 100)");
    let upload: Vec<u8> = (0..120_000u32).map(|i| (i * 17 % 241) as u8).collect();
    put_upload("it-inplace", "contract.pdf", &upload);
    s.run_ok(&["backup", "now", "--only", "db"]);
    s.run_ok(&["backup", "now", "--only", "files"]);
    let kept = upload_sha256("it-inplace", "contract.pdf");
    s.psql("INSERT INTO orders SELECT generate_series(101, 150)");
    std::thread::sleep(Duration::from_millis(1500));
    let t = chrono::Utc::now();
    std::thread::sleep(Duration::from_millis(1500));
    // The mistake the restore undoes (rows and an upload).
    s.psql(
        "INSERT INTO orders SELECT generate_series(151, 200); DELETE FROM orders WHERE id <= 50",
    );
    put_upload("it-inplace", "contract.pdf", b"overwritten by mistake");
    // Past the receiver's (millisecond) lag behind the commit.
    let written = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    wait_for("WAL shipped past T", Duration::from_secs(30), || {
        wal_synced_after(&s, "it-inplace", written)
    });
    let t_arg = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);

    // Without --force nothing happens: exit 2, the database untouched.
    let refused = s.run(&["restore", "--to", &t_arg]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{err}");
    assert!(err.contains("--force") && err.contains("--into"), "{err}");
    assert_eq!(s.psql("SELECT count(*) FROM orders"), "150");

    let before = s.container_id("cms");
    let log = restore_ok(&s, &["restore", "--to", &t_arg, "--force"]);
    let safety = safety_id(&log);
    assert!(log.contains("recoverable (timeline 2)"), "{log}");
    assert_eq!(
        s.psql("SELECT count(*) || '|' || min(id) || '|' || max(id) FROM orders"),
        "150|1|150",
        "exactly the rows committed before T"
    );
    assert_eq!(s.psql("SELECT pg_is_in_recovery()"), "f");
    // The uploads are the files backup's again; what they were is in a safety backup.
    assert_eq!(upload_sha256("it-inplace", "contract.pdf"), kept);
    assert!(
        log.contains("safety backup of the uploads as they were: files-"),
        "{log}"
    );
    assert_eq!(s.psql("SHOW restore_command"), "");
    assert_eq!(timeline("it-inplace"), "2");
    // The whole stack is back (recreated once, no duplicates) and the CMS reaches the database.
    assert_ne!(s.container_id("cms"), before);
    let containers = s.containers();
    assert_eq!(containers.len(), 5, "{containers:?}");
    wait_for("all healthy", Duration::from_secs(60), || {
        s.containers()
            .iter()
            .all(|(_, _, state, status)| state == "running" && status.contains("(healthy)"))
    });

    // The new timeline is protected: its WAL ships and `latest` restores the new writes.
    s.psql("INSERT INTO orders SELECT generate_series(1001, 1010)");
    // Past the receiver's (millisecond) lag behind the commit.
    let written = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    wait_for(
        "WAL of the new timeline shipped",
        Duration::from_secs(30),
        || wal_synced_after(&s, "it-inplace", written),
    );
    restore_ok(
        &s,
        &["restore", "--into", "it-inplace-next", "--to", "latest"],
    );
    let mut wal: Vec<String> = std::fs::read_dir(store.path().join("it-inplace/wal"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    wal.sort();
    assert_eq!(
        psql("it-inplace-next", "SELECT count(*) FROM orders"),
        "160",
        "{wal:#?}\n{}\nreceiver: {}\nspool: {}\nserver: {}",
        wal_status(&s, "it-inplace"),
        String::from_utf8_lossy(&docker(&["logs", "it-inplace-wal-receiver"]).stderr),
        docker_ok(&["exec", "it-inplace-wal-receiver", "ls", "-l", "--time-style=full-iso", "/var/lib/postgresql/spool"]),
        s.psql("SELECT pg_current_wal_lsn()::text || ' ' || now()::text || ' ' || (SELECT string_agg(state || ' ' || sent_lsn::text || ' ' || flush_lsn::text, ',') FROM pg_stat_replication)")
    );

    // The safety backup brings back what the restore replaced.
    restore_ok(
        &s,
        &["restore", "--into", "it-inplace-undo", "--to", &safety],
    );
    assert_eq!(
        psql(
            "it-inplace-undo",
            "SELECT count(*) || '|' || min(id) || '|' || max(id) FROM orders"
        ),
        "150|51|200"
    );

    // Again from the same old backup: the history of timeline 2 is in the store, so the
    // promotion takes timeline 3 and the two restores' WAL cannot collide.
    let daemon_log = daemon.stop();
    assert!(
        daemon_log.contains("not reconciling until it finishes"),
        "the daemon stood aside: {daemon_log}"
    );
    restore_ok(&s, &["restore", "--to", &t_arg, "--force"]);
    assert_eq!(timeline("it-inplace"), "3");
    assert_eq!(s.psql("SELECT count(*) FROM orders"), "150");

    // A database that does not answer cannot be backed up: its directory is kept aside.
    docker_ok(&["stop", "it-inplace-database"]);
    let log = restore_ok(&s, &["restore", "--to", &t_arg, "--force"]);
    assert!(log.contains("does not answer"), "{log}");
    let kept = docker_ok(&[
        "exec",
        "it-inplace-database",
        "sh",
        "-c",
        "ls -d /var/lib/postgresql/data/pgdata.pre-restore-*",
    ]);
    assert_eq!(kept.lines().count(), 1, "{kept}");
    assert_eq!(s.psql("SELECT count(*) FROM orders"), "150");
    assert_eq!(timeline("it-inplace"), "4");

    // Without the new timeline's base backup, `latest` from an older one would replay the
    // history the restore left: refused, naming the way out, and nothing is created.
    let at = log.find("base backup base-").expect(&log);
    let newest = log[at + "base backup ".len()..]
        .split_whitespace()
        .next()
        .unwrap();
    std::fs::remove_dir_all(store.path().join(format!("it-inplace/base/{newest}"))).unwrap();
    let err = restore_refused(&s, "it-inplace-stale", &["--to", "latest"]);
    assert!(
        err.contains("continues on timeline 4") && err.contains("backup now --only db"),
        "{err}"
    );
}
