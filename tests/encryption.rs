//! Client-side encryption: an encrypted base backup verifies and restores with its key;
//! the wrong key is refused with both key ids named, before anything is created.

mod common;

use common::*;

#[test]
fn encrypted_backup_restores_only_with_its_key() {
    if !engine_available() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join("backup.key");
    let other = keys.path().join("other.key");
    for k in [&key, &other] {
        keygen(k);
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let spec = |k: &std::path::Path| {
        format!(
            "{SMALL}  backup:\n    target: file://{}\n    encryption: {{keyFile: \"{}\"}}\n",
            store.path().display(),
            k.display()
        )
    };
    let s = TestStack::new("it-enc", &spec(&key));
    let copy = TestStack::new("it-enc-copy", SMALL);
    s.run_ok(&["up"]);
    s.psql("CREATE TABLE secrets_of_the_trade (v text); INSERT INTO secrets_of_the_trade VALUES ('plaintext-marker-4711')");
    s.run_ok(&["backup", "now", "--only", "db"]);

    let list = s.run_ok(&["backup", "list", "-o", "json"]);
    let all: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let key_id = all[0]["encryption_key_id"].as_str().unwrap().to_string();
    assert_eq!(key_id.len(), 16);
    // What is stored is not readable as zstd (it is sealed after compression).
    let id = all[0]["id"].as_str().unwrap();
    let stored =
        std::fs::read(store.path().join(format!("it-enc/base/{id}/base.tar.zst"))).unwrap();
    assert!(zstd::decode_all(stored.as_slice()).is_err());

    let verify = s.run_ok(&["backup", "verify"]);
    assert!(String::from_utf8_lossy(&verify.stdout).contains("backup successfully verified"));

    // The wrong key: refused, both ids named, nothing created.
    s.write(&spec(&other));
    let out = s.run(&["restore", "--into", "it-enc-copy"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("wrong key") && err.contains(&key_id), "{err}");
    assert!(copy.containers().is_empty());

    // The right key restores.
    s.write(&spec(&key));
    s.run_ok(&["restore", "--into", "it-enc-copy"]);
    let v = psql("it-enc-copy", "SELECT v FROM secrets_of_the_trade");
    assert_eq!(v, "plaintext-marker-4711");
}
