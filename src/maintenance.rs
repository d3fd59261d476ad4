//! A stack under maintenance (an in-place restore, a deploy, a rollback) is left alone by
//! `appstack run` and refused by `appstack up`: the process holds an exclusive lock on
//! `<state>/stacks/<stack>/maintenance.lock`. An OS file lock, not a marker file, so a
//! killed restore never leaves the stack locked.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error("stack {stack} is under maintenance by another appstack process (an in-place restore, a deploy or a rollback)")]
    Busy { stack: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for as long as the stack is under maintenance; dropping it ends the maintenance.
#[derive(Debug)]
pub struct Guard {
    _file: File,
}

fn path(state_dir: &Path, stack: &str) -> PathBuf {
    state_dir
        .join("stacks")
        .join(stack)
        .join("maintenance.lock")
}

fn open(state_dir: &Path, stack: &str) -> Result<File, MaintenanceError> {
    let path = path(state_dir, stack);
    let io = |source| MaintenanceError::Io {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)
}

/// Puts the stack under maintenance, or says who already has.
pub fn begin(state_dir: &Path, stack: &str) -> Result<Guard, MaintenanceError> {
    let file = open(state_dir, stack)?;
    match file.try_lock() {
        Ok(()) => Ok(Guard { _file: file }),
        Err(TryLockError::WouldBlock) => Err(MaintenanceError::Busy {
            stack: stack.to_string(),
        }),
        Err(TryLockError::Error(source)) => Err(MaintenanceError::Io {
            path: path(state_dir, stack),
            source,
        }),
    }
}

/// Whether another process has the stack under maintenance now. A state directory that
/// cannot be read counts as no maintenance: the daemon must not stall on it.
pub fn active(state_dir: &Path, stack: &str) -> bool {
    if !path(state_dir, stack).exists() {
        return false;
    }
    let Ok(file) = open(state_dir, stack) else {
        return false;
    };
    // A shared lock conflicts only with the restore's exclusive one; it is released when
    // `file` closes.
    matches!(file.try_lock_shared(), Err(TryLockError::WouldBlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_released_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!active(dir.path(), "shop"));
        let guard = begin(dir.path(), "shop").unwrap();
        assert!(active(dir.path(), "shop"));
        assert!(!active(dir.path(), "other"));
        let err = begin(dir.path(), "shop").unwrap_err().to_string();
        assert!(
            err.contains("under maintenance by another appstack process"),
            "{err}"
        );
        drop(guard);
        assert!(!active(dir.path(), "shop"));
        begin(dir.path(), "shop").unwrap();
    }
}
