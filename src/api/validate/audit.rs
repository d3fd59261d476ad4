//! `spec.audit`: the routes, queues and targets of `appstack audit`.

use std::time::Duration;

use super::super::errors::Collector;
use super::super::spec::AppStackSpec;
use super::super::validated::{Audit, AuditQueue, AuditTargets, JobCount};

const MAX_ROUTES: usize = 50;
const MAX_QUEUES: usize = 20;
const MAX_SQL: usize = 4096;

pub(super) fn audit(
    c: &mut Collector,
    spec: &AppStackSpec,
    has_db: bool,
    has_cache: bool,
) -> Audit {
    let p = "spec.audit";
    let a = spec.audit.clone().unwrap_or_default();
    let routes = paths(c, &format!("{p}.routes"), a.routes.as_deref(), "/");
    let api_routes = paths(
        c,
        &format!("{p}.apiRoutes"),
        a.api_routes.as_deref(),
        crate::api::defaults::CMS_PING,
    );
    if a.queues.len() > MAX_QUEUES {
        c.push(
            format!("{p}.queues"),
            format!("at most {MAX_QUEUES} queues"),
        );
    }
    let queues = a
        .queues
        .iter()
        .enumerate()
        .map(|(i, q)| queue(c, &format!("{p}.queues[{i}]"), q, has_db, has_cache))
        .collect();
    let t = a.targets.clone().unwrap_or_default();
    let targets = AuditTargets {
        ttfb: target(
            c,
            &format!("{p}.targets.ttfb"),
            t.ttfb.as_deref(),
            Duration::from_millis(150),
        ),
        page: target(
            c,
            &format!("{p}.targets.page"),
            t.page.as_deref(),
            Duration::from_secs(2),
        ),
        failed_jobs: t.failed_jobs.unwrap_or(0),
        missing_indexes: t.missing_indexes.unwrap_or(0),
    };
    Audit {
        routes,
        api_routes,
        queues,
        targets,
    }
}

/// A list of 1 to MAX_ROUTES paths, or the default's one.
fn paths(c: &mut Collector, field: &str, list: Option<&[String]>, default: &str) -> Vec<String> {
    let Some(list) = list else {
        return vec![default.to_string()];
    };
    if list.is_empty() || list.len() > MAX_ROUTES {
        c.push(
            field.to_string(),
            format!("expected 1 to {MAX_ROUTES} paths"),
        );
    }
    for (i, r) in list.iter().enumerate() {
        if !is_path(r) {
            c.push(
                format!("{field}[{i}]"),
                format!(
                    "{r:?} is not a path: expected `/` then at most 2048 visible ASCII characters"
                ),
            );
        }
    }
    list.to_vec()
}

fn is_path(r: &str) -> bool {
    r.starts_with('/') && r.len() <= 2048 && r.bytes().all(|b| b.is_ascii_graphic())
}

fn target(c: &mut Collector, path: &str, text: Option<&str>, default: Duration) -> Duration {
    let Some(text) = text else {
        return default;
    };
    match crate::api::quantity::parse_duration(text) {
        Some(d) if !d.is_zero() && d <= Duration::from_secs(600) => d,
        _ => {
            c.push(
                path,
                format!(
                    "{text:?}: expected a duration above 0 and at most 10m, such as 150ms or 2s"
                ),
            );
            default
        }
    }
}

fn queue(
    c: &mut Collector,
    p: &str,
    q: &crate::api::spec::audit::AuditQueueSpec,
    has_db: bool,
    has_cache: bool,
) -> AuditQueue {
    if q.name.is_empty() || q.name.len() > 64 || q.name.chars().any(char::is_control) {
        c.push(
            format!("{p}.name"),
            "expected 1 to 64 characters without control characters",
        );
    }
    let pending = count(
        c,
        p,
        ("key", q.key.as_deref()),
        ("pendingSql", q.pending_sql.as_deref()),
        has_db,
        has_cache,
    );
    let failed = count(
        c,
        p,
        ("failedKey", q.failed_key.as_deref()),
        ("failedSql", q.failed_sql.as_deref()),
        has_db,
        has_cache,
    );
    if [&q.key, &q.pending_sql, &q.failed_key, &q.failed_sql]
        .iter()
        .all(|f| f.is_none())
    {
        c.push(
            p.to_string(),
            "expected key or pendingSql (and optionally failedKey or failedSql)",
        );
    }
    AuditQueue {
        name: q.name.clone(),
        pending,
        failed,
    }
}

/// One of a Redis key or a SQL count, checked.
fn count(
    c: &mut Collector,
    p: &str,
    (key_field, key): (&str, Option<&str>),
    (sql_field, sql): (&str, Option<&str>),
    has_db: bool,
    has_cache: bool,
) -> Option<JobCount> {
    match (key, sql) {
        (Some(_), Some(_)) => {
            c.push(
                format!("{p}.{sql_field}"),
                format!("set {key_field} or {sql_field}, not both"),
            );
            None
        }
        (Some(k), None) => {
            if !has_cache {
                c.push(format!("{p}.{key_field}"), "needs a cache: add spec.cache");
            }
            if k.is_empty() || k.len() > 1024 || k.chars().any(char::is_control) {
                c.push(
                    format!("{p}.{key_field}"),
                    "expected a Redis key of 1 to 1024 characters without control characters",
                );
            }
            Some(JobCount::RedisKey(k.to_string()))
        }
        (None, Some(s)) => {
            if !has_db {
                c.push(
                    format!("{p}.{sql_field}"),
                    "needs a database: add spec.database",
                );
            }
            if s.trim().is_empty() || s.len() > MAX_SQL || s.contains('\0') {
                c.push(
                    format!("{p}.{sql_field}"),
                    format!("expected one SQL query of at most {MAX_SQL} bytes"),
                );
            }
            Some(JobCount::Sql(s.to_string()))
        }
        (None, None) => None,
    }
}
