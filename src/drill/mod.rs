//! DR drills: the stack's latest recoverable state is restored into an isolated copy,
//! booted and checked, and the objectives are *measured*: RTO from the start of the
//! restore to the copy passing its smoke checks, RPO from marker rows written into the
//! live database just before the cut (see `marker`). `docker` runs the copy as a stack of
//! its own, `kube_pod` is the drill CronJob's pod (built by `kube::drill`); the steps both
//! share are in `runbook`, what is measured and reported in `report`.

pub mod cut;
pub mod docker;
pub mod fault;
pub mod kube_pod;
pub mod markdown;
pub mod marker;
pub mod random_point;
pub mod recover;
pub mod report;
pub mod runbook;
pub mod smoke;
pub mod timeline;

pub use report::{Report, Step};
pub use runbook::{reports_dir, verdict};

/// How a Docker-mode drill treats its copy.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Leave the copy running for inspection.
    pub keep: bool,
    /// Only remove a copy left behind.
    pub clean: bool,
    /// Damage what the drill reads (never the store itself): the drill must then fail.
    pub fault: Option<fault::Fault>,
    /// Restore a random point of the recoverability window instead of the latest.
    pub to_random: bool,
}

/// Errors of a drill, each with a stable category.
#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// Refused input: nothing was done.
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Restore(#[from] crate::protect::restore::RestoreError),
    #[error(transparent)]
    Protect(#[from] crate::protect::ProtectError),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    /// A manifest (stored, or with its overrides) that does not validate.
    #[error(transparent)]
    Validation(#[from] crate::api::ValidationErrors),
    /// The drill ran and failed (an objective missed, a check failed, a step broke).
    #[error("{0}")]
    Failed(String),
}

impl DrillError {
    pub fn category(&self) -> &'static str {
        match self {
            DrillError::Invalid(_) => "invalid",
            DrillError::Restore(e) => e.category(),
            DrillError::Protect(e) => e.category(),
            DrillError::Docker(e) => e.category(),
            DrillError::Secret(_) => "secret",
            DrillError::Validation(_) => "invalid",
            DrillError::Failed(_) => "failed",
        }
    }
}

/// A new drill id: `drill-<UTC time, ms>`, sortable and safe as an SQL literal and a key.
pub fn new_id(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("drill-{}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

/// Every drill of `stack` its store holds a report of, oldest first.
pub async fn history(stack: &crate::api::ValidatedStack) -> Result<Vec<Report>, DrillError> {
    let store = crate::protect::store::open_store(stack)?;
    Ok(Report::history(&store, &stack.name).await?)
}
