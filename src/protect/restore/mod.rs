//! Restores: the chosen base backup (verified) and the WAL after it into a new isolated
//! stack, into the stack itself (`in_place`), into a plain directory (`to_dir`), or a
//! logical dump into a new stack (`dump`). Nothing is created before the backup, its key and
//! its WAL chain are verified; a failed copy is removed.

mod copy;
pub mod credentials;
mod dump;
mod fill;
pub mod in_place;
mod job;
pub mod pick;
pub mod to_dir;
pub mod uploads;
mod verified;

pub(crate) use copy::{
    boot_copy, boot_database, checks, copy_spec, data_volume, into_copy, stack_exists, Copy,
    DataVolume, IntoCopy, Restored,
};
use copy::{copy_applier, removed_on_failure};
pub(crate) use fill::{concat, fill_on_host, recovery_conf, WAL_SUBDIR};
pub use pick::{dump_verified, pick_verified, Pick};
pub(crate) use verified::{verified_base, VerifiedBase};

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::api::validate::is_dns_label;
use crate::api::ValidatedStack;
use crate::docker::BollardEngine;
use crate::plan::Plan;
use crate::protect::stack_record;
use crate::protect::ProtectError;
use crate::secrets::SecretStore;

/// The database volume's mount path, and the cluster directory inside it.
pub(crate) const DATA: &str = "/var/lib/postgresql/data";
pub(crate) const PGDATA_DIR: &str = "pgdata";
pub(crate) const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
/// Helpers run as the image's user; as root (official images) they hand the files to postgres.
pub(crate) const CHOWN_IF_ROOT: &str =
    "if [ \"$(id -u)\" = 0 ]; then chown -R postgres:postgres /var/lib/postgresql/data; fi";

/// What to restore and where: the restore's options, as the CLI or a drill states them.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The manifest file the stack came from (named in the undo hint of an in-place restore).
    pub file: PathBuf,
    /// A new, isolated stack to restore into; None restores in place (with `force`).
    pub into: Option<String>,
    /// `latest`, an RFC 3339 time or a base backup id.
    pub to: String,
    /// Replace the stack's own database.
    pub force: bool,
    /// Restore this logical dump instead of a base backup.
    pub from_dump: Option<String>,
    /// Unpack into this directory instead of a stack.
    pub to_dir: Option<PathBuf>,
}

/// Errors of a restore: refused input (nothing was created) or a failure on the way.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Protect(#[from] ProtectError),
    #[error(transparent)]
    Docker(#[from] crate::docker::DockerError),
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
    #[error("{0}")]
    Failed(String),
}

impl RestoreError {
    /// A stable category for metrics and reports.
    pub fn category(&self) -> &'static str {
        match self {
            RestoreError::Invalid(_) => "invalid",
            RestoreError::Protect(e) => e.category(),
            RestoreError::Docker(e) => e.category(),
            RestoreError::Secret(_) => "secret",
            RestoreError::Failed(_) => "failed",
        }
    }
}

async fn connect() -> Result<Arc<BollardEngine>, RestoreError> {
    Ok(BollardEngine::connect_default().await?)
}

fn secrets(state_dir: &Path, plan: &Plan) -> Result<Arc<crate::secrets::Resolved>, RestoreError> {
    Ok(Arc::new(
        SecretStore::new(state_dir, &plan.stack).ensure(&plan.secrets)?,
    ))
}

/// `--to`: `latest`, a base backup id or an RFC 3339 time.
pub fn parse_to(to: &str) -> Result<Pick, RestoreError> {
    if to == "latest" {
        return Ok(Pick::Latest);
    }
    if to.starts_with("base-") {
        return Ok(Pick::Id(to.to_string()));
    }
    DateTime::parse_from_rfc3339(to)
        .map(|t| Pick::Time(t.with_timezone(&Utc)))
        .map_err(|e| {
            RestoreError::Invalid(format!(
                "--to: {to:?} is not `latest`, a base backup id (base-...) or an RFC 3339 time such as 2026-11-23T10:15:00Z ({e})"
            ))
        })
}

