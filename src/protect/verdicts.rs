//! Judging a stack's recoverability facts against what its spec promises: is the newest
//! base backup recent, does WAL ship, did the last drill pass in time. One judge for both
//! runtimes: the operator's AppStack status and Docker mode's `status` use these.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::api::status::RecoverabilityStatus;
use crate::api::validated::ValidatedStack;
use crate::plan::Plan;
use crate::protect::schedule::Cadence;

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

/// A status field's RFC 3339 time, when it holds one.
pub fn parse_time(t: &Option<String>) -> Option<DateTime<Utc>> {
    t.as_deref().and_then(rfc3339)
}

fn rfc3339(t: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A condition's (status, reason, message).
pub type Verdict = (Option<bool>, &'static str, String);

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

pub fn backup_health(facts: &RecoverabilityStatus, p: &Protection, now: DateTime<Utc>) -> Verdict {
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
pub fn last_drill(facts: &RecoverabilityStatus, p: &Protection, now: DateTime<Utc>) -> Verdict {
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

pub fn wal_shipping(
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
