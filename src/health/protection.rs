//! Recoverability: the live RPO (now minus the newest WAL the store holds) against the
//! objective, the newest base backup and dump within 1.5 schedule periods, the last drill
//! passed and recent — judged like the `status` conditions (`protect::verdicts`).

use super::facts::Facts;
use super::{Check, Group, Level};
use crate::protect::verdicts::{backup_health, last_drill, Protection};

const G: Group = Group::Recoverability;

pub fn checks(f: &Facts) -> Vec<Check> {
    let Some(backup) = &f.stack.backup else {
        return Vec::new();
    };
    let now = chrono::Utc::now();
    let Some(facts) = &f.recoverability else {
        return vec![Check::fail(
            "recoverability.store",
            G,
            Level::Error,
            "the backup store cannot be read",
            "check spec.backup.target and its credentials",
        )];
    };
    let protection = Protection::of(&f.stack, &f.plan, None);
    let mut out = Vec::new();
    if crate::plan::wal::streams(&f.stack) {
        out.push(rpo(f, now));
    }
    let (ok, reason, message) = backup_health(facts, &protection, now);
    out.push(Check::judge(
        "recoverability.base-backup",
        G,
        Level::Error,
        ok != Some(false),
        format!("{reason}: {message}"),
        "take one now (`appstack backup now -f <stack> --only db`) and keep `appstack run` running for the schedule",
    ));
    if let Some(schedule) = &backup.dump_schedule {
        let dump = crate::protect::verdicts::Protection {
            base_schedule: Some(schedule.clone()),
            ..protection.clone()
        };
        let as_base = crate::api::status::RecoverabilityStatus {
            last_base_backup: facts.last_dump.clone(),
            ..Default::default()
        };
        let (ok, _, message) = backup_health(&as_base, &dump, now);
        out.push(Check::judge(
            "recoverability.dump",
            G,
            Level::Warning,
            ok != Some(false),
            message.replace("base backup", "dump"),
            "take one now (`appstack backup now -f <stack> --only dump`)",
        ));
    }
    // A failed drill fails the check with or without a drill schedule.
    let (ok, reason, message) = match &facts.last_drill {
        Some(d) if !d.passed => (Some(false), "DrillFailed", d.message.clone()),
        _ => last_drill(facts, &protection, now),
    };
    out.push(Check::judge(
        "recoverability.drill",
        G,
        Level::Error,
        ok != Some(false),
        format!("{reason}: {message}"),
        "run `appstack drill -f <stack>` and fix what it reports",
    ));
    out
}

/// Now minus the newest WAL the store holds, against the RPO objective.
fn rpo(f: &Facts, now: chrono::DateTime<chrono::Utc>) -> Check {
    let objective = f.stack.recovery.rpo;
    let newest = f.wal.as_ref().and_then(|w| w.synced_at.or(w.newest_wal_at));
    let Some(newest) = newest else {
        return Check::fail(
            "recoverability.rpo",
            G,
            Level::Error,
            "no WAL has reached the store yet",
            "start `appstack run -f <stack>`: it ships WAL",
        );
    };
    let age = (now - newest).to_std().unwrap_or_default();
    let silent = f
        .daemon_silence
        .as_deref()
        .map(|s| format!("; {s}"))
        .unwrap_or_default();
    Check::judge(
        "recoverability.rpo",
        G,
        Level::Error,
        age <= objective && f.daemon_silence.is_none(),
        format!(
            "the store holds every WAL byte up to {}s ago (objective {}s){silent}",
            age.as_secs(),
            objective.as_secs()
        ),
        "keep `appstack run` running and the store reachable (see `appstack status`)",
    )
}
