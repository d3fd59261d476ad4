//! Restore of a base backup into an isolated copy; a corrupt backup is refused.

mod common;

use common::*;

/// A stack backing up to a fresh directory, and the (not yet existing) copy `<name>-copy`
/// that a test restores into; both are cleaned up on drop.
fn source_and_copy(name: &str) -> (tempfile::TempDir, TestStack, TestStack) {
    let store = tempfile::tempdir().unwrap();
    let spec = format!(
        "{SMALL}  backup:\n    target: file://{}\n",
        store.path().display()
    );
    let s = TestStack::new(name, &spec);
    let copy = TestStack::new(&format!("{name}-copy"), SMALL);
    (store, s, copy)
}

#[test]
fn restore_into_a_new_stack_and_refuse_corruption() {
    if !engine_available() {
        return;
    }
    let (store, s, copy) = source_and_copy("it-restore");
    s.run_ok(&["up"]);
    s.psql("CREATE TABLE orders (id int primary key, at timestamptz default now()); INSERT INTO orders (id) SELECT generate_series(1, 1000)");
    let upload: Vec<u8> = (0..250_000u32).map(|i| (i * 31 % 253) as u8).collect();
    put_upload("it-restore", "report.pdf", &upload);
    s.run_ok(&["backup", "now", "--only", "db"]);
    s.run_ok(&["backup", "now", "--only", "files"]);
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
    // As root on the engine's host (CI), the fast path: unpacked into the volume by us.
    if nix::unistd::geteuid().is_root() {
        assert!(
            log.contains("restored into the volume's directory"),
            "{log}"
        );
    }
    let count = psql("it-restore-copy", "SELECT count(*), max(id) FROM orders");
    assert_eq!(
        count, "1000|1000",
        "the copy holds exactly what was committed before the backup"
    );
    // The uploads came back with the database, byte for byte.
    assert_eq!(
        upload_sha256("it-restore-copy", "report.pdf"),
        upload_sha256("it-restore", "report.pdf")
    );
    assert!(
        log.contains("uploads restored from files backup files-"),
        "{log}"
    );
    // Directus on the copy runs on the restored database, as the admin restored with it.
    let health = directus::health_inside("it-restore-copy-cms");
    assert!(directus::database_and_cache_ok(&health), "{health}");
    // The tar came in through a FIFO in the volume, which is gone again.
    let top = docker_ok(&[
        "exec",
        "it-restore-copy-database",
        "ls",
        "-a",
        "/var/lib/postgresql/data",
    ]);
    assert!(!top.contains(".appstack-stream"), "{top}");
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

    // Through the engine's API only (a remote engine, or appstack not root on its host):
    // the backup streams over the attach stream, the restore fills via a helper container.
    let via_engine = TestStack::new("it-restore-engine", SMALL);
    let engine_io = |args: &[&str]| {
        let out = s
            .cmd(args)
            .env("APPSTACK_VOLUME_IO", "engine")
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "{args:?}: {log}");
        log
    };
    engine_io(&["backup", "now", "--only", "db"]);
    let log = engine_io(&["restore", "--into", "it-restore-engine"]);
    assert!(log.contains("restored through a helper container"), "{log}");
    assert_eq!(
        psql("it-restore-engine", "SELECT count(*), max(id) FROM orders"),
        "1001|1001"
    );
    drop(via_engine);

    // Point in time needs WAL shipping: a clear error, exit 2.
    let pitr = s.run(&[
        "restore",
        "--into",
        "it-restore-pitr",
        "--to",
        "2026-01-01T00:00:00Z",
    ]);
    assert_eq!(pitr.status.code(), Some(2));

    // A flipped byte (in every base backup, whichever restore picks): restore refuses,
    // naming the object, and creates nothing.
    for base in std::fs::read_dir(store.path().join("it-restore/base")).unwrap() {
        let object = base.unwrap().path().join("base.tar.zst");
        let mut bytes = std::fs::read(&object).unwrap();
        let at = bytes.len() / 3;
        bytes[at] ^= 0x01;
        std::fs::write(&object, bytes).unwrap();
    }
    let err = restore_refused(&s, "it-restore-bad", &[]);
    assert!(
        err.contains("refusing to restore a corrupt backup") && err.contains("base.tar.zst"),
        "{err}"
    );
}

