//! `appstack drill --to random`: a restore to a random point inside the recoverability
//! window — from the oldest base backup's end to the drill's cut — checked against the
//! source at that point. The reference is `appstack run`'s heartbeat (a committed row every
//! few seconds): the copy must hold exactly the source's heartbeats up to the point, the
//! newest of them included, and none after it.

use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};

use super::DrillError;
use crate::api::validated::Database;
use crate::protect::backup::psql_argv;
use crate::protect::manifest::{catalog, Kind};
use crate::protect::runner::{capture, Runner};
use crate::protect::target::AnyStore;

/// A random time between the end of the oldest base backup (or the first heartbeat, when
/// later) and the cut, a second inside each end.
pub async fn choose<L: Runner>(
    store: &AnyStore,
    live: &L,
    db: &Database,
    stack: &str,
    cut_at: DateTime<Utc>,
) -> Result<DateTime<Utc>, DrillError> {
    let sql = "SELECT coalesce((extract(epoch FROM min(at)) * 1000000)::bigint::text, '-') FROM appstack.heartbeat";
    let first = capture(live, "database", psql_argv(&db.user, &db.name, &[sql]))
        .await
        .ok()
        .and_then(|v| super::marker::parse_micros(&v))
        .ok_or_else(|| {
            DrillError::Invalid(format!(
                "--to random: the database of {stack} has no heartbeat yet: it needs `appstack run`, whose heartbeat is the reference"
            ))
        })?;
    let oldest = catalog(store, stack)
        .await?
        .into_iter()
        .filter(|m| m.kind == Kind::Base)
        .map(|m| m.finished_at)
        .min()
        .ok_or_else(|| DrillError::Failed(format!("the store holds no base backup of {stack}")))?
        .max(first);
    let from = oldest + ChronoDuration::seconds(1);
    let to = cut_at - ChronoDuration::seconds(1);
    if to <= from {
        return Err(DrillError::Invalid(format!(
            "--to random: the recoverability window ({} to {}) is too short to pick a point in",
            oldest.to_rfc3339_opts(SecondsFormat::Secs, true),
            cut_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )));
    }
    let span = (to - from).num_milliseconds();
    Ok(from + ChronoDuration::milliseconds(rand::random_range(0..span)))
}

/// `t`, moved a second earlier while a source heartbeat lies within half a second of it:
/// a row's time is its insert, its commit a moment later, so a point between the two would
/// make the reference ambiguous.
pub async fn settle<L: Runner>(live: &L, db: &Database, mut t: DateTime<Utc>) -> DateTime<Utc> {
    for _ in 0..5 {
        let at = t.format("%Y-%m-%d %H:%M:%S%.6f+00");
        let sql = format!(
            "SELECT count(*) FROM appstack.heartbeat WHERE at BETWEEN '{at}'::timestamptz - interval '500 ms' AND '{at}'::timestamptz + interval '500 ms'"
        );
        match capture(live, "database", psql_argv(&db.user, &db.name, &[&sql])).await {
            Ok(n) if n.trim() != "0" => t -= ChronoDuration::seconds(1),
            _ => break,
        }
    }
    t
}

/// The newest heartbeat at or before `t` (micros, or `-`) and how many come after it.
fn heartbeats_sql(t: DateTime<Utc>) -> String {
    let t = t.format("%Y-%m-%d %H:%M:%S%.6f+00");
    format!(
        "SELECT coalesce((SELECT (extract(epoch FROM max(at)) * 1000000)::bigint::text FROM appstack.heartbeat WHERE at <= '{t}'), '-') || ' ' || (SELECT count(*) FROM appstack.heartbeat WHERE at > '{t}')"
    )
}

/// Checks the copy restored to `t` against the source: the same newest heartbeat at or
/// before `t`, none after it.
pub async fn check<C: Runner, L: Runner>(
    copy: &C,
    live: &L,
    db: &Database,
    t: DateTime<Utc>,
) -> Result<String, DrillError> {
    let ask = |out: Result<String, crate::protect::ProtectError>, what: &str| {
        out.map_err(|e| DrillError::Failed(format!("heartbeats of the {what}: {e}")))
    };
    let argv = psql_argv(&db.user, &db.name, &[&heartbeats_sql(t)]);
    let source = ask(capture(live, "database", argv.clone()).await, "source")?;
    let copied = ask(capture(copy, "database", argv).await, "copy")?;
    let newest = |s: &str| {
        s.split_once(' ')
            .map(|(a, b)| (a.to_string(), b.to_string()))
    };
    let (Some((want, _)), Some((got, after))) = (newest(&source), newest(&copied)) else {
        return Err(DrillError::Failed(format!(
            "unexpected heartbeat output {source:?} / {copied:?}"
        )));
    };
    let at = t.to_rfc3339_opts(SecondsFormat::Millis, true);
    if want == "-" {
        return Err(DrillError::Failed(format!(
            "the source has no heartbeat at or before {at}: --to random needs `appstack run`, whose heartbeat is the reference"
        )));
    }
    if got != want || after != "0" {
        return Err(DrillError::Failed(format!(
            "the copy restored to {at} is not the source at that point: newest heartbeat {got} (source: {want}), {after} after the point"
        )));
    }
    Ok(format!(
        "restored to the random point {at}: the newest heartbeat before it is the source's, none after it"
    ))
}
