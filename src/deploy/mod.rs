//! `appstack deploy`: the users' deploy runbook as one command — pre-flight, an optional
//! maintenance page while an optional migration runs in the new image, the blue/green
//! cutover, a health check and a watch window under a built-in probe, and an automatic
//! rollback when the new version does worse than the old one.

mod docker_flow;
mod kube_flow;
pub mod manifest;
pub mod preflight;
pub mod probe;
mod probe_target;
pub mod report;

pub use docker_flow::deploy;
pub use kube_flow::deploy_in_cluster;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::docker::DockerError;

/// What to deploy and how.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub component: String,
    pub image: String,
    /// Run `spec.<component>.migrate` in the new image before the cutover.
    pub migrate: bool,
    /// Serve the maintenance page while migrating and starting the new version.
    pub maintenance: bool,
    /// The manifest to write the new image into after a successful deploy.
    pub write: Option<PathBuf>,
    /// How long the new version is watched before the old one is let go.
    pub watch: Duration,
    /// Probe requests per second (bounded by `watch` and the deploy's own length).
    pub rate: u32,
    /// Path the probe asks on the component's route.
    pub probe_path: String,
    /// The most a migration may take.
    pub migrate_timeout: Duration,
    /// The most the new container may take to pass its health check (None: the
    /// component's own start period and retries).
    pub health_timeout: Option<Duration>,
}

/// How a deploy ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The new version serves; the old one is kept, stopped, for `rollback`.
    Deployed,
    /// The new version served, did worse, and the old one serves again.
    RolledBack,
    /// The new version never took traffic; the old one kept serving throughout.
    Aborted,
}

/// What `deploy` prints (and `-o json` gives whole).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployReport {
    pub stack: String,
    pub component: String,
    pub from_image: String,
    pub to_image: String,
    pub outcome: Outcome,
    /// Why it was rolled back or aborted.
    pub reason: Option<String>,
    /// From the command to the edge sending new requests to the new version (ms).
    pub switched_after_ms: Option<f64>,
    /// How long the new container took to pass its health check (ms).
    pub healthy_after_ms: Option<f64>,
    pub migration: Option<Migration>,
    /// Checks that passed before the cutover and failed after it.
    pub health_regressions: Vec<String>,
    pub probe: Option<probe::ProbeReport>,
    /// Whether the manifest now names the new image.
    pub written: bool,
    pub total_ms: f64,
}

impl DeployReport {
    /// A report of a deploy that has not switched yet (outcome: aborted until it does).
    pub fn start(stack: &str, component: &str, from_image: &str, to_image: &str) -> Self {
        DeployReport {
            stack: stack.into(),
            component: component.into(),
            from_image: from_image.into(),
            to_image: to_image.into(),
            outcome: Outcome::Aborted,
            reason: None,
            switched_after_ms: None,
            healthy_after_ms: None,
            migration: None,
            health_regressions: Vec::new(),
            probe: None,
            written: false,
            total_ms: 0.0,
        }
    }
}

/// The migration's result.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Migration {
    pub exit_code: i64,
    pub took_ms: f64,
    /// Its last output lines.
    pub output: String,
}

/// A deploy that could not run or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The request or the manifest is wrong (exit 2, nothing changed).
    #[error("{0}")]
    Invalid(String),
    /// A pre-flight check refused (exit 1, nothing changed).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error("{0}")]
    Health(String),
}

impl DeployError {
    pub fn category(&self) -> &'static str {
        match self {
            DeployError::Invalid(_) => "invalid",
            DeployError::Refused(_) => "refused",
            DeployError::Docker(e) => e.category(),
            DeployError::Health(_) => "health",
        }
    }
}