/// Database names a dump must carry as data only.
const HOSTILE: [&str; 3] = ["a\"$(touch /tmp/x)\"", "two\nlines", "dbname=analytics"];

/// A libpq connection string naming database `name` only.
fn conninfo(name: &str) -> String {
    format!(
        "dbname='{}'",
        name.replace('\\', "\\\\").replace('\'', "\\'")
    )
}

/// `restore --from-dump`: a logical dump (roles, every database) into a fresh copy with
/// `pg_restore -j`; PostGIS data, an index, a role and a second database come back.
#[test]
fn restore_a_logical_dump_into_a_new_stack() {
    if !engine_available() {
        return;
    }
    let (_store, s, copy) = source_and_copy("it-dump");
    s.run_ok(&["up"]);
    s.psql("CREATE TABLE places (id int primary key, geom geometry(Point, 4326)); INSERT INTO places SELECT i, ST_SetSRID(ST_MakePoint(i % 180, i % 90), 4326) FROM generate_series(1, 5000) i; CREATE INDEX places_geom ON places USING gist (geom); CREATE ROLE reporter LOGIN; GRANT SELECT ON places TO reporter");
    s.psql("CREATE DATABASE analytics");
    docker_ok(&[
        "exec",
        "it-dump-database",
        "psql",
        "-U",
        "app",
        "-d",
        "analytics",
        "-c",
        "CREATE TABLE visits AS SELECT generate_series(1, 300) AS n",
    ]);
    // Hostile names: shell text, a newline, a connection string. Each is dumped and
    // restored by name, and nothing of it is executed.
    for name in HOSTILE {
        s.psql(&format!(
            "CREATE DATABASE \"{}\"",
            name.replace('"', "\"\"")
        ));
        docker_ok(&[
            "exec",
            "it-dump-database",
            "psql",
            "-U",
            "app",
            "-d",
            &conninfo(name),
            "-c",
            "CREATE TABLE marker AS SELECT 7 AS n",
        ]);
    }
    s.run_ok(&["backup", "now", "--only", "dump"]);
    let list = s.run_ok(&["backup", "list", "-o", "json"]);
    let all: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let id = all
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["kind"] == "dump")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    s.psql("INSERT INTO places VALUES (5001, NULL)");

    let out = s
        .cmd(&["restore", "--into", "it-dump-copy", "--from-dump", &id])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("restored with pg_restore -j"), "{log}");
    assert!(log.contains("PostGIS"), "{log}");
    assert_eq!(
        psql("it-dump-copy", "SELECT count(*), max(id) FROM places"),
        "5000|5000"
    );
    assert_eq!(
        psql(
            "it-dump-copy",
            "SELECT ST_AsText(geom) FROM places WHERE id = 181"
        ),
        "POINT(1 1)"
    );
    assert_eq!(
        psql(
            "it-dump-copy",
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'places_geom'"
        ),
        "1"
    );
    assert_eq!(
        psql(
            "it-dump-copy",
            "SELECT has_table_privilege('reporter', 'places', 'SELECT')"
        ),
        "t"
    );
    let visits = docker_ok(&[
        "exec",
        "it-dump-copy-database",
        "psql",
        "-U",
        "app",
        "-d",
        "analytics",
        "-tAc",
        "SELECT count(*) FROM visits",
    ]);
    assert_eq!(visits, "300");
    for name in HOSTILE {
        let n = docker_ok(&[
            "exec",
            "it-dump-copy-database",
            "psql",
            "-U",
            "app",
            "-d",
            &conninfo(name),
            "-tAc",
            "SELECT n FROM marker",
        ]);
        assert_eq!(n, "7", "{name:?}");
    }
    for container in ["it-dump-database", "it-dump-copy-database"] {
        let touched = docker(&["exec", container, "test", "-e", "/tmp/x"]);
        assert!(
            !touched.status.success(),
            "{container}: a name was executed"
        );
    }
    // The staging files are gone from the data volume.
    let staged = docker(&[
        "exec",
        "it-dump-copy-database",
        "test",
        "-e",
        "/var/lib/postgresql/data/appstack_restore",
    ]);
    assert!(!staged.status.success());
    drop(copy);

    // An unknown dump id is bad input, and nothing is created.
    let out = s.run(&[
        "restore",
        "--into",
        "it-dump-none",
        "--from-dump",
        "dump-nope",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(docker_ok(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "label=appstack.io/stack=it-dump-none"
    ])
    .is_empty());
}
