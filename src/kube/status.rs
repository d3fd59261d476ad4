//! The AppStack status from what the reconcile saw (pure): phase, per-component readiness
//! from the workloads' own status, and the conditions. Transition times move only when a
//! condition's status changes (the shared conditions helper), so an unchanged world
//! produces an identical status and no patch.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};

use crate::api::conditions::{set_condition, Clock, Observation};
use crate::api::status::{AppStackStatus, ComponentStatus, Phase, RecoverabilityStatus};
use crate::api::validated::ValidatedStack;
use crate::plan::{Plan, LABEL_COMPONENT};
use crate::protect::schedule::Cadence;

/// Ready and desired replicas of one workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub ready: i32,
    pub desired: i32,
}

/// Readiness by component name, from the stack's Deployments and StatefulSets.
pub fn readiness(
    deployments: &[Deployment],
    stateful_sets: &[StatefulSet],
) -> BTreeMap<String, Readiness> {
    let from_deployments = deployments.iter().map(|d| {
        let spec = d.spec.as_ref().and_then(|s| s.replicas);
        let ready = d.status.as_ref().and_then(|s| s.ready_replicas);
        (&d.metadata, spec, ready)
    });
    let from_stateful_sets = stateful_sets.iter().map(|s| {
        let spec = s.spec.as_ref().and_then(|s| s.replicas);
        let ready = s.status.as_ref().and_then(|s| s.ready_replicas);
        (&s.metadata, spec, ready)
    });
    from_deployments
        .chain(from_stateful_sets)
        .filter_map(|(meta, desired, ready)| {
            let component = meta.labels.as_ref()?.get(LABEL_COMPONENT)?.clone();
            let r = Readiness {
                ready: ready.unwrap_or(0),
                desired: desired.unwrap_or(1),
            };
            Some((component, r))
        })
        .collect()
}

/// What the spec promises about the stack's protection, for judging the facts its
/// shipper and backup jobs report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Protection {
    /// Base backups are taken on this cron schedule (None: no backups).
    pub base_schedule: Option<String>,
    /// WAL is streamed and shipped every this often (None: no WAL shipping).
    pub ship_interval: Option<Duration>,
    /// DR drills run on this cron schedule (None: no scheduled drills).
    pub drill_schedule: Option<String>,
    /// When the AppStack was created: with no backup at all, "missing" counts from here.
    pub created: Option<DateTime<Utc>>,
}

impl Protection {
    pub fn of(stack: &ValidatedStack, plan: &Plan, created: Option<DateTime<Utc>>) -> Self {
        let b = stack.backup.as_ref().filter(|_| stack.database.is_some());
        Self {
            base_schedule: b.and_then(|b| b.base_backup_schedule.clone()),
            ship_interval: plan.wal_shipper.as_ref().map(|w| w.interval()),
            drill_schedule: b.and_then(|_| stack.recovery.drill_schedule.clone()),
            created,
        }
    }
}

/// A shipper that has not reported for this long (its heartbeat is 30 s) is not shipping.
const SHIPPER_SILENT: Duration = Duration::from_secs(120);

