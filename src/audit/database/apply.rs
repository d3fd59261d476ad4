//! `--apply-indexes`: each proven index is created concurrently (the table stays writable),
//! then measured again — the generic plan's cost with the real index, and the query's real
//! mean execution time from pg_stat_statements over the workload's next calls.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::explain;
use super::indexes::{settle_time, Suggestion};
use super::psql::{ident, Psql, TAG};
use crate::audit::exec::Exec;

/// New calls of the query that make an "after" figure.
const CALLS_AFTER: i64 = 20;

/// The index as created, and the query's figures around it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Applied {
    pub index: String,
    pub build_seconds: f64,
    /// The generic plan's cost with the real index.
    pub cost_after: Option<f64>,
    /// Mean execution time over the calls recorded before the index.
    pub mean_ms_before: Option<f64>,
    pub calls_before: i64,
    /// Mean execution time over the calls after it (None: the workload did not run the
    /// query again within the wait).
    pub mean_ms_after: Option<f64>,
    pub calls_after: i64,
}

/// Creates and re-measures every proven suggestion, within the deadline.
pub async fn apply_proven<X: Exec>(
    psql: &Psql<'_, X>,
    found: &mut [Suggestion],
    deadline: Instant,
) {
    for s in found.iter_mut().filter(|s| s.proven()) {
        if Instant::now() >= deadline {
            s.error = Some("not applied: the time bound ran out".into());
            continue;
        }
        match apply(psql, s, deadline).await {
            Ok(a) => s.applied = Some(a),
            Err(e) => s.error = Some(format!("not applied: {e}")),
        }
    }
}

async fn apply<X: Exec>(
    psql: &Psql<'_, X>,
    s: &Suggestion,
    deadline: Instant,
) -> Result<Applied, String> {
    let (calls_before, total_before) = stats(psql, s.queryid).await?;
    let ms = deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .max(1000);
    let started = Instant::now();
    let built = psql
        .session(&[format!("SET statement_timeout = {ms}"), s.create.clone()])
        .await;
    let build_seconds = started.elapsed().as_secs_f64();
    if let Err(e) = built {
        // A failed concurrent build leaves an invalid index behind.
        let drop = format!(
            "DROP INDEX CONCURRENTLY IF EXISTS {}.{}",
            ident(&s.schema),
            ident(&s.index_name())
        );
        let _ = psql.session(&[drop]).await;
        return Err(e);
    }
    let (calls1, total1) = stats(psql, s.queryid).await?;
    let cost_after = generic_cost(psql, &s.query, deadline).await.ok();
    let wait_until = Instant::now() + settle_time(deadline);
    let (mut calls2, mut total2) = (calls1, total1);
    while calls2 - calls1 < CALLS_AFTER && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_secs(1)).await;
        (calls2, total2) = stats(psql, s.queryid).await?;
    }
    let mean = |calls: i64, total: f64| (calls > 0).then(|| total / calls as f64);
    Ok(Applied {
        index: s.index_name(),
        build_seconds,
        cost_after,
        mean_ms_before: mean(calls_before, total_before),
        calls_before,
        mean_ms_after: mean(calls2 - calls1, total2 - total1),
        calls_after: calls2 - calls1,
    })
}

/// (calls, total execution ms) of one statement, over every role.
async fn stats<X: Exec>(psql: &Psql<'_, X>, queryid: i64) -> Result<(i64, f64), String> {
    let rows = psql
        .rows(&format!(
            "{TAG} SELECT coalesce(sum(calls), 0)::bigint AS calls, \
             coalesce(sum(total_exec_time), 0)::float8 AS total \
             FROM pg_stat_statements WHERE queryid = {queryid}"
        ))
        .await?;
    let row = rows.first().ok_or("no statistics row")?;
    Ok((
        row.get("calls").and_then(|v| v.as_i64()).unwrap_or(0),
        row.get("total").and_then(|v| v.as_f64()).unwrap_or(0.0),
    ))
}

async fn generic_cost<X: Exec>(
    psql: &Psql<'_, X>,
    query: &str,
    deadline: Instant,
) -> Result<f64, String> {
    let mut steps = super::indexes::opening(deadline);
    steps.extend(super::indexes::explain_steps(query));
    steps.push("ROLLBACK".into());
    let lines = psql.session(&steps).await?;
    let plan: serde_json::Value = serde_json::from_str(lines.first().ok_or("no plan printed")?)
        .map_err(|e| format!("plan: {e}"))?;
    explain::total_cost(&plan).ok_or_else(|| "plan without a cost".to_string())
}
