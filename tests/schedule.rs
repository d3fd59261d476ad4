//! Scheduled backups in `appstack run`: a per-minute base backup lands in the store and its
//! last success shows in /metrics.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn run_takes_scheduled_base_backups() {
    if !engine_available() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let spec = format!(
        "{SMALL}  backup:\n    target: file://{}\n    baseBackup: {{schedule: \"* * * * *\"}}\n    dump: {{enabled: false, schedule: \"0 3 * * *\"}}\n    files: {{enabled: false, schedule: \"0 3 * * *\"}}\n",
        store.path().display()
    );
    let s = TestStack::new("it-sched", &spec);
    let d = Daemon::start(&s, &["--log-level", "info", "run"]);
    // The next minute boundary plus the backup itself.
    wait_for("a scheduled base backup", Duration::from_secs(150), || {
        let list = s.run(&["backup", "list", "-o", "json"]);
        serde_json::from_slice::<serde_json::Value>(&list.stdout).is_ok_and(|v| {
            v.as_array()
                .is_some_and(|a| a.iter().any(|m| m["kind"] == "base"))
        })
    });
    wait_for("last success in /metrics", Duration::from_secs(10), || {
        d.get("/metrics").unwrap_or_default().contains(
            "appstack_backup_last_success_timestamp_seconds{stack=\"it-sched\",kind=\"base\"}",
        )
    });
    let metrics = d.get("/metrics").unwrap_or_default();
    assert!(
        metrics.contains("appstack_backup_missing{stack=\"it-sched\",kind=\"base\"} 0"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("kind=\"dump\""),
        "disabled schedules must not run: {metrics}"
    );
    drop(d);
}
