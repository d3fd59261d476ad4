//! What every subcommand shares: loading a manifest, connecting, and exit codes.

use std::path::Path;
use std::sync::Arc;

use crate::api::{load_validated, ValidatedStack, ValidationErrors};
use crate::docker::{BollardEngine, DockerError};
use crate::plan::{self, Plan};
use crate::secrets::{Resolved, SecretError, SecretStore};

/// Process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Runtime = 1,
    Invalid = 2,
}

/// A failed command, with the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Validation(#[from] ValidationErrors),
    #[error(transparent)]
    Docker(#[from] DockerError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("{0}")]
    Runtime(String),
}

/// Input the store or the spec refused is invalid input (exit 2); the rest is a failure.
impl From<crate::protect::ProtectError> for CliError {
    fn from(e: crate::protect::ProtectError) -> Self {
        use crate::protect::ProtectError as P;
        match e {
            P::Config(_) | P::UnknownBackup { .. } => CliError::Invalid(e.to_string()),
            other => CliError::Runtime(other.to_string()),
        }
    }
}

impl From<crate::protect::restore::RestoreError> for CliError {
    fn from(e: crate::protect::restore::RestoreError) -> Self {
        use crate::protect::restore::RestoreError as R;
        match e {
            R::Invalid(m) => CliError::Invalid(m),
            R::Protect(p) => p.into(),
            R::Docker(d) => CliError::Docker(d),
            R::Secret(s) => CliError::Secret(s),
            R::Failed(m) => CliError::Runtime(m),
        }
    }
}

impl From<crate::drill::DrillError> for CliError {
    fn from(e: crate::drill::DrillError) -> Self {
        use crate::drill::DrillError as D;
        match e {
            D::Invalid(m) => CliError::Invalid(m),
            D::Restore(r) => r.into(),
            D::Protect(p) => p.into(),
            D::Docker(d) => CliError::Docker(d),
            D::Secret(s) => CliError::Secret(s),
            D::Validation(v) => CliError::Validation(v),
            D::Failed(m) => CliError::Runtime(m),
        }
    }
}

impl From<crate::kube::source::SourceError> for CliError {
    fn from(e: crate::kube::source::SourceError) -> Self {
        use crate::kube::source::SourceError as S;
        match e {
            S::Invalid(v) => CliError::Validation(v),
            S::Missing { .. } => CliError::Invalid(e.to_string()),
            other => CliError::Runtime(other.to_string()),
        }
    }
}

impl CliError {
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Invalid(_) | CliError::Validation(_) => Exit::Invalid,
            CliError::Docker(
                DockerError::PortInUse { .. } | DockerError::ImageUnavailable { .. },
            ) => Exit::Invalid,
            _ => Exit::Runtime,
        }
    }
}

/// Loads and validates a manifest, and builds its plan.
pub fn load(file: &Path) -> Result<(ValidatedStack, Plan), CliError> {
    let (_, stack) = load_validated(file)?;
    let plan = plan::build(&stack);
    Ok((stack, plan))
}

pub async fn connect() -> Result<Arc<BollardEngine>, CliError> {
    Ok(BollardEngine::connect_default().await?)
}

pub fn secrets(state_dir: &Path, plan: &Plan) -> Result<Arc<Resolved>, CliError> {
    Ok(Arc::new(
        SecretStore::new(state_dir, &plan.stack).ensure(&plan.secrets)?,
    ))
}

/// A left-aligned text table.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, cell) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.clone()));
    }
    out
}

/// A duration argument (60s, 2m, 1h30m).
pub(super) fn duration(text: &str) -> Result<std::time::Duration, String> {
    crate::api::quantity::parse_duration(text)
        .ok_or_else(|| format!("{text:?} is not a duration such as 60s, 2m or 1h30m"))
}
