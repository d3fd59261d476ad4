//! `appstack audit`: the users' performance audit as one command — each route's phases,
//! the host's and every component's headroom, the job queues — bounded in requests and
//! time, against the stack's own addresses on this host (Docker mode) or through the
//! cluster's API (Kubernetes mode, `kube`).

pub mod capacity;
pub mod cgroup;
pub mod compare;
pub mod database;
pub mod exec;
pub mod forward;
pub mod host;
pub mod http;
pub mod jobs;
pub mod kube;
pub mod kube_usage;
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
    /// Where it ran: `docker`, or `kubernetes (namespace NS)`.
    pub runtime: String,
    pub started_at: String,
    pub seconds: f64,
    pub routes: Vec<http::RouteTiming>,
    /// This host (Docker mode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<host::Host>,
    /// The cluster's nodes (Kubernetes mode).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<kube_usage::NodeUsage>,
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
    check_auditable(stack, plan)?;
    let targets = routes::targets(engine, stack, plan).await?;
    // Idle headroom first, so the timings' own load does not show in it.
    let sampler = usage::Sampler::new(engine, plan).await?;
    let before = sampler.snapshot();
    let host = host::measure(Duration::from_secs(2), &["/", "/var/lib/docker"]).await;
    let components = sampler.between(&before, &sampler.snapshot());
    let exec = exec::InContainer { engine, plan };
    let measured = measure(&exec, stack, &targets, req, started).await?;
    let (capacity, capacity_error) = match &req.capacity {
        Some(creq) => {
            let idle = (
                components.iter().map(|c| c.cpu_cores).sum(),
                components.iter().map(|c| c.memory_bytes).sum(),
            );
            let until = started + req.max_duration.mul_f64(0.98);
            let cx = capacity::Context {
                stack,
                plan,
                targets: &targets,
                sampler: &sampler,
                psql: database::psql::Psql::of(&exec, stack),
                idle,
                cores: host.cores,
                page_ms: stack.audit.targets.page.as_secs_f64() * 1000.0,
            };
            match capacity::run(&cx, creq, until).await {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            }
        }
        None => (None, None),
    };
    let share = recommend::HostShare::of(&host, &components);
    let headroom = Headroom {
        runtime: "docker".into(),
        host: Some(host),
        nodes: Vec::new(),
        components,
        unmeasured: sampler.unreadable.clone(),
    };
    Ok(assemble(
        stack,
        req,
        measured,
        headroom,
        (capacity, capacity_error),
        &share,
    ))
}

/// A stack without a frontend or CMS has no route to audit: said before anything is
/// measured or opened.
pub fn check_auditable(stack: &ValidatedStack, plan: &Plan) -> Result<(), AuditError> {
    if routes::wanted(stack, plan).is_empty() {
        return Err(AuditError::Invalid(format!(
            "{}: the stack has no frontend or CMS to audit",
            stack.name
        )));
    }
    Ok(())
}

/// What every runtime measures the same way: the routes' timings, the queues, the database.
pub struct Measured {
    started: Instant,
    started_at: String,
    routes: Vec<http::RouteTiming>,
    queues: Vec<jobs::QueueFigures>,
    database: Option<database::DatabaseAudit>,
}

/// Where the audit ran, and the headroom as that runtime reports it: this host's (Docker)
/// or the nodes' (Kubernetes).
pub struct Headroom {
    pub runtime: String,
    pub host: Option<host::Host>,
    pub nodes: Vec<kube_usage::NodeUsage>,
    pub components: Vec<usage::ComponentUsage>,
    pub unmeasured: Vec<String>,
}

/// Times the routes, counts the queues and audits the database, within the bound (the
/// database's trials get a share of it when the load test follows).
pub async fn measure<X: exec::Exec>(
    exec: &X,
    stack: &ValidatedStack,
    targets: &[http::RouteTarget],
    req: &AuditRequest,
    started: Instant,
) -> Result<Measured, AuditError> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut routes = Vec::new();
    for t in targets {
        if started.elapsed() >= req.max_duration {
            break;
        }
        routes.push(http::time_route(t, req.samples).await);
    }
    let queues = jobs::measure(exec, stack).await;
    let db_share = if req.capacity.is_some() { 0.4 } else { 0.95 };
    let deadline = started + req.max_duration.mul_f64(db_share);
    let database = database::audit(exec, stack, req.apply_indexes, deadline).await;
    Ok(Measured {
        started,
        started_at,
        routes,
        queues,
        database,
    })
}

/// The report from its parts: recommendations, verdicts and the comparison added.
pub fn assemble(
    stack: &ValidatedStack,
    req: &AuditRequest,
    m: Measured,
    headroom: Headroom,
    (capacity, capacity_error): (Option<capacity::Capacity>, Option<String>),
    share: &recommend::HostShare,
) -> AuditReport {
    let recommendations =
        recommend::recommend(stack, m.database.as_ref(), capacity.as_ref(), share);
    let targets = report::Targets::of(stack);
    let verdicts = report::verdicts(&targets, &m.routes, &m.queues, m.database.as_ref());
    let mut report = AuditReport {
        stack: stack.name.clone(),
        runtime: headroom.runtime,
        started_at: m.started_at,
        seconds: m.started.elapsed().as_secs_f64(),
        routes: m.routes,
        host: headroom.host,
        nodes: headroom.nodes,
        components: headroom.components,
        unmeasured: headroom.unmeasured,
        queues: m.queues,
        database: m.database,
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
    report
}
