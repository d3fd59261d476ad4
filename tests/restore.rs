//! Restore of a base backup into an isolated copy; a corrupt backup is refused.

mod common;

use common::*;

#[test]
fn restore_into_a_new_stack_and_refuse_corruption() {
    if !engine_available() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let spec = format!(
        "{SMALL}  backup:\n    target: file://{}\n",
        store.path().display()
    );
    let s = TestStack::new("it-restore", &spec);
    let copy = TestStack::new("it-restore-copy", SMALL);
    s.run_ok(&["up"]);
    s.psql("CREATE TABLE orders (id int primary key, at timestamptz default now()); INSERT INTO orders (id) SELECT generate_series(1, 1000)");
    s.run_ok(&["backup", "now", "--only", "db"]);
    s.psql("INSERT INTO orders (id) VALUES (1001)");

    // The copy shares the source's state dir (its secrets are copied from there).
    let out = s
        .cmd(&["restore", "--into", "it-restore-copy"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("stack it-restore-copy restored from base-"),
        "{log}"
    );
    let count = psql("it-restore-copy", "SELECT count(*), max(id) FROM orders");
    assert_eq!(
        count, "1000|1000",
        "the copy holds exactly what was committed before the backup"
    );
    let health = docker_ok(&["exec", "it-restore-copy-cms", "python3", "-c", "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:8055/server/health').read().decode())"]);
    assert!(health.contains("\"database\": \"ok\""), "{health}");
    // The source is untouched.
    assert_eq!(s.psql("SELECT count(*) FROM orders"), "1001");
    // Restoring into an existing stack is refused.
    let again = s.run(&["restore", "--into", "it-restore-copy"]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    drop(copy);

    // Point in time needs WAL shipping: a clear error, exit 2.
    let pitr = s.run(&[
        "restore",
        "--into",
        "it-restore-pitr",
        "--to",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(pitr.status.code(), Some(2));

    // A flipped byte: restore refuses, naming the object, and creates nothing.
    let base = std::fs::read_dir(store.path().join("it-restore/base"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let object = base.join("base.tar.zst");
    let mut bytes = std::fs::read(&object).unwrap();
    let at = bytes.len() / 3;
    bytes[at] ^= 0x01;
    std::fs::write(&object, bytes).unwrap();
    let refused = TestStack::new("it-restore-bad", SMALL);
    let out = s.run(&["restore", "--into", "it-restore-bad"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing to restore a corrupt backup") && err.contains("base.tar.zst"),
        "{err}"
    );
    assert!(refused.containers().is_empty());
}
