//! What the stack needs from a machine, read off the plan, and the plans that fit it.

use serde::Serialize;

use super::prices::DatabasePlan;
use crate::plan::{Plan, Role};

const GIB: f64 = (1u64 << 30) as f64;

/// Memory the operating system, the engine and the page cache keep for themselves.
pub const OS_RESERVE_GIB: f64 = 0.5;
/// Room above the reservations for load, caches and a blue/green second copy.
pub const HEADROOM: f64 = 0.30;

/// What a set of components asks for (replicas counted).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Needs {
    /// Sum of CPU limits, in cores (components without a limit count 0).
    pub cpu_sum: f64,
    /// The largest single CPU limit: one container must fit on the machine.
    pub cpu_largest: f64,
    /// Sum of memory reservations (GiB).
    pub memory_requests_gib: f64,
    /// Sum of memory limits (GiB): nothing is overcommitted when all fit.
    pub memory_limits_gib: f64,
    /// The largest single memory limit (GiB).
    pub memory_largest_gib: f64,
    /// Data volumes by name, in GiB.
    pub volumes: Vec<(String, f64)>,
}

impl Needs {
    /// What the plan's components need; without the database (and its volumes) when the
    /// database is to be a managed one.
    pub fn of(plan: &Plan, with_database: bool) -> Self {
        let mut n = Needs::default();
        let skip = |role: Role| !with_database && role == Role::Database;
        for c in plan.components.iter().filter(|c| !skip(c.role)) {
            let copies = f64::from(c.replicas.max(1));
            let cpu = c.resources.cpu_millis.unwrap_or(0) as f64 / 1000.0;
            let limit = c.resources.memory_bytes.unwrap_or(0) as f64 / GIB;
            let request = c.resources.memory_request_bytes.unwrap_or(0) as f64 / GIB;
            n.cpu_sum += cpu * copies;
            n.cpu_largest = n.cpu_largest.max(cpu);
            n.memory_limits_gib += limit * copies;
            n.memory_requests_gib += request.max(0.0) * copies;
            n.memory_largest_gib = n.memory_largest_gib.max(limit);
        }
        let db_volumes = database_volumes(plan);
        n.volumes = plan
            .volumes
            .iter()
            .filter(|v| with_database || !db_volumes.contains(&v.name))
            .map(|v| (v.name.clone(), v.size_bytes as f64 / GIB))
            .collect();
        n
    }

    /// Memory a machine needs when reservations get headroom (the low estimate).
    pub fn memory_low_gib(&self) -> f64 {
        (self.memory_requests_gib * (1.0 + HEADROOM)).max(self.memory_largest_gib) + OS_RESERVE_GIB
    }

    /// Memory a machine needs when every component may reach its limit at once.
    pub fn memory_high_gib(&self) -> f64 {
        self.memory_limits_gib + OS_RESERVE_GIB
    }

    pub fn volume_gib(&self) -> f64 {
        self.volumes.iter().map(|(_, g)| g).sum()
    }
}

/// The volumes mounted by the database (what a managed database replaces).
pub fn database_volumes(plan: &Plan) -> Vec<String> {
    plan.components
        .iter()
        .filter(|c| c.role == Role::Database)
        .flat_map(|c| c.mounts.iter())
        .filter_map(|m| match m {
            crate::plan::Mount::Volume { volume, .. } => Some(volume.clone()),
            _ => None,
        })
        .collect()
}

/// The cheapest managed database with the memory of the stack's database; storage beyond
/// the plan's is bought as block storage, so the largest plan still answers.
pub fn cheapest_database(
    plans: &[DatabasePlan],
    memory_gib: f64,
    hours: f64,
) -> Option<&DatabasePlan> {
    plans
        .iter()
        .filter(|d| d.memory_gi_b + 1e-9 >= memory_gib)
        .min_by(|a, b| {
            a.price
                .per_month(hours)
                .0
                .total_cmp(&b.price.per_month(hours).0)
        })
}

/// The database's memory limit in GiB (what a managed plan must match).
pub fn database_memory_gib(plan: &Plan) -> Option<f64> {
    plan.components
        .iter()
        .find(|c| c.role == Role::Database)
        .map(|c| c.resources.memory_bytes.unwrap_or(0) as f64 / GIB)
}
