//! The S3 endpoint goes away for two minutes under write load: WAL is spooled locally,
//! the outage shows as a failing WalShipping condition, and once the endpoint is back the
//! backlog drains and a restore to "latest" holds every committed row.

mod common;

use std::time::{Duration, Instant};

use common::moto::{s3_backup, Moto, Proxy};
use common::*;

#[test]
fn no_wal_is_lost_while_the_store_is_unreachable() {
    if !engine_available() {
        return;
    }
    let outage = Duration::from_secs(
        std::env::var("APPSTACK_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(120),
    );
    let moto = Moto::start();
    moto.create_bucket("appstack-outage");
    let mut proxy = Proxy::start(moto.port);
    let (_creds, backup) = s3_backup(
        "appstack-outage",
        proxy.port,
        "    wal: {shipInterval: 1s, spoolAlertThreshold: 16Mi}\n",
    );
    let s = TestStack::new("it-outage", &format!("{SMALL}{backup}"));
    let _copy = TestStack::new("it-outage-copy", SMALL);
    s.run_ok(&["up"]);
    let daemon = Daemon::start(&s, &["run"]);
    s.psql("CREATE TABLE marks (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp(), pad text)");
    s.run_ok(&["backup", "now", "--only", "db"]);

    // ~10 commits/s, each with ~64 KiB of poorly compressible text: several WAL segments
    // complete during the outage.
    let iterations = (outage.as_secs() + 30) * 10;
    let mut writer = spawn_psql(
        "it-outage",
        &format!("DO $$ BEGIN FOR i IN 1..{iterations} LOOP INSERT INTO marks (pad) SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 2048); COMMIT; PERFORM pg_sleep(0.1); END LOOP; END $$"),
    );
    std::thread::sleep(Duration::from_secs(5));

    proxy.stop();
    let down_at = Instant::now();
    wait_for(
        "the WalShipping condition to turn false",
        Duration::from_secs(30),
        || {
            daemon
                .get("/metrics")
                .is_some_and(|m| m.contains("appstack_wal_shipping_ok{stack=\"it-outage\"} 0"))
        },
    );
    let status = s.run_ok(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("WAL shipping:       FAILING since"), "{text}");
    std::thread::sleep(outage.saturating_sub(down_at.elapsed()));
    let during = wal_status(&s, "it-outage");
    let spooled = during["spoolBytes"].as_u64().unwrap_or(0);
    assert!(
        spooled > 16 * 1024 * 1024,
        "complete segments wait in the spool: {during}"
    );
    assert_eq!(
        during["spoolAlert"],
        serde_json::Value::Bool(true),
        "{during}"
    );
    let metrics = daemon.get("/metrics").unwrap_or_default();
    assert!(
        metrics.contains("appstack_wal_spool_alert{stack=\"it-outage\"} 1"),
        "{metrics}"
    );

    proxy.resume();
    let back_at = Instant::now();
    assert!(writer.wait().unwrap().success());
    let writes_done = chrono::Utc::now();
    wait_for(
        "the backlog to drain and the last write to be shipped",
        Duration::from_secs(120),
        || wal_synced_after(&s, "it-outage", writes_done),
    );
    eprintln!(
        "spooled {spooled} bytes; drained and caught up {:?} after the endpoint came back",
        back_at.elapsed()
    );
    let committed = s.psql("SELECT count(*) || '|' || max(id) FROM marks");

    let out = s
        .cmd(&["restore", "--into", "it-outage-copy", "--to", "latest"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert_eq!(
        psql(
            "it-outage-copy",
            "SELECT count(*) || '|' || max(id) FROM marks"
        ),
        committed,
        "every committed row survived the outage"
    );
    let verify = s.run_ok(&["backup", "verify", "--checksums-only"]);
    assert!(String::from_utf8_lossy(&verify.stdout).contains("WAL continuous"));
    daemon.stop();
}
