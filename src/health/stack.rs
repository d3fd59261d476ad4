//! Connectivity (a real query, the core tables, PostGIS, Redis PING, the queue's backlog), storage (uploads
//! and cache writable inside their containers, free disk under every volume) and runtime
//! (every component running and healthy, no restarts, the daemon beating).

use super::facts::Facts;
use super::{Check, Group, Level};
use crate::docker::engine::Health;
use crate::plan::Mount;

fn psql(f: &Facts, sql: &str) -> Option<Vec<String>> {
    let db = f.stack.database.as_ref()?;
    Some(crate::protect::backup::psql_argv(
        &db.user,
        &db.name,
        &[sql],
    ))
}

pub(super) async fn query(f: &Facts, sql: &str) -> Result<String, String> {
    let Some(argv) = psql(f, sql) else {
        return Err("no database".into());
    };
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    match f.run("database", &refs).await {
        Some(o) if o.exit_code == 0 => Ok(o.output.trim().to_string()),
        Some(o) => Err(o.output.trim().to_string()),
        None => Err("the database container does not answer".into()),
    }
}

pub async fn connectivity(f: &Facts) -> Vec<Check> {
    const G: Group = Group::Connectivity;
    let mut out = Vec::new();
    if let Some(db) = &f.stack.database {
        let r = query(f, "SELECT 1").await;
        out.push(Check::judge(
            "connectivity.database",
            G,
            Level::Error,
            r.as_deref() == Ok("1"),
            match &r {
                Ok(v) => format!("SELECT 1 in {} answered {v}", db.name),
                Err(e) => format!("SELECT 1 in {}: {e}", db.name),
            },
            "see `appstack logs --file <stack> database`",
        ));
        out.extend(super::app::core_tables(f).await);
        if db.extensions.iter().any(|e| e == "postgis") {
            let r = query(f, "SELECT ST_AsText(ST_Buffer(ST_MakePoint(0, 0), 1)) IS NOT NULL AND postgis_version() <> ''").await;
            out.push(Check::judge(
                "connectivity.postgis",
                G,
                Level::Error,
                r.as_deref() == Ok("t"),
                format!("a PostGIS buffer computed: {}", r.unwrap_or_else(|e| e)),
                "spec.database.extensions must list postgis and the image must carry it",
            ));
        }
    }
    if let Some(cache) = f.plan.component("cache") {
        let argv = crate::docker::health::probe_argv(cache).unwrap_or_default();
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let ok = f
            .run("cache", &refs)
            .await
            .is_some_and(|o| o.exit_code == 0);
        out.push(Check::judge(
            "connectivity.cache",
            G,
            Level::Error,
            ok,
            if ok {
                "Redis answered PING with PONG (authenticated)"
            } else {
                "Redis did not answer PING"
            },
            "see `appstack logs --file <stack> cache`",
        ));
    }
    if let Some(q) = &f.stack.health_check.queue {
        out.push(super::app::queue_backlog(f, q).await);
    }
    out
}

pub async fn storage(f: &Facts) -> Vec<Check> {
    const G: Group = Group::Storage;
    let mut out = Vec::new();
    for (component, id) in [
        ("cms", "storage.uploads-writable"),
        ("cache", "storage.cache-writable"),
    ] {
        let Some(c) = f.plan.component(component) else {
            continue;
        };
        for m in &c.mounts {
            let Mount::Volume { path, .. } = m else {
                continue;
            };
            let probe = format!("{path}/.appstack-health-check");
            let wrote = f
                .run(component, &["touch", &probe])
                .await
                .is_some_and(|o| o.exit_code == 0);
            if wrote {
                let _ = f.run(component, &["rm", "-f", &probe]).await;
            }
            out.push(Check::judge(
                id,
                G,
                Level::Error,
                wrote,
                format!("{component} {} {path}", if wrote { "can write to" } else { "cannot write to" }),
                format!("the {component}'s volume must be writable by its user (check ownership of {path})"),
            ));
        }
    }
    out.push(free_disk(f).await);
    out
}

