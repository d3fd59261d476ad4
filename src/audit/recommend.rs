//! Recommendations as manifest patches, each with the finding it answers: the database's
//! parameters sized from its container like PgTune's web profile, `maxConnections` from the
//! connections seen, Redis for the CMS's cache and sessions, replicas for a saturated
//! single-process component.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::capacity::Capacity;
use super::database::DatabaseAudit;
use crate::api::ValidatedStack;

/// One recommendation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// What was found.
    pub finding: String,
    /// The change, as a patch of the stack's manifest (YAML).
    pub patch: String,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// A size as PostgreSQL reads it, in the largest whole unit.
fn pg_size(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{}GB", bytes / GIB)
    } else if bytes >= MIB {
        format!("{}MB", bytes / MIB)
    } else {
        format!("{}kB", (bytes / 1024).max(64))
    }
}

/// PgTune's web profile for a server of `ram` bytes, `cpus` cores, `max_connections`, on
/// SSD storage.
pub fn pgtune_web(ram: u64, cpus: u32, max_connections: u32) -> BTreeMap<String, String> {
    let shared = ram / 4;
    let wal_buffers = (shared * 3 / 100).clamp(64 * 1024, 16 * MIB);
    let wal_buffers = if wal_buffers > 14 * MIB {
        16 * MIB
    } else {
        wal_buffers
    };
    let workers = u64::from(cpus.max(1));
    let work_mem = (ram - shared) / (u64::from(max_connections.max(1)) * 3) / (workers / 2).max(1);
    let mut p = BTreeMap::new();
    let mut set = |k: &str, v: String| {
        p.insert(k.to_string(), v);
    };
    set("shared_buffers", pg_size(shared));
    set("effective_cache_size", pg_size(ram / 4 * 3));
    set("maintenance_work_mem", pg_size((ram / 16).min(2 * GIB)));
    set("checkpoint_completion_target", "0.9".into());
    set("wal_buffers", pg_size(wal_buffers));
    set("default_statistics_target", "100".into());
    set("random_page_cost", "1.1".into());
    set("effective_io_concurrency", "200".into());
    set("work_mem", pg_size(work_mem.max(64 * 1024)));
    set("huge_pages", "off".into());
    set("min_wal_size", "1GB".into());
    set("max_wal_size", "4GB".into());
    if cpus >= 4 {
        set("max_worker_processes", cpus.to_string());
        set("max_parallel_workers_per_gather", (cpus / 2).to_string());
        set("max_parallel_workers", cpus.to_string());
        set("max_parallel_maintenance_workers", (cpus / 2).to_string());
    }
    p
}

fn yaml(v: serde_json::Value) -> String {
    serde_norway::to_string(&v).unwrap_or_default()
}

/// What the host offers the database and what the others use, for sizing it.
pub struct HostShare {
    pub ram: u64,
    pub cpus: u32,
    /// Memory the stack's other containers use now.
    pub others_memory: u64,
}

impl HostShare {
    pub fn of(host: &super::host::Host, idle: &[super::usage::ComponentUsage]) -> Self {
        HostShare {
            ram: host.memory_total_bytes,
            cpus: host.cores,
            others_memory: idle
                .iter()
                .filter(|c| c.component != "database")
                .map(|c| c.memory_bytes)
                .sum(),
        }
    }
}

/// Memory the host keeps for its kernel and tools.
const OS_RESERVE: u64 = 512 * MIB;

/// Every recommendation the audit's findings support.
pub fn recommend(
    stack: &ValidatedStack,
    db: Option<&DatabaseAudit>,
    capacity: Option<&Capacity>,
    host: &HostShare,
) -> Vec<Recommendation> {
    let mut out = Vec::new();
    let (host_ram, host_cpus) = (host.ram, host.cpus);
    // Without a limit, the database may use what the others leave of the host; with
    // neither a limit nor the host's memory known, nothing can be sized.
    let database = stack
        .database
        .as_ref()
        .filter(|d| d.resources.memory_bytes.is_some() || host_ram > 0);
    if let Some(d) = database {
        let ram = d.resources.memory_bytes.unwrap_or_else(|| {
            host_ram
                .saturating_sub(host.others_memory + OS_RESERVE)
                .max(256 * MIB)
        });
        let cpus = d
            .resources
            .cpu_millis
            .map_or(host_cpus, |m| (m / 1000).max(1) as u32);
        let tuned = pgtune_web(ram, cpus, d.max_connections);
        let changes: BTreeMap<&String, &String> = tuned
            .iter()
            .filter(|(k, v)| d.parameters.get(*k) != Some(v))
            .collect();
        if !changes.is_empty() {
            let now = d
                .parameters
                .get("shared_buffers")
                .map_or("the server's default (128MB)", |s| s.as_str());
            out.push(Recommendation {
                finding: format!(
                    "the database's parameters are not sized for its {} MiB ({}) and {cpus} cores \
                     (shared_buffers is {now}; PgTune's web profile: {})",
                    ram / MIB,
                    if d.resources.memory_bytes.is_some() {
                        "its memory limit"
                    } else {
                        "what its host has beside the other containers"
                    },
                    tuned["shared_buffers"]
                ),
                patch: yaml(json!({"spec": {"database": {"parameters": changes}}})),
            });
        }
    }
    if let Some(d) = &stack.database {
        out.extend(connections(d.max_connections, db, capacity));
    }
    out.extend(cms_cache(stack));
    if let Some(c) = capacity {
        out.extend(replicas(stack, c));
    }
    out
}