/// Restores the chosen backup (and WAL) into a new isolated stack and brings it up healthy.
pub async fn run(
    args: &Request,
    stack: ValidatedStack,
    state_dir: &Path,
) -> Result<(), RestoreError> {
    let started = Instant::now();
    if let Some(dir) = &args.to_dir {
        return to_dir::to_dir(&stack, dir, &parse_to(&args.to)?, started).await;
    }
    if let Some(into) = &args.into {
        if !is_dns_label(into) || into.len() > 40 {
            return Err(RestoreError::Invalid(format!("--into: {into:?} is not a valid stack name (lowercase letters, digits and '-', at most 40)")));
        }
        if *into == stack.name {
            return Err(RestoreError::Invalid(
                "--into must name a new stack; to replace the stack's own database use --force without --into".into(),
            ));
        }
    } else if !args.force {
        return Err(RestoreError::Invalid("restoring without --into replaces the stack's own database: add --force (a safety backup is taken first), or --into NAME to restore into an isolated copy".into()));
    } else if args.from_dump.is_some() {
        return Err(RestoreError::Invalid("--from-dump restores into a copy only (--into NAME): a dump makes a new cluster, whose WAL would collide with this stack's archived WAL".into()));
    }
    let into = args.into.clone().unwrap_or_else(|| stack.name.clone());
    let pick = parse_to(&args.to)?;
    if stack.database.is_none() {
        return Err(RestoreError::Invalid(
            "spec.database: not set; nothing to restore".into(),
        ));
    }
    let store = Arc::new(crate::protect::store::open_store(&stack)?);
    // Everything is verified (backup, key, WAL chain) before anything is created.
    let key = crate::protect::store::spec_key(&stack)?;
    if let Some(id) = &args.from_dump {
        let record = stack_record::newest(store.as_ref(), &stack.name, key.as_ref(), None).await?;
        return dump::run(
            &stack,
            store,
            id,
            &into,
            record.as_ref(),
            started,
            state_dir,
        )
        .await;
    }
    let base = verified_base(&store, &stack, &pick, &into).await?;
    if args.into.is_none() {
        return in_place::run(args, &stack, store, base, &pick, started, state_dir).await;
    }
    let record =
        stack_record::newest(store.as_ref(), &stack.name, key.as_ref(), base.files_before).await?;
    into_copy(IntoCopy {
        stack: &stack,
        store,
        base,
        into: &into,
        pick: &pick,
        started,
        state_dir,
        record: record.as_ref(),
        rebuild: false,
    })
    .await
    .map(|_| ())
}

fn pick_error(e: ProtectError) -> RestoreError {
    match e {
        ProtectError::UnknownBackup { .. } => RestoreError::Invalid(e.to_string()),
        ProtectError::Checksum { key, actual, .. } => RestoreError::Failed(format!(
            "refusing to restore a corrupt backup: {key}: {actual}"
        )),
        other => RestoreError::Failed(other.to_string()),
    }
}

pub(crate) fn rt(e: ProtectError) -> RestoreError {
    RestoreError::Failed(e.to_string())
}

pub(crate) fn check_helper(
    what: &str,
    out: crate::docker::engine::ExecOutput,
) -> Result<(), RestoreError> {
    if out.exit_code != 0 {
        return Err(RestoreError::Failed(format!(
            "{what} failed (exit {}): {}",
            out.exit_code,
            out.output.trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_accepts_latest_ids_and_times_only() {
        assert_eq!(parse_to("latest").unwrap(), Pick::Latest);
        assert!(matches!(
            parse_to("base-20261123T020000.000Z").unwrap(),
            Pick::Id(_)
        ));
        let Pick::Time(t) = parse_to("2026-11-23T10:15:00.250+01:00").unwrap() else {
            panic!("not a time")
        };
        assert!(recovery_conf(&Pick::Time(t))
            .contains("recovery_target_time = '2026-11-23 09:15:00.250000+00'"));
        assert!(recovery_conf(&Pick::Id("base-x".into())).contains("recovery_target = 'immediate'"));
        assert!(!recovery_conf(&Pick::Latest).contains("recovery_target ="));
        let err = parse_to("yesterday").unwrap_err().to_string();
        assert!(err.contains("--to") && err.contains("RFC 3339"), "{err}");
    }
}