/// Free space under every volume, as each container sees it (`df -Pk`). A volume that could
/// not be measured is named; when none could be, the check fails rather than pass unseen.
async fn free_disk(f: &Facts) -> Check {
    let mut seen = Vec::new();
    let mut low = Vec::new();
    let mut unmeasured = Vec::new();
    for c in &f.plan.components {
        for m in &c.mounts {
            let Mount::Volume { volume, path } = m else {
                continue;
            };
            match free_percent(f, &c.name, path).await {
                Some(free) => {
                    let text = format!("{volume} ({path} in {}): {free:.0}% free", c.name);
                    if free < 10.0 {
                        low.push(text);
                    } else {
                        seen.push(text);
                    }
                }
                None => unmeasured.push(format!("{volume} ({path} in {})", c.name)),
            }
        }
    }
    let blind = seen.is_empty() && low.is_empty() && !unmeasured.is_empty();
    let mut evidence = if low.is_empty() { seen } else { low.clone() }.join("; ");
    if !unmeasured.is_empty() {
        if !evidence.is_empty() {
            evidence.push_str("; ");
        }
        evidence.push_str(&format!("not measured: {}", unmeasured.join(", ")));
    }
    Check::judge(
        "storage.free-disk",
        Group::Storage,
        Level::Error,
        low.is_empty() && !blind,
        evidence,
        "free space on the volume's filesystem (old backups in a file:// store, logs) or move the volume to a larger disk; a volume not measured: its container must be running and have df",
    )
}

/// Free space in percent of the filesystem under `path` in `component`.
async fn free_percent(f: &Facts, component: &str, path: &str) -> Option<f64> {
    let out = f
        .run(component, &["df", "-Pk", path])
        .await
        .filter(|o| o.exit_code == 0)?;
    let line = out.output.lines().nth(1)?;
    let cols: Vec<&str> = line.split_whitespace().collect();
    let size = cols.get(1)?.parse::<f64>().ok()?;
    let avail = cols.get(3)?.parse::<f64>().ok()?;
    Some(if size > 0.0 {
        100.0 * avail / size
    } else {
        100.0
    })
}

pub fn runtime(f: &Facts) -> Vec<Check> {
    const G: Group = Group::Runtime;
    let mut bad = Vec::new();
    for c in &f.plan.components {
        match f.seen(&c.name) {
            None => bad.push(format!("{}: missing", c.name)),
            Some(o) if o.state != "running" => bad.push(format!("{}: {}", c.name, o.state)),
            Some(o) if c.health.is_some() && o.health != Health::Healthy => {
                bad.push(format!("{}: {}", c.name, o.health.as_str()))
            }
            Some(_) => {}
        }
    }
    let restarted: Vec<String> = f
        .components
        .iter()
        .filter(|(_, s)| s.restarts > 0)
        .map(|(c, s)| format!("{c}: restarted {} time(s) by the runtime", s.restarts))
        .collect();
    let streams = crate::plan::wal::streams(&f.stack);
    vec![
        Check::judge(
            "runtime.components",
            G,
            Level::Error,
            bad.is_empty(),
            if bad.is_empty() {
                format!(
                    "all {} components running and healthy",
                    f.plan.components.len()
                )
            } else {
                bad.join("; ")
            },
            "see `appstack status` and `appstack logs --file <stack> <component>`",
        ),
        Check::judge(
            "runtime.restarts",
            G,
            Level::Warning,
            restarted.is_empty(),
            if restarted.is_empty() {
                "no component was restarted by the engine".into()
            } else {
                restarted.join("; ")
            },
            "a crashing component: see its logs",
        ),
        Check::judge(
            "runtime.daemon",
            G,
            if streams {
                Level::Error
            } else {
                Level::Warning
            },
            f.daemon_silence.is_none(),
            f.daemon_silence
                .clone()
                .unwrap_or_else(|| f.daemon_beat.clone()),
            f.daemon_fix(),
        ),
    ]
}