/// The status after a successful apply.
pub fn applied(
    previous: Option<&AppStackStatus>,
    generation: Option<i64>,
    components: &BTreeMap<String, Readiness>,
    protection: &Protection,
    clock: &dyn Clock,
) -> AppStackStatus {
    let mut st = previous.cloned().unwrap_or_default();
    st.observed_generation = generation;
    st.components = components
        .iter()
        .map(|(name, r)| {
            let healthy = r.ready >= r.desired;
            (
                name.clone(),
                ComponentStatus {
                    state: if r.ready > 0 { "running" } else { "starting" }.into(),
                    health: if healthy { "healthy" } else { "starting" }.into(),
                    image: st
                        .components
                        .get(name)
                        .map(|c| c.image.clone())
                        .unwrap_or_default(),
                    replicas: Some(format!("{}/{}", r.ready, r.desired)),
                    restarts: 0,
                    message: None,
                },
            )
        })
        .collect();
    let waiting: Vec<&str> = components
        .iter()
        .filter(|(_, r)| r.ready < r.desired)
        .map(|(n, _)| n.as_str())
        .collect();
    let ready = waiting.is_empty();
    st.phase = if ready {
        Phase::Ready
    } else {
        Phase::Progressing
    };
    let mut set = |type_, status, reason, message: String| {
        set_condition(
            &mut st.conditions,
            Observation {
                type_,
                status,
                reason,
                message,
            },
            generation,
            clock,
        );
    };
    let waiting_msg = format!("waiting for {}", waiting.join(", "));
    set(
        "Ready",
        Some(ready),
        if ready { "AllReady" } else { "Waiting" },
        if ready {
            "every component is ready".into()
        } else {
            waiting_msg.clone()
        },
    );
    // Progressing is about the rollout, not about this pass: an apply that changed nothing
    // must leave the status identical.
    set(
        "Progressing",
        Some(!ready),
        if ready { "Stable" } else { "Rolling" },
        if ready { String::new() } else { waiting_msg },
    );
    set("Degraded", Some(false), "AsExpected", String::new());
    let facts = st.recoverability.clone().unwrap_or_default();
    let now = clock.now();
    let (status, reason, message) = backup_health(&facts, protection, now);
    set("BackupHealthy", status, reason, message);
    let (status, reason, message) = wal_shipping(&facts, protection, now);
    set("WalShipping", status, reason, message);
    let (status, reason, message) = last_drill(&facts, protection, now);
    set("LastDrillPassed", status, reason, message);
    unobserved(&mut st, generation, clock);
    st
}

fn parse_time(t: &Option<String>) -> Option<DateTime<Utc>> {
    t.as_deref().and_then(rfc3339)
}

