//! `appstack restore --force` (no `--into`): the stack's own database replaced by a backup.
//!
//! Nothing is touched until the backup, its key and its WAL are verified (by the caller) and
//! a safety copy of the current database exists: a base backup into the store when the
//! database answers, otherwise its cluster directory is moved aside inside the data volume
//! (a broken database is the usual reason to restore in place). Then the stack's containers
//! go (volumes stay), the WAL spool is emptied — it holds the timeline being abandoned, and
//! `pg_receivewal` must start afresh on the new one — and the database boots alone until it
//! is promoted. Only then does the rest of the stack start, and a base backup on the new
//! timeline makes the restored state recoverable at once. `appstack run` leaves the stack
//! alone throughout (see `maintenance`).

use crate::docker::engine::Exec;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use std::time::Instant;

use super::credentials::Credentials;
use super::job::Job;
use super::{check_helper, rt, uploads, Copy, Pick, Request, RestoreError, VerifiedBase};
use super::{CHOWN_IF_ROOT, DATA, PGDATA};
use crate::api::ValidatedStack;
use crate::docker::apply::Applier;
use crate::docker::down::down;
use crate::docker::engine::Volumes;
use crate::docker::progress::Lines;
use crate::docker::BollardEngine;
use crate::plan;
use crate::plan::names::volume_name;
use crate::plan::wal::{SPOOL_PATH, WAL_SPOOL_VOLUME};
use crate::plan::{Plan, LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_STACK};
use crate::protect::backup::psql_argv;
use crate::protect::jobs::take_one;
use crate::protect::manifest::Kind;
use crate::protect::runner::{capture, capture_bytes, DockerRunner};
use crate::protect::shipper::ShipperConfig;
use crate::protect::spool::put_wal_file;
use crate::protect::target::AnyStore;
use crate::protect::wal::WalKind;

/// What lets the user undo the restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Safety {
    /// A base backup of the database as it was, in the store.
    Backup(String),
    /// The old cluster directory, kept in the data volume under this name.
    KeptAside(String),
}

impl Safety {
    pub(crate) fn undo_hint(&self, file: &Path, volume: &str) -> String {
        match self {
            Safety::Backup(id) => format!(
                "the database as it was is in safety backup {id}: `appstack restore -f {} --to {id} --force` brings it back",
                file.display()
            ),
            Safety::KeptAside(dir) => format!(
                "the database did not answer, so it could not be backed up: its old cluster directory is kept as {dir} in volume {volume}"
            ),
        }
    }
}

/// The plan that boots the database alone, so nothing connects before it is promoted.
pub(crate) fn database_only(plan: &Plan) -> Plan {
    let mut alone = plan.clone();
    alone.components.retain(|c| c.name == "database");
    alone
}

/// The base restore into the stack itself, its uploads too (see the module's comment).
pub(crate) async fn run(
    args: &Request,
    stack: &ValidatedStack,
    store: Arc<AnyStore>,
    base: VerifiedBase,
    pick: &Pick,
    started: Instant,
    state_dir: &Path,
) -> Result<(), RestoreError> {
    let VerifiedBase {
        manifest,
        key,
        chain,
        wal_key,
        files_before,
        ..
    } = base;
    let _maintenance = crate::maintenance::begin(state_dir, &stack.name)
        .map_err(|e| RestoreError::Failed(e.to_string()))?;
    let engine = super::connect().await?;
    let full = Arc::new(plan::build(stack));
    let files = match uploads::uploads_path(stack) {
        Some(_) => uploads::pick_files(&store, &stack.name, files_before).await?,
        None => None,
    };
    // The uploads are replaced only once they are safe in the store.
    let files = match files {
        Some(m) if uploads::safety_backup(&engine, stack, &store).await? => Some(m),
        _ => None,
    };
    let safety = prepare(&engine, &full, stack, &store).await?;
    if files.is_some() {
        crate::docker::error::ignore_not_found(
            engine
                .remove_volume(&volume_name(&stack.name, uploads::UPLOADS_VOLUME))
                .await,
        )?;
    }
    let undo = safety.undo_hint(&args.file, &volume_name(&stack.name, "database-data"));
    let copy = Copy {
        engine: engine.clone(),
        store: store.clone(),
        stack,
        plan: full.clone(),
        manifest: &manifest,
        key,
        started,
        state_dir,
        uploads: files,
        credentials: Credentials::Restored,
    };
    // The rest of the stack starts in `finish`, once the new timeline's history is stored.
    let job = Job {
        copy: &copy,
        chain,
        wal_key,
        pick,
        new_timeline: true,
        boot_all: false,
    };
    let result = match job.run().await {
        Ok(_) => finish(&engine, full, stack, &store, state_dir).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => {
            eprintln!("{undo}");
            Ok(())
        }
        Err(e) => Err(RestoreError::Failed(format!(
            "in-place restore failed: {e}; {undo}"
        ))),
    }
}

