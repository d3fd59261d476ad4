//! Docker mode's conditions, judged by the same functions as the operator's AppStack status
//! (`protect::verdicts`) from the same facts: the store's catalog and drill reports, the
//! shipper's state, and the daemon's heartbeat — a dead daemon is `DaemonSilent`, never
//! "shipping".

use std::path::Path;

use crate::api::conditions::{set_condition, Clock, Observation};
use crate::api::status::{AppStackStatus, Phase};
use crate::api::validated::ValidatedStack;
use crate::plan::Plan;
use crate::protect::shipper::ShipStatus;
use crate::protect::verdicts::{backup_health, last_drill, wal_shipping, Protection, Verdict};

/// Adds Ready, BackupHealthy, WalShipping, LastDrillPassed and Daemon to `status`.
pub fn judge(
    stack: &ValidatedStack,
    plan: &Plan,
    status: &mut AppStackStatus,
    wal: Option<&ShipStatus>,
    state_dir: &Path,
    clock: &dyn Clock,
) {
    let now = clock.now();
    let at = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339();
    let mut facts = status.recoverability.clone().unwrap_or_default();
    if let Some(w) = wal {
        facts.wal_synced_at = w.synced_at.map(at);
        facts.wal_error = w.failing_since.and(w.last_error.clone());
    }
    let silence = super::liveness::silence(state_dir, &stack.name, now);
    let protection = Protection::of(stack, plan, None);
    let waiting: Vec<String> = status
        .components
        .iter()
        .filter(|(_, c)| c.health != "healthy" && c.health != "none")
        .map(|(n, _)| n.clone())
        .collect();
    let ready: Verdict = if status.phase == Phase::Ready {
        (Some(true), "AllReady", "every component is ready".into())
    } else {
        (
            Some(false),
            "Waiting",
            format!("not ready: {}", waiting.join(", ")),
        )
    };
    let shipping = match (&silence, protection.ship_interval) {
        (Some(why), Some(_)) => (
            Some(false),
            "DaemonSilent",
            format!("nothing ships WAL: {why}"),
        ),
        _ => wal_shipping(&facts, &protection, now),
    };
    let daemon: Verdict = match &silence {
        Some(why) => (Some(false), "DaemonSilent", why.clone()),
        None => (
            Some(true),
            "Running",
            "`appstack run` keeps the stack converged".into(),
        ),
    };
    let verdicts = [
        ("Ready", ready),
        ("BackupHealthy", backup_health(&facts, &protection, now)),
        ("WalShipping", shipping),
        ("LastDrillPassed", last_drill(&facts, &protection, now)),
        ("Daemon", daemon),
    ];
    for (type_, (s, reason, message)) in verdicts {
        set_condition(
            &mut status.conditions,
            Observation {
                type_,
                status: s,
                reason,
                message,
            },
            None,
            clock,
        );
    }
    if status.recoverability.is_some() {
        status.recoverability = Some(facts);
    }
}
