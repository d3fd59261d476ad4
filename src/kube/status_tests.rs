//! Judging protection facts into conditions, without a cluster.
use crate::api::status::RecoverabilityStatus;
use crate::protect::verdicts::Protection;
use chrono::{DateTime, Utc};
use std::time::Duration;

use super::*;

struct At(DateTime<Utc>);
impl Clock for At {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn time(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn condition<'a>(st: &'a AppStackStatus, type_: &str) -> &'a crate::api::status::Condition {
    st.conditions.iter().find(|c| c.type_ == type_).unwrap()
}

/// (status, reason) of one condition.
fn state<'a>(st: &'a AppStackStatus, type_: &str) -> (&'a str, &'a str) {
    let c = condition(st, type_);
    (c.status.as_str(), c.reason.as_str())
}

fn protection() -> Protection {
    Protection {
        // Every hour, so "missing" means no success for 90 minutes.
        base_schedule: Some("0 * * * *".into()),
        ship_interval: Some(Duration::from_secs(2)),
        drill_schedule: Some("0 4 * * 0".into()),
        created: Some(time("2026-11-23T00:00:00Z")),
    }
}

fn with_facts(facts: RecoverabilityStatus, now: &str) -> AppStackStatus {
    let previous = AppStackStatus {
        recoverability: Some(facts),
        ..Default::default()
    };
    applied(
        Some(&previous),
        Some(1),
        &BTreeMap::new(),
        &protection(),
        &At(time(now)),
    )
}

#[test]
fn reported_facts_become_healthy_conditions() {
    let st = with_facts(
        RecoverabilityStatus {
            last_base_backup: Some("2026-11-23T10:00:05Z".into()),
            wal_synced_at: Some("2026-11-23T10:30:00Z".into()),
            last_wal_shipped: Some("2026-11-23T10:29:58Z".into()),
            ..Default::default()
        },
        "2026-11-23T10:30:20Z",
    );
    assert_eq!(state(&st, "BackupHealthy"), ("True", "Recent"));
    let w = condition(&st, "WalShipping");
    assert_eq!(state(&st, "WalShipping"), ("True", "Shipping"));
    assert!(w.message.contains("10:29:58"), "{}", w.message);
}

#[test]
fn a_missing_backup_a_failing_store_and_a_silent_shipper_are_false() {
    let st = with_facts(
        RecoverabilityStatus {
            last_base_backup: Some("2026-11-23T08:00:05Z".into()),
            wal_synced_at: Some("2026-11-23T10:29:00Z".into()),
            wal_error: Some("failing since 2026-11-23T10:29:30Z: connection refused".into()),
            ..Default::default()
        },
        "2026-11-23T10:30:00Z",
    );
    assert_eq!(state(&st, "BackupHealthy"), ("False", "MissingBackup"));
    let w = condition(&st, "WalShipping");
    assert_eq!(state(&st, "WalShipping"), ("False", "StoreUnreachable"));
    assert!(w.message.contains("connection refused"));

    let st = with_facts(
        RecoverabilityStatus {
            wal_synced_at: Some("2026-11-23T10:00:00Z".into()),
            ..Default::default()
        },
        "2026-11-23T10:05:00Z",
    );
    assert_eq!(state(&st, "WalShipping"), ("False", "ShipperSilent"));
    // Created at midnight, no backup by 10:05 on an hourly schedule: missing, not "not yet".
    assert_eq!(state(&st, "BackupHealthy"), ("False", "MissingBackup"));
}

#[test]
fn the_last_drill_decides_last_drill_passed() {
    let drill = |passed: bool, at: &str| crate::api::status::DrillResult {
        id: "drill-x".into(),
        finished_at: at.into(),
        passed,
        rto: Some("41.0s".into()),
        rpo: Some("2.5s".into()),
        message: if passed {
            "drill passed"
        } else {
            "RPO 20m exceeds the objective of 15m"
        }
        .into(),
    };
    let facts = |d| RecoverabilityStatus {
        last_drill: Some(d),
        ..Default::default()
    };
    // Weekly schedule (Sundays 04:00): a drill two days ago is recent.
    let st = with_facts(
        facts(drill(true, "2026-11-29T04:01:00Z")),
        "2026-12-01T10:00:00Z",
    );
    assert_eq!(state(&st, "LastDrillPassed"), ("True", "Passed"));
    let st = with_facts(
        facts(drill(false, "2026-11-29T04:01:00Z")),
        "2026-12-01T10:00:00Z",
    );
    assert_eq!(state(&st, "LastDrillPassed"), ("False", "DrillFailed"));
    assert!(condition(&st, "LastDrillPassed")
        .message
        .contains("exceeds"));
    // A pass more than 1.5 weeks old no longer proves anything.
    let st = with_facts(
        facts(drill(true, "2026-11-29T04:01:00Z")),
        "2026-12-10T12:00:00Z",
    );
    assert_eq!(state(&st, "LastDrillPassed"), ("False", "MissingDrill"));
    let st = with_facts(RecoverabilityStatus::default(), "2026-11-24T00:00:00Z");
    assert_eq!(state(&st, "LastDrillPassed"), ("Unknown", "NoDrillYet"));
}

#[test]
fn nothing_reported_yet_is_unknown() {
    let st = with_facts(RecoverabilityStatus::default(), "2026-11-23T00:20:00Z");
    assert_eq!(state(&st, "BackupHealthy"), ("Unknown", "NoBackupYet"));
    assert_eq!(state(&st, "WalShipping"), ("Unknown", "NotReported"));
}