fn rfc3339(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

type Verdict = (Option<bool>, &'static str, String);

/// The schedule's cadence, or the verdict when there is no schedule or it cannot be read.
fn cadence(expr: Option<&String>, none: &str) -> Result<(Cadence, String), Verdict> {
    let Some(expr) = expr else {
        return Err((None, "NotScheduled", none.into()));
    };
    Cadence::new(expr)
        .map(|c| (c, format!("{expr:?}")))
        .ok_or_else(|| {
            (
                None,
                "BadSchedule",
                format!("cannot read schedule {expr:?}"),
            )
        })
}

/// Where a schedule stands against its last success. No success within 1.5× its period is
/// *missing*: worse news than a failed run, because nobody gets told by the job that never
/// ran. With no success at all, "missing" counts from the stack's creation.
enum Due {
    Recent,
    Missing,
    MissingSinceCreated,
    NotYet,
}

fn due(c: &Cadence, last: Option<DateTime<Utc>>, p: &Protection, now: DateTime<Utc>) -> Due {
    match (last, p.created) {
        (Some(last), _) if c.missing(last, now) => Due::Missing,
        (Some(_), _) => Due::Recent,
        (None, Some(created)) if c.missing(created, now) => Due::MissingSinceCreated,
        (None, _) => Due::NotYet,
    }
}

fn backup_health(facts: &RecoverabilityStatus, p: &Protection, now: DateTime<Utc>) -> Verdict {
    let (c, expr) = match cadence(p.base_schedule.as_ref(), "no scheduled base backups") {
        Ok(c) => c,
        Err(v) => return v,
    };
    let last = facts.last_base_backup.as_deref().unwrap_or_default();
    match due(&c, parse_time(&facts.last_base_backup), p, now) {
        Due::Missing => (
            Some(false),
            "MissingBackup",
            format!("no base backup since {last}; schedule {expr} promises one per period"),
        ),
        Due::Recent => (Some(true), "Recent", format!("last base backup {last}")),
        Due::MissingSinceCreated => (
            Some(false),
            "MissingBackup",
            format!("no base backup since the stack was created; schedule {expr}"),
        ),
        Due::NotYet => (
            None,
            "NoBackupYet",
            format!("the first base backup is due on schedule {expr}"),
        ),
    }
}

/// The newest drill's verdict; with no passing drill in time the drill is missing, as for
/// backups: objectives nobody proved lately are not met.
fn last_drill(facts: &RecoverabilityStatus, p: &Protection, now: DateTime<Utc>) -> Verdict {
    let (c, expr) = match cadence(p.drill_schedule.as_ref(), "no scheduled drills") {
        Ok(c) => c,
        Err(v) => return v,
    };
    match &facts.last_drill {
        Some(d) if !d.passed => (Some(false), "DrillFailed", d.message.clone()),
        Some(d) => match rfc3339(&d.finished_at).map(|at| due(&c, Some(at), p, now)) {
            Some(Due::Missing) => (
                Some(false),
                "MissingDrill",
                format!(
                    "no drill since {}; schedule {expr} promises one per period",
                    d.finished_at
                ),
            ),
            _ => (Some(true), "Passed", d.message.clone()),
        },
        None => match due(&c, None, p, now) {
            Due::MissingSinceCreated => (
                Some(false),
                "MissingDrill",
                format!("no drill since the stack was created; schedule {expr}"),
            ),
            _ => (
                None,
                "NoDrillYet",
                format!("the first drill is due on schedule {expr}"),
            ),
        },
    }
}

fn wal_shipping(
    facts: &RecoverabilityStatus,
    p: &Protection,
    now: DateTime<Utc>,
) -> (Option<bool>, &'static str, String) {
    let Some(interval) = p.ship_interval else {
        return (None, "NotStreaming", "WAL streaming is off".into());
    };
    let silent = chrono::Duration::from_std(SHIPPER_SILENT.max(interval * 10))
        .unwrap_or(chrono::Duration::MAX);
    match parse_time(&facts.wal_synced_at) {
        None => (
            None,
            "NotReported",
            "the WAL shipper has not reported yet".into(),
        ),
        Some(_) if facts.wal_error.is_some() => (
            Some(false),
            "StoreUnreachable",
            format!(
                "WAL is spooled in the database pod: {}",
                facts.wal_error.as_deref().unwrap_or_default()
            ),
        ),
        Some(synced) if now - synced > silent => (
            Some(false),
            "ShipperSilent",
            format!(
                "the WAL shipper last reported at {}",
                facts.wal_synced_at.as_deref().unwrap_or_default()
            ),
        ),
        Some(_) => (
            Some(true),
            "Shipping",
            match &facts.last_wal_shipped {
                Some(t) => format!("the store holds WAL written up to {t}"),
                None => "the store holds all WAL".into(),
            },
        ),
    }
}

/// The status of an invalid spec: nothing applied until it changes.
pub fn invalid(
    previous: Option<&AppStackStatus>,
    generation: Option<i64>,
    message: String,
    clock: &dyn Clock,
) -> AppStackStatus {
    with_conditions(
        previous,
        generation,
        Phase::Invalid,
        [
            ("Ready", false, "InvalidSpec", message),
            (
                "Progressing",
                false,
                "InvalidSpec",
                "waiting for a corrected spec".into(),
            ),
        ],
        clock,
    )
}

/// The status after a failed apply.
pub fn failed(
    previous: Option<&AppStackStatus>,
    generation: Option<i64>,
    message: String,
    clock: &dyn Clock,
) -> AppStackStatus {
    with_conditions(
        previous,
        generation,
        Phase::Degraded,
        [("Degraded", true, "ApplyFailed", message)],
        clock,
    )
}

/// `previous` moved to `phase` with the given (type, status, reason, message) conditions.
fn with_conditions<const N: usize>(
    previous: Option<&AppStackStatus>,
    generation: Option<i64>,
    phase: Phase,
    conditions: [(&str, bool, &str, String); N],
    clock: &dyn Clock,
) -> AppStackStatus {
    let mut st = previous.cloned().unwrap_or_default();
    st.observed_generation = generation;
    st.phase = phase;
    for (type_, status, reason, message) in conditions {
        let obs = Observation {
            type_,
            status: Some(status),
            reason,
            message,
        };
        set_condition(&mut st.conditions, obs, generation, clock);
    }
    unobserved(&mut st, generation, clock);
    st
}

/// Conditions a status does not decide keep their value, or start as Unknown.
fn unobserved(st: &mut AppStackStatus, generation: Option<i64>, clock: &dyn Clock) {
    for type_ in ["BackupHealthy", "WalShipping", "LastDrillPassed"] {
        if !st.conditions.iter().any(|c| c.type_ == type_) {
            set_condition(
                &mut st.conditions,
                Observation {
                    type_,
                    status: None,
                    reason: "NotObservedYet",
                    message: String::new(),
                },
                generation,
                clock,
            );
        }
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
