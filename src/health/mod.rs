//! `appstack health-check`: what the users run after every deploy and every restore. Each
//! check has an id, a group, a level, the evidence it saw and the manifest change that fixes
//! it; real requests and real connections, never only the spec. Groups: security,
//! connectivity, storage, recoverability, runtime. It sits beside the daemon and the drill,
//! whose facts (heartbeat, shipper state, drill reports) it reads.

pub mod app;
mod docker_facts;
mod facts;
mod kube_exposure;
mod kube_facts;
mod protection;
mod security;
mod stack;

use std::time::{Duration, Instant};

use serde::Serialize;

pub use facts::{Facts, Mode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Security,
    Connectivity,
    Storage,
    Recoverability,
    Runtime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub id: &'static str,
    pub group: Group,
    pub level: Level,
    pub passed: bool,
    /// What was seen (never a secret's value).
    pub evidence: String,
    /// The manifest change that fixes it (empty when it passed).
    pub fix: String,
}

impl Check {
    pub fn pass(id: &'static str, group: Group, level: Level, evidence: impl Into<String>) -> Self {
        Check {
            id,
            group,
            level,
            passed: true,
            evidence: evidence.into(),
            fix: String::new(),
        }
    }

    pub fn fail(
        id: &'static str,
        group: Group,
        level: Level,
        evidence: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Check {
            id,
            group,
            level,
            passed: false,
            evidence: evidence.into(),
            fix: fix.into(),
        }
    }

    /// `pass` or `fail` by `ok`.
    pub fn judge(
        id: &'static str,
        group: Group,
        level: Level,
        ok: bool,
        evidence: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        if ok {
            Self::pass(id, group, level, evidence)
        } else {
            Self::fail(id, group, level, evidence, fix)
        }
    }
}

/// Every check of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub stack: String,
    pub checks: Vec<Check>,
    #[serde(rename = "seconds")]
    pub took: f64,
}

impl Report {
    /// 0 when everything passes; 1 on a failed error (and, `strict`, a failed warning).
    pub fn exit_code(&self, strict: bool) -> i32 {
        let failing = self
            .checks
            .iter()
            .any(|c| !c.passed && (c.level == Level::Error || strict));
        i32::from(failing)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// The stack has no container on this engine, or no AppStack in the cluster.
    #[error("{0}")]
    NoStack(String),
    /// The AppStack in the cluster does not validate.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Engine(String),
    #[error("{0}")]
    Cluster(String),
}

impl HealthError {
    pub fn category(&self) -> &'static str {
        match self {
            HealthError::NoStack(_) => "no_stack",
            HealthError::Invalid(_) => "invalid",
            HealthError::Engine(_) => "engine",
            HealthError::Cluster(_) => "cluster",
        }
    }
}

/// Runs every check of `stack` against what runs on `engine` (Docker mode).
pub async fn run<E: crate::docker::Engine>(
    engine: std::sync::Arc<E>,
    stack: &crate::api::ValidatedStack,
    plan: &crate::plan::Plan,
    state_dir: &std::path::Path,
) -> Result<Report, HealthError> {
    let started = Instant::now();
    let facts = docker_facts::gather(engine, stack, plan, state_dir).await?;
    Ok(judge(&facts, started).await)
}

/// Runs every check of the AppStack `namespace/name` against what runs in the cluster.
pub async fn run_in_cluster(
    client: kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Report, HealthError> {
    let started = Instant::now();
    let facts = kube_facts::gather(client, namespace, name).await?;
    Ok(judge(&facts, started).await)
}

async fn judge(facts: &Facts, started: Instant) -> Report {
    let mut checks = Vec::new();
    checks.extend(security::checks(facts).await);
    checks.extend(stack::connectivity(facts).await);
    checks.extend(stack::storage(facts).await);
    checks.extend(protection::checks(facts));
    checks.extend(stack::runtime(facts));
    Report {
        stack: facts.stack.name.clone(),
        checks,
        took: Duration::as_secs_f64(&started.elapsed()),
    }
}