/// Takes the safety copy, then clears the way: containers removed, spool emptied, the old
/// cluster directory deleted (it is in the safety backup) or moved aside.
pub(crate) async fn prepare(
    engine: &Arc<BollardEngine>,
    plan: &Plan,
    stack: &ValidatedStack,
    store: &AnyStore,
) -> Result<Safety, RestoreError> {
    let Some(db) = &stack.database else {
        return Err(RestoreError::Invalid(
            "spec.database: not set; nothing to restore".into(),
        ));
    };
    let runner = DockerRunner {
        engine: engine.clone(),
        stack: plan.stack.clone(),
    };
    let answers = capture(
        &runner,
        "database",
        psql_argv(&db.user, &db.name, &["SELECT 1"]),
    )
    .await
    .is_ok();
    let safety = if answers {
        eprintln!(
            "taking a safety backup of {} before replacing its database ...",
            stack.name
        );
        let target = crate::protect::store::backup_target(stack)?;
        let m = take_one(store, &runner, &target, Kind::Base)
            .await
            .map_err(|e| {
                RestoreError::Failed(format!(
                    "the safety backup failed, so nothing was changed: {e}"
                ))
            })?;
        eprintln!("safety backup {} taken", m.id);
        Safety::Backup(m.id)
    } else {
        let dir = format!(
            "pgdata.pre-restore-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        );
        eprintln!(
            "the database of {} does not answer; its cluster directory will be kept as {dir}",
            stack.name
        );
        Safety::KeptAside(dir)
    };

    let removed = down(engine.as_ref(), plan, false, &Lines::new()).await?;
    eprintln!(
        "stopped {}: {removed} container(s) removed, volumes kept",
        stack.name
    );

    let mut mounts = vec![(volume_name(&plan.stack, "database-data"), DATA.to_string())];
    let mut script = match &safety {
        Safety::Backup(_) => format!("set -e; rm -rf {PGDATA}"),
        Safety::KeptAside(dir) => {
            format!("set -e; if [ -e {PGDATA} ]; then mv {PGDATA} {DATA}/{dir}; fi")
        }
    };
    script.push_str(&format!("; mkdir -m 700 {PGDATA}; {CHOWN_IF_ROOT}"));
    if plan.volumes.iter().any(|v| v.name == WAL_SPOOL_VOLUME) {
        mounts.push((
            volume_name(&plan.stack, WAL_SPOOL_VOLUME),
            SPOOL_PATH.to_string(),
        ));
        script.push_str(&format!("; find {SPOOL_PATH} -mindepth 1 -delete"));
    }
    let labels = HashMap::from([
        (LABEL_STACK.to_string(), plan.stack.clone()),
        (LABEL_MANAGED_BY.to_string(), "appstack".to_string()),
        (LABEL_COMPONENT.to_string(), "restore".to_string()),
    ]);
    let (_, nothing) = tokio::sync::mpsc::channel(1);
    let out = engine
        .run_with_stdin(
            &format!("{}-restore-clear", plan.stack),
            &db.image,
            &script,
            mounts,
            labels,
            nothing,
        )
        .await?;
    check_helper("clearing the old data directory", out)?;
    Ok(safety)
}

/// The promoted database's timeline: the first 8 hex digits of its current WAL file.
async fn current_timeline(
    runner: &DockerRunner<BollardEngine>,
    db: &crate::api::validated::Database,
) -> Result<u32, RestoreError> {
    let sql = "SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)";
    let hex = capture(runner, "database", psql_argv(&db.user, &db.name, &[sql]))
        .await
        .map_err(rt)?;
    u32::from_str_radix(&hex, 16)
        .map_err(|_| RestoreError::Failed(format!("unexpected WAL file name prefix {hex:?}")))
}

/// Stores the new timeline's history file at once: the next restore picks its timeline id
/// from the histories in the store, and `appstack run` (whose shipper would store it too)
/// may not be running.
async fn publish_history(
    runner: &DockerRunner<BollardEngine>,
    stack: &ValidatedStack,
    store: &AnyStore,
) -> Result<u32, RestoreError> {
    let (Some(db), Some(backup)) = (&stack.database, &stack.backup) else {
        return Err(RestoreError::Invalid("spec.backup: not set".into()));
    };
    let tli = current_timeline(runner, db).await?;
    let kind = WalKind::History(tli);
    let argv = vec![
        "cat".to_string(),
        format!("{PGDATA}/pg_wal/{}", kind.file_name()),
    ];
    let raw = capture_bytes(runner, "database", argv).await.map_err(rt)?;
    let cfg = ShipperConfig {
        stack: stack.name.clone(),
        spool: Default::default(),
        interval: Default::default(),
        compression_level: backup.compression_level,
        key: crate::protect::store::spec_key(stack)?,
        alert_bytes: 0,
        parallel: 1,
    };
    let system = crate::protect::backup::system_identifier(runner, &db.user, &db.name).await;
    put_wal_file(store, &cfg, kind, system, raw)
        .await
        .map_err(rt)?;
    Ok(tli)
}

/// Starts the whole stack on the restored database and backs up its new timeline.
pub(crate) async fn finish(
    engine: &Arc<BollardEngine>,
    plan: Arc<Plan>,
    stack: &ValidatedStack,
    store: &AnyStore,
    state_dir: &Path,
) -> Result<(), RestoreError> {
    let runner = DockerRunner {
        engine: engine.clone(),
        stack: plan.stack.clone(),
    };
    let tli = publish_history(&runner, stack, store).await?;
    eprintln!("the restored database continues on timeline {tli}; its history is in the store");
    let applier = Applier {
        engine: engine.clone(),
        plan: plan.clone(),
        secrets: super::secrets(state_dir, &plan)?,
        reporter: Arc::new(Lines::new()),
        wait: true,
    };
    applier.apply().await?;
    eprintln!(
        "stack {} is up on the restored database; taking a base backup of its new timeline ...",
        stack.name
    );
    let runner = DockerRunner {
        engine: engine.clone(),
        stack: plan.stack.clone(),
    };
    let target = crate::protect::store::backup_target(stack)?;
    let m = take_one(store, &runner, &target, Kind::Base).await.map_err(|e| {
        RestoreError::Failed(format!(
            "the database was restored and the stack is up, but the base backup of its new timeline failed: {e}; take one with `appstack backup now --only db`"
        ))
    })?;
    eprintln!(
        "base backup {} taken: the restored state is recoverable (timeline {})",
        m.id,
        m.timeline
            .map_or_else(|| "?".to_string(), |t| t.to_string())
    );
    Ok(())
}
