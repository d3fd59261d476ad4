//! Continuous WAL shipping and point-in-time restore, end to end: rows are written every
//! 50 ms while `appstack run` ships WAL, a base backup is taken in the middle, and a
//! restore `--to` a time T between two commits holds exactly the rows committed up to T.
//! Retention then prunes a base backup outside the window (and the WAL before the anchor)
//! and a point early in the window still restores exactly; a flipped byte in a WAL object
//! makes verify name it and restore refuse it.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn restore_to_a_point_in_time_holds_exactly_the_rows_committed_before_it() {
    if !engine_available() {
        return;
    }
    let (store, s) = wal_stack("it-pitr");
    let _copy = TestStack::new("it-pitr-copy", SMALL);
    s.run_ok(&["up"]);
    let daemon = Daemon::start(&s, &["run"]);
    s.psql("CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())");
    // Two older base backups: A will fall outside the retention window, B anchors it.
    s.run_ok(&["backup", "now", "--only", "db"]);
    s.run_ok(&["backup", "now", "--only", "db"]);
    let b_done = chrono::Utc::now();
    std::thread::sleep(Duration::from_secs(2));

    // A steady stream of commits, one every 50 ms, for ~12 s.
    let mut writer = spawn_psql(
        "it-pitr",
        "DO $$ BEGIN FOR i IN 1..240 LOOP INSERT INTO ticks DEFAULT VALUES; COMMIT; PERFORM pg_sleep(0.05); END LOOP; END $$",
    );
    std::thread::sleep(Duration::from_secs(1));
    s.run_ok(&["backup", "now", "--only", "db"]);
    let backup_done = chrono::Utc::now();
    assert!(writer.wait().unwrap().success());
    let writes_done = chrono::Utc::now();

    // T: halfway between two commits well after the base backup finished.
    let rows = s.psql(&format!(
        "SELECT id || '|' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM ticks WHERE at > '{}'::timestamptz + interval '2 seconds' ORDER BY id LIMIT 2",
        backup_done.to_rfc3339()
    ));
    let picked: Vec<(i64, chrono::DateTime<chrono::Utc>)> = rows
        .lines()
        .map(|l| {
            let (id, at) = l.split_once('|').unwrap();
            (id.parse().unwrap(), at.parse().unwrap())
        })
        .collect();
    assert_eq!(picked.len(), 2, "rows after the backup: {rows}");
    let (k, at_k) = picked[0];
    let (_, at_next) = picked[1];
    let t = at_k + (at_next - at_k) / 2;
    let total: i64 = s.psql("SELECT count(*) FROM ticks").parse().unwrap();
    assert!(
        total > k + 10,
        "writes continued after T ({total} rows, T after row {k})"
    );

    // Everything written is in the store within a few ship intervals.
    let took = wait_for(
        "WAL shipped past the last write",
        Duration::from_secs(30),
        || wal_synced_after(&s, "it-pitr", writes_done),
    );
    eprintln!("WAL in the store {took:?} after the last write");
    let status = s.run_ok(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        text.contains("last WAL shipped:") && text.contains("WAL shipping:       ok"),
        "{text}"
    );

    let t_arg = t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let out = s
        .cmd(&["restore", "--into", "it-pitr-copy", "--to", &t_arg])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}: {log}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(log.contains("PostGIS"), "{log}");
    let got = psql(
        "it-pitr-copy",
        "SELECT count(*) || '|' || max(id) FROM ticks",
    );
    assert_eq!(
        got,
        format!("{k}|{k}"),
        "rows 1..={k} were committed at or before T = {t_arg}, none after"
    );
    // The copy is a promoted primary without the restore's recovery settings.
    assert_eq!(psql("it-pitr-copy", "SELECT pg_is_in_recovery()"), "f");
    assert_eq!(psql("it-pitr-copy", "SHOW restore_command"), "");
    psql("it-pitr-copy", "INSERT INTO ticks DEFAULT VALUES");

    // Retention with a window that starts between B and the first row: A goes with the WAL
    // before B, and every point inside the window is still restorable.
    let window = (chrono::Utc::now() - (b_done + chrono::Duration::seconds(1)))
        .num_seconds()
        .max(1);
    let pruned = s.run_ok(&[
        "backup",
        "now",
        "--prune-only",
        "--keep-last",
        "1",
        "--max-age",
        &format!("{window}s"),
    ]);
    let log = String::from_utf8_lossy(&pruned.stderr);
    assert!(log.contains("deleted 1 backup(s)"), "{log}");
    assert!(
        !log.contains(", 0 WAL file(s)"),
        "WAL before B is pruned: {log}"
    );
    let early = s.psql("SELECT id || '|' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM ticks ORDER BY id LIMIT 1 OFFSET 4");
    let (early_id, early_at) = early.split_once('|').unwrap();
    let early_t: chrono::DateTime<chrono::Utc> = early_at.parse().unwrap();
    let t2 = (early_t + chrono::Duration::milliseconds(20))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let _copy2 = TestStack::new("it-pitr-early", SMALL);
    let out = s
        .cmd(&["restore", "--into", "it-pitr-early", "--to", &t2])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        psql("it-pitr-early", "SELECT max(id) FROM ticks"),
        early_id,
        "restored from the anchor base backup B plus its WAL"
    );

    // verify: every WAL object checks out and the archive is continuous.
    let verify = s.run_ok(&["backup", "verify", "--checksums-only"]);
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(text.contains("WAL continuous"), "{text}");
    let metrics = daemon.get("/metrics").unwrap_or_default();
    daemon.stop();

    // A flipped byte in a WAL object: verify names it, restore refuses and leaves nothing.
    let wal_dir = store.path().join("it-pitr/wal");
    let mut segments: Vec<_> = std::fs::read_dir(&wal_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().contains(".partial"))
        .collect();
    segments.sort();
    let victim = segments.last().unwrap().clone();
    let mut bytes = std::fs::read(&victim).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&victim, bytes).unwrap();
    let name = victim.file_name().unwrap().to_string_lossy().to_string();
    let bad = s.run(&["backup", "verify", "--checksums-only"]);
    let text = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(bad.status.code(), Some(1), "{text}");
    assert!(text.contains(&name), "verify names the object: {text}");
    let _bad_copy = TestStack::new("it-pitr-bad", SMALL);
    let out = s.run(&["restore", "--into", "it-pitr-bad", "--to", &t_arg]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("refusing to replay WAL") && text.contains(&name),
        "{text}"
    );
    assert!(
        docker_ok(&["volume", "ls", "-q", "--filter", "name=it-pitr-bad"])
            .trim()
            .is_empty(),
        "nothing half-made stays behind"
    );
    assert!(
        metrics.contains("appstack_wal_shipping_ok{stack=\"it-pitr\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("appstack_wal_rpo_seconds{stack=\"it-pitr\"}"),
        "{metrics}"
    );
}
