//! Backups to an S3 API (moto_server on 127.0.0.1): multipart upload of a base backup,
//! catalog from the bucket, verify, and a restore streamed back from S3.

mod common;

use common::moto::{s3_backup, Moto};
use common::*;

#[test]
fn base_backup_to_s3_multipart_verify_and_restore() {
    if !engine_available() {
        return;
    }
    let moto = Moto::start();
    moto.create_bucket("appstack-it");
    let (_creds, backup) = s3_backup("appstack-it", moto.port, "");
    let s = TestStack::new("it-s3", &format!("{SMALL}{backup}"));
    let copy = TestStack::new("it-s3-copy", SMALL);
    s.run_ok(&["up"]);
    // Poorly compressible rows, so the compressed base backup spans several 8 MiB parts.
    s.psql("CREATE TABLE blobs AS SELECT g AS id, md5(random()::text) || md5(random()::text) || md5(random()::text) AS v FROM generate_series(1, 400000) g");
    let out = s.run_ok(&["backup", "now", "--only", "db"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("into s3://appstack-it/prod at http://127.0.0.1:"),
        "{log}"
    );

    let list = s.run_ok(&["backup", "list", "-o", "json"]);
    let all: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let base = &all.as_array().unwrap()[0];
    let stored = base["objects"][0]["size"].as_u64().unwrap();
    assert!(
        stored > 2 * 8 * 1024 * 1024,
        "want a multipart upload, got {stored} bytes"
    );

    let verify = s.run_ok(&["backup", "verify"]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(
        text.contains("all checksums match") && text.contains("backup successfully verified"),
        "{text}"
    );

    let restored = s.run_ok(&["restore", "--into", "it-s3-copy"]);
    assert!(String::from_utf8_lossy(&restored.stderr).contains("restored from base-"));
    let count = psql("it-s3-copy", "SELECT count(*) FROM blobs");
    assert_eq!(count, "400000");
    drop(copy);
}
