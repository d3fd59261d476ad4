//! Backups against a real stack: base backup, dump and files into a filesystem store, the
//! catalog rebuilt from the store, verify, and a flipped byte caught and named.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;

/// A store path inside a kept temporary directory.
struct Store(PathBuf);

impl Store {
    fn path(&self) -> &Path {
        &self.0
    }
}

/// Every directory under `root` is 0700 and every object 0600; as root, another user
/// (nobody) cannot read a single object.
fn assert_private(root: &Path) {
    let mut todo = vec![root.to_path_buf()];
    let mut objects = Vec::new();
    while let Some(dir) = todo.pop() {
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", dir.display());
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.path().is_dir() {
                todo.push(e.path());
            } else {
                let mode = e.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", e.path().display());
                objects.push(e.path());
            }
        }
    }
    assert!(!objects.is_empty());
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    for o in &objects {
        let out = std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
            .arg(o)
            .output()
            .unwrap();
        assert!(!out.status.success(), "nobody read {}", o.display());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn backup_now_list_verify_and_corruption_detected() {
    if !engine_available() {
        return;
    }
    // The store sits in a directory everyone may enter: only its own modes keep it private.
    let parent = tempfile::tempdir().unwrap();
    std::fs::set_permissions(parent.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = Store(parent.path().join("store"));
    let spec = format!(
        "{SMALL}  backup:\n    target: file://{}\n    compressionLevel: 3\n",
        store.path().display()
    );
    let s = TestStack::new("it-backup", &spec);
    s.run_ok(&["up"]);
    s.psql("CREATE TABLE places (id serial primary key, geom geometry(Point, 4326)); INSERT INTO places (geom) SELECT ST_SetSRID(ST_MakePoint(g, g), 4326) FROM generate_series(1, 5000) g");
    docker_ok(&[
        "exec",
        "it-backup-cms",
        "sh",
        "-c",
        "echo photo > /directus/uploads/house.jpg",
    ]);

    let out = s.run_ok(&["backup", "now"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("base backup base-")
            && log.contains("dump backup dump-")
            && log.contains("files backup files-"),
        "{log}"
    );
    // The streams ran through FIFOs in the data volume; none is left behind.
    let data = docker_ok(&[
        "exec",
        "it-backup-database",
        "ls",
        "-a",
        "/var/lib/postgresql/data",
    ]);
    assert!(!data.contains(".appstack-stream"), "{data}");

    // Backups are private: directories 0700, objects 0600, unreadable to another user.
    assert_private(store.path());
    // A store made readable by hand is repaired (with a warning) when next opened.
    let dump_dir = std::fs::read_dir(store.path().join("it-backup/dump"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::set_permissions(&dump_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(
        dump_dir.join("manifest.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let listed = s.run_ok(&["backup", "list"]);
    let warning = String::from_utf8_lossy(&listed.stderr);
    assert!(
        warning.contains("was readable by other users: made 1 directory 0700 and 1 file(s) 0600"),
        "{warning}"
    );
    assert_private(store.path());

    let list = s.run_ok(&["backup", "list", "-o", "json"]);
    let all: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    let base = all.iter().find(|m| m["kind"] == "base").unwrap();
    assert!(base["start_lsn"].as_str().unwrap().contains('/'), "{base}");
    assert!(base["stop_lsn"].as_str().unwrap().contains('/'), "{base}");
    assert_eq!(base["timeline"], 1);
    assert!(base["pg_version"].as_str().unwrap().starts_with("15"));
    let names: Vec<&str> = base["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["base.tar.zst", "backup_manifest"]);
    let dump = all.iter().find(|m| m["kind"] == "dump").unwrap();
    let dump_names: Vec<&str> = dump["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    // Objects are named by index; the database's name is data in the manifest.
    let app_object = dump["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["database"] == "app")
        .unwrap_or_else(|| panic!("no object of database app: {dump}"))["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        dump_names.contains(&"globals.sql.zst") && app_object.starts_with("db-"),
        "{dump_names:?}"
    );

    // The stored base backup is a real cluster: PostgreSQL's own manifest and the data files.
    let base_id = base["id"].as_str().unwrap();
    let tar_path = store
        .path()
        .join(format!("it-backup/base/{base_id}/base.tar.zst"));
    let raw = zstd::decode_all(std::fs::File::open(&tar_path).unwrap()).unwrap();
    let mut archive = tar::Archive::new(raw.as_slice());
    let members: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect();
    assert!(
        members.iter().any(|m| m == "PG_VERSION") && members.iter().any(|m| m == "backup_label"),
        "{members:?}"
    );

    // The dump restores: pg_restore lists the places table.
    let dump_id = dump["id"].as_str().unwrap();
    let dump_bytes = zstd::decode_all(
        std::fs::File::open(
            store
                .path()
                .join(format!("it-backup/dump/{dump_id}/{app_object}")),
        )
        .unwrap(),
    )
    .unwrap();
    let dump_file = s.dir.path().join("app.dump");
    std::fs::write(&dump_file, dump_bytes).unwrap();
    docker_ok(&[
        "cp",
        dump_file.to_str().unwrap(),
        "it-backup-database:/tmp/app.dump",
    ]);
    let toc = docker_ok(&[
        "exec",
        "it-backup-database",
        "pg_restore",
        "-l",
        "/tmp/app.dump",
    ]);
    assert!(toc.contains("TABLE public places"), "{toc}");

    let ok = s.run_ok(&["backup", "verify"]);
    let text = String::from_utf8_lossy(&ok.stdout);
    assert!(text.contains("all checksums match"), "{text}");
    // PostgreSQL's own check of the base backup (backup_manifest + WAL), from the db image.
    assert!(
        text.contains(&format!("{base_id}: backup successfully verified")),
        "{text}"
    );

    // Flip one byte in the middle of the base backup: verify fails and names the object.
    let mut bytes = std::fs::read(&tar_path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&tar_path, bytes).unwrap();
    let bad = s.run(&["backup", "verify"]);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("it-backup/base/{base_id}/base.tar.zst"))
            && err.contains("does not match"),
        "{err}"
    );

    // Status reports the recoverability from the store.
    let status = s.run_ok(&["status", "-o", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        doc["status"]["recoverability"]["lastBaseBackup"].is_string(),
        "{doc}"
    );
    assert!(
        doc["status"]["recoverability"]["lastDump"].is_string(),
        "{doc}"
    );
}
