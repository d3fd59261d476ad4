//! Errors of the data-protection engine, each with a stable category for metrics.

#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    #[error("backup store {location}: {message}")]
    Store { location: String, message: String },
    #[error("object {key} not found in the backup store")]
    NotFound { key: String },
    #[error("{tool} failed (exit {code}): {stderr}")]
    Tool {
        tool: String,
        code: i64,
        stderr: String,
    },
    #[error("cannot run {tool}: {message}")]
    Exec { tool: String, message: String },
    #[error("object {key} is corrupt: sha256 {actual}, manifest says {expected}")]
    Checksum {
        key: String,
        expected: String,
        actual: String,
    },
    #[error("manifest {key}: {message}")]
    Manifest { key: String, message: String },
    #[error("backup {id} not found (see `appstack backup list`)")]
    UnknownBackup { id: String },
    /// A sealed object cannot be opened: no key, or not the key that sealed it.
    #[error("{0}")]
    Sealed(String),
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Io(String),
}

impl ProtectError {
    pub fn category(&self) -> &'static str {
        match self {
            ProtectError::Store { .. } => "store",
            ProtectError::NotFound { .. } => "not_found",
            ProtectError::Tool { .. } => "tool",
            ProtectError::Exec { .. } => "exec",
            ProtectError::Checksum { .. } => "checksum",
            ProtectError::Manifest { .. } => "manifest",
            ProtectError::UnknownBackup { .. } => "unknown_backup",
            ProtectError::Sealed(_) => "sealed",
            ProtectError::Config(_) => "config",
            ProtectError::Io(_) => "io",
        }
    }
}
