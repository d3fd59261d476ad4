//! Each running component's CPU and memory against its limits, sampled from cgroup files
//! over a window (the headroom table, and every step of the capacity run).

use std::time::Instant;

use serde::Serialize;

use super::cgroup::{Cgroup, Usage};
use crate::docker::Engine;
use crate::plan::Plan;

/// What one component used over a window.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ComponentUsage {
    pub component: String,
    pub container: String,
    /// Cores used on average over the window.
    pub cpu_cores: f64,
    /// The CPU limit in cores (None: unlimited).
    pub cpu_limit: Option<f64>,
    pub memory_bytes: u64,
    pub memory_limit: Option<u64>,
}

impl ComponentUsage {
    /// Percent of the CPU limit used (None without a limit).
    pub fn cpu_percent(&self) -> Option<f64> {
        self.cpu_limit
            .filter(|l| *l > 0.0)
            .map(|l| 100.0 * self.cpu_cores / l)
    }

    pub fn memory_percent(&self) -> Option<f64> {
        self.memory_limit
            .filter(|l| *l > 0)
            .map(|l| 100.0 * self.memory_bytes as f64 / l as f64)
    }
}

struct Entry {
    component: String,
    container: String,
    cgroup: Cgroup,
    cpu_limit: Option<f64>,
}

/// The running containers of a stack, with their cgroups found once.
pub struct Sampler {
    entries: Vec<Entry>,
    /// Containers whose accounting could not be read, and why.
    pub unreadable: Vec<String>,
}

/// One reading of every container.
pub struct Snapshot {
    at: Instant,
    usage: Vec<Option<Usage>>,
}

impl Sampler {
    pub async fn new<E: Engine>(
        engine: &E,
        plan: &Plan,
    ) -> Result<Self, crate::docker::DockerError> {
        let mut entries = Vec::new();
        let mut unreadable = Vec::new();
        for c in engine.list_containers(&plan.stack).await? {
            if c.state != "running" || c.name != plan.object_name(&c.component) {
                continue;
            }
            let pid = engine.inspect_runtime(&c.name).await?.pid;
            let found = pid
                .ok_or_else(|| "no process id".to_string())
                .and_then(|p| Cgroup::of_pid(p).map_err(|e| e.to_string()));
            match found {
                Ok(cgroup) => entries.push(Entry {
                    cpu_limit: plan
                        .component(&c.component)
                        .and_then(|p| p.resources.cpu_millis)
                        .map(|m| m as f64 / 1000.0),
                    component: c.component,
                    container: c.name,
                    cgroup,
                }),
                Err(e) => unreadable.push(format!("{}: {e}", c.name)),
            }
        }
        entries.sort_by(|a, b| a.component.cmp(&b.component));
        Ok(Sampler {
            entries,
            unreadable,
        })
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            at: Instant::now(),
            usage: self.entries.iter().map(|e| e.cgroup.read().ok()).collect(),
        }
    }

    /// Use between two snapshots: CPU as the average over the window, memory as the later
    /// reading.
    pub fn between(&self, a: &Snapshot, b: &Snapshot) -> Vec<ComponentUsage> {
        let secs = b.at.duration_since(a.at).as_secs_f64().max(1e-3);
        self.entries
            .iter()
            .zip(a.usage.iter().zip(&b.usage))
            .filter_map(|(e, (x, y))| {
                let (x, y) = (x.as_ref()?, y.as_ref()?);
                Some(ComponentUsage {
                    component: e.component.clone(),
                    container: e.container.clone(),
                    cpu_cores: y.cpu_usec.saturating_sub(x.cpu_usec) as f64 / 1e6 / secs,
                    cpu_limit: e.cpu_limit,
                    memory_bytes: y.memory_bytes,
                    memory_limit: y.memory_limit,
                })
            })
            .collect()
    }
}