/// The most client connections seen, during the load or at rest.
fn peak_connections(db: Option<&DatabaseAudit>, capacity: Option<&Capacity>) -> i64 {
    let at_rest = db
        .and_then(|d| d.findings.connections.as_ref())
        .map_or(0, |c| c.used);
    let under_load = capacity
        .iter()
        .flat_map(|c| c.curves.iter())
        .flat_map(|c| c.probe.iter().chain(&c.steps))
        .filter_map(|s| s.db_connections)
        .max()
        .unwrap_or(0);
    at_rest.max(under_load)
}

fn connections(
    max: u32,
    db: Option<&DatabaseAudit>,
    capacity: Option<&Capacity>,
) -> Option<Recommendation> {
    let peak = peak_connections(db, capacity);
    if (peak as f64) < 0.8 * f64::from(max) {
        return None;
    }
    let wanted = ((peak as f64 * 1.5).ceil() as u32).max(max + 20);
    Some(Recommendation {
        finding: format!(
            "{peak} client connections seen, {:.0} % of maxConnections {max}",
            100.0 * peak as f64 / f64::from(max)
        ),
        patch: yaml(json!({"spec": {"database": {"maxConnections": wanted}}})),
    })
}

fn cms_cache(stack: &ValidatedStack) -> Option<Recommendation> {
    let cms = stack.cms.as_ref()?;
    if stack.cache.is_none() {
        return Some(Recommendation {
            finding: "the CMS has no Redis: its cache, sessions and rate limits live in one \
                      process's memory and every API read goes to the database"
                .into(),
            patch: yaml(
                json!({"spec": {"cache": {"image": "appstack/redis:7", "maxmemory": "128Mi"}}}),
            ),
        });
    }
    if cms.app.env.contains_key("SESSION_STORE") {
        return None;
    }
    Some(Recommendation {
        finding: "the CMS's sessions live in its process's memory (lost at a restart, not \
                  shared between replicas) while the stack has Redis"
            .into(),
        patch: yaml(json!({"spec": {"cms": {"env": {"SESSION_STORE": "redis"}}}})),
    })
}

/// A single Node.js process that saturated, on a host with cores to spare.
fn replicas(stack: &ValidatedStack, c: &Capacity) -> Vec<Recommendation> {
    let mut out = Vec::new();
    for (role, name, replicas) in [
        (
            "the CMS's worker",
            "cms",
            stack.cms.as_ref().map(|x| x.app.replicas),
        ),
        (
            "the frontend's one Node.js process",
            "frontend",
            stack.frontend.as_ref().map(|x| x.replicas),
        ),
    ] {
        let Some(n) = replicas else { continue };
        let Some(curve) = c.curves.iter().find(|cv| cv.bottleneck.starts_with(role)) else {
            continue;
        };
        out.push(Recommendation {
            finding: format!(
                "the `{}` curve is bound by {} (one core of {}); more processes use the others \
                 (replicas run in Kubernetes mode; Docker mode runs one)",
                curve.mix, curve.bottleneck, c.cores
            ),
            patch: yaml(json!({"spec": {name: {"replicas": (n + 1).max(2)}}})),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgtune_web_for_a_two_gib_two_core_server() {
        let p = pgtune_web(2 * GIB, 2, 100);
        assert_eq!(p["shared_buffers"], "512MB");
        assert_eq!(p["effective_cache_size"], "1536MB");
        assert_eq!(p["maintenance_work_mem"], "128MB");
        assert_eq!(p["wal_buffers"], "16MB");
        // (2048 − 512) MiB / (100 × 3) = 5.12 MiB.
        assert_eq!(p["work_mem"], "5MB");
        assert!(!p.contains_key("max_parallel_workers"));
        assert_eq!(pgtune_web(16 * GIB, 8, 200)["shared_buffers"], "4GB");
        assert_eq!(pgtune_web(16 * GIB, 8, 200)["wal_buffers"], "16MB");
    }
}
