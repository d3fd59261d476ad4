//! `appstack audit`: the users' performance audit as one command — each route's phases,
//! the host's and every component's headroom, the job queues — bounded in requests and
//! time, against the stack's own addresses on this host.

pub mod capacity;
pub mod cgroup;
pub mod compare;
pub mod database;
pub mod host;
pub mod http;
pub mod jobs;
pub mod recommend;
pub mod report;
pub mod routes;
pub mod usage;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::api::ValidatedStack;
use crate::docker::Engine;
use crate::plan::Plan;

/// Why an audit could not run.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{0}")]
    Invalid(String),
    #[error("the stack cannot be reached: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
}

impl AuditError {
    /// A stable category: `invalid` input (exit 2), else a runtime failure.
    pub fn category(&self) -> &'static str {
        match self {
            AuditError::Invalid(_) => "invalid",
            AuditError::Unreachable(_) => "unreachable",
            AuditError::Docker(_) => "engine",
        }
    }
}

/// What the audit is asked.
#[derive(Debug, Clone)]
pub struct AuditRequest {
    /// The whole audit's bound.
    pub max_duration: Duration,
    /// Requests per route for the timings.
    pub samples: u32,
    /// Create the proven missing indexes (concurrently) and measure again.
    pub apply_indexes: bool,
    /// The capacity test; None skips it (no load beyond the timings).
    pub capacity: Option<capacity::CapacityRequest>,
    /// An earlier report (`-o json`) to compare with.
    pub previous: Option<serde_json::Value>,
}

/// Everything the audit found.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    pub stack: String,
    pub started_at: String,
    pub seconds: f64,
    pub routes: Vec<http::RouteTiming>,
    pub host: host::Host,
    pub components: Vec<usage::ComponentUsage>,
    /// Containers whose cgroup could not be read, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmeasured: Vec<String>,
    pub queues: Vec<jobs::QueueFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<database::DatabaseAudit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<capacity::Capacity>,
    /// Why the capacity test did not run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_error: Option<String>,
    pub recommendations: Vec<recommend::Recommendation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comparison: Option<compare::Comparison>,
    pub targets: report::Targets,
    pub verdicts: Vec<report::Verdict>,
}

/// Runs the audit of a stack running on `engine`.
pub async fn run<E: Engine>(
    engine: &E,
    stack: &ValidatedStack,
    plan: &Plan,
    req: &AuditRequest,
) -> Result<AuditReport, AuditError> {
    let started = Instant::now();
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let targets = routes::targets(engine, stack, plan).await?;
    if targets.is_empty() {
        return Err(AuditError::Invalid(format!(
            "{}: the stack has no frontend or CMS to audit",
            stack.name
        )));
    }
    // Idle headroom first, so the timings' own load does not show in it.
    let sampler = usage::Sampler::new(engine, plan).await?;
    let before = sampler.snapshot();
    let host = host::measure(Duration::from_secs(2), &["/", "/var/lib/docker"]).await;
    let components = sampler.between(&before, &sampler.snapshot());
    let mut timings = Vec::new();
    for t in &targets {
        if started.elapsed() >= req.max_duration {
            break;
        }
        timings.push(http::time_route(t, req.samples).await);
    }
    let queues = jobs::measure(engine, stack, plan).await;
    // The database's trials get a share of the bound when the load test follows.
    let db_share = if req.capacity.is_some() { 0.4 } else { 0.95 };
    let deadline = started + req.max_duration.mul_f64(db_share);
    let database = database::audit(engine, stack, plan, req.apply_indexes, deadline).await;
    let (capacity, capacity_error) = match &req.capacity {
        Some(creq) => {
            let idle = (
                components.iter().map(|c| c.cpu_cores).sum(),
                components.iter().map(|c| c.memory_bytes).sum(),
            );
            let until = started + req.max_duration.mul_f64(0.98);
            let cx = capacity_context(engine, stack, plan, &targets, &sampler, idle, host.cores);
            match capacity::run(&cx, creq, until).await {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            }
        }
        None => (None, None),
    };
    let share = recommend::HostShare::of(&host, &components);
    let recommendations = recommend::recommend(stack, database.as_ref(), capacity.as_ref(), &share);
    let targets = report::Targets::of(stack);
    let verdicts = report::verdicts(&targets, &timings, &queues, database.as_ref());
    let mut report = AuditReport {
        stack: stack.name.clone(),
        started_at,
        seconds: started.elapsed().as_secs_f64(),
        routes: timings,
        host,
        components,
        unmeasured: sampler.unreadable.clone(),
        queues,
        database,
        capacity,
        capacity_error,
        recommendations,
        comparison: None,
        targets,
        verdicts,
    };
    if let Some(previous) = &req.previous {
        report.comparison = Some(compare::compare(previous, &report));
    }
    Ok(report)
}

fn capacity_context<'a, E: Engine>(
    engine: &'a E,
    stack: &'a ValidatedStack,
    plan: &'a Plan,
    targets: &'a [http::RouteTarget],
    sampler: &'a usage::Sampler,
    idle: (f64, u64),
    cores: u32,
) -> capacity::Context<'a, E> {
    capacity::Context {
        stack,
        plan,
        targets,
        sampler,
        psql: database::psql::Psql::of(engine, stack, plan),
        idle,
        cores,
        page_ms: stack.audit.targets.page.as_secs_f64() * 1000.0,
    }
}
