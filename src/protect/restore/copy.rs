//! The isolated copy a restore builds: its spec and plan, its empty data volume, how it
//! boots, the checks that prove it usable, and its removal when the restore fails.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::credentials::{self, Credentials};
use super::job::Job;
use super::{connect, rt, secrets, uploads, Pick, RestoreError, VerifiedBase, DATA};
use crate::api::ValidatedStack;
use crate::docker::apply::Applier;
use crate::docker::down::down;
use crate::docker::engine::{Containers, Volumes};
use crate::docker::progress::Lines;
use crate::docker::BollardEngine;
use crate::plan::names::volume_name;
use crate::plan::{self, Plan, LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_STACK};
use crate::protect::backup::psql_argv;
use crate::protect::manifest::Manifest;
use crate::protect::runner::{capture, DockerRunner};
use crate::protect::stack_record::StackRecord;
use crate::protect::target::AnyStore;
use crate::secrets::SecretStore;

/// A restore into a new stack: what it restores, from where, and where to.
pub(crate) struct IntoCopy<'a> {
    /// The stack whose backups are restored (its spec: from a manifest or the store).
    pub stack: &'a ValidatedStack,
    pub store: Arc<AnyStore>,
    pub base: VerifiedBase,
    /// The new stack's name.
    pub into: &'a str,
    pub pick: &'a Pick,
    pub started: Instant,
    pub state_dir: &'a Path,
    /// The stack record read from the store: its sealed secrets come back (else new ones).
    pub record: Option<&'a StackRecord>,
    /// The new stack is the stack itself, rebuilt (`recover`): its published ports and its
    /// backups stay; otherwise it is an isolated copy.
    pub rebuild: bool,
}

/// Restores `base` (and the uploads) into the new stack and brings it up healthy; removes
/// the partial copy when that fails.
pub(crate) async fn into_copy(req: IntoCopy<'_>) -> Result<Restored, RestoreError> {
    let spec = if req.rebuild {
        req.stack.clone()
    } else {
        copy_spec(req.stack, req.into)
    };
    let plan = Arc::new(plan::build(&spec));
    let engine = connect().await?;
    if stack_exists(&engine, req.into).await? {
        return Err(RestoreError::Invalid(format!(
            "stack {:?} already exists here: remove it with `appstack down --volumes` first",
            req.into
        )));
    }
    let uploads = match uploads::uploads_path(req.stack) {
        Some(_) => uploads::pick_files(&req.store, &req.stack.name, req.base.files_before).await?,
        None => None,
    };
    let (credentials, _) = credentials::install(req.state_dir, &plan, req.record)?;
    let copy = Copy {
        engine,
        store: req.store,
        stack: req.stack,
        plan,
        manifest: &req.base.manifest,
        key: req.base.key,
        started: req.started,
        state_dir: req.state_dir,
        uploads,
        credentials,
    };
    let result = Job {
        copy: &copy,
        chain: req.base.chain,
        wal_key: req.base.wal_key,
        pick: req.pick,
        new_timeline: req.rebuild,
        boot_all: true,
    }
    .run()
    .await;
    removed_on_failure(result, &copy.engine, &copy.plan, req.state_dir).await
}

/// The copy's spec: same components and images, its own name (so its own network and
/// volumes), nothing published on the host and no backups or drills of its own.
pub(crate) fn copy_spec(stack: &ValidatedStack, into: &str) -> ValidatedStack {
    let mut copy = stack.clone();
    copy.name = into.to_string();
    copy.published.clear();
    // A copy serves no public host: the edge stays with the original.
    if let Some(ingress) = copy.ingress.as_mut() {
        ingress.edge = None;
    }
    copy.backup = None;
    copy.recovery.drill_schedule = None;
    copy
}

/// Whether stack `name` has any container or volume on the engine.
pub(crate) async fn stack_exists(engine: &BollardEngine, name: &str) -> Result<bool, RestoreError> {
    Ok(!engine.list_containers(name).await?.is_empty()
        || !engine.list_volumes(name).await?.is_empty())
}

/// Nothing half-made stays behind: the copy is new, so all of it goes.
pub(super) async fn removed_on_failure<T>(
    result: Result<T, RestoreError>,
    engine: &Arc<BollardEngine>,
    plan: &Plan,
    state_dir: &Path,
) -> Result<T, RestoreError> {
    if result.is_err() {
        eprintln!("restore failed; removing the partial copy {}", plan.stack);
        let _ = down(engine.as_ref(), plan, true, &Lines::new()).await;
        let _ = SecretStore::new(state_dir, &plan.stack).remove_all();
    }
    result
}

/// The copy's database volume, created empty, and how restore helpers mount it.
pub(crate) struct DataVolume {
    pub mounts: Vec<(String, String)>,
    pub helper_labels: HashMap<String, String>,
}

pub(crate) async fn data_volume(
    engine: &BollardEngine,
    into: &str,
) -> Result<DataVolume, RestoreError> {
    let labels: HashMap<String, String> = HashMap::from([
        (LABEL_STACK.to_string(), into.to_string()),
        (LABEL_MANAGED_BY.to_string(), "appstack".to_string()),
        (
            "appstack.io/volume".to_string(),
            "database-data".to_string(),
        ),
    ]);
    let volume = volume_name(into, "database-data");
    engine.create_volume(&volume, labels.clone()).await?;
    let mut helper_labels = labels;
    helper_labels.insert(LABEL_COMPONENT.to_string(), "restore".to_string());
    let mounts = vec![(volume, DATA.to_string())];
    Ok(DataVolume {
        mounts,
        helper_labels,
    })
}

/// What converges the copy.
pub(super) fn copy_applier(
    engine: &Arc<BollardEngine>,
    plan: &Arc<Plan>,
    state_dir: &Path,
) -> Result<Applier<BollardEngine>, RestoreError> {
    Ok(Applier {
        engine: engine.clone(),
        plan: plan.clone(),
        secrets: secrets(state_dir, plan)?,
        reporter: Arc::new(Lines::new()),
        wait: true,
    })
}

/// Starts the copy's database alone (waiting until it answers).
pub(crate) async fn boot_database(
    engine: &Arc<BollardEngine>,
    plan: &Arc<Plan>,
    state_dir: &Path,
) -> Result<DockerRunner<BollardEngine>, RestoreError> {
    let alone = Arc::new(super::in_place::database_only(plan));
    copy_applier(engine, &alone, state_dir)?.apply().await?;
    Ok(DockerRunner {
        engine: engine.clone(),
        stack: plan.stack.clone(),
    })
}

/// Starts the copy (waiting until healthy) and returns a runner for its containers.
pub(crate) async fn boot_copy(
    engine: &Arc<BollardEngine>,
    plan: &Arc<Plan>,
    state_dir: &Path,
) -> Result<DockerRunner<BollardEngine>, RestoreError> {
    copy_applier(engine, plan, state_dir)?.apply().await?;
    Ok(DockerRunner {
        engine: engine.clone(),
        stack: plan.stack.clone(),
    })
}

/// What proves a restored database usable: PostGIS answers (when the spec uses it), and
/// the tables with their approximate row counts.
pub(crate) async fn checks<R: crate::protect::runner::Runner>(
    runner: &R,
    db: &crate::api::validated::Database,
) -> Result<Vec<String>, RestoreError> {
    let psql = |sql: &str| psql_argv(&db.user, &db.name, &[sql]);
    let mut checks = Vec::new();
    if db.extensions.iter().any(|e| e == "postgis") {
        let v = capture(runner, "database", psql("SELECT postgis_lib_version()"))
            .await
            .map_err(|e| RestoreError::Failed(format!("PostGIS check failed: {e}")))?;
        checks.push(format!("PostGIS {v} works"));
    }
    let tables = capture(runner, "database", psql("SELECT count(*) || ' table(s), ~' || coalesce(sum(greatest(c.reltuples, 0))::bigint, 0) || ' row(s)' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')")).await.map_err(rt)?;
    checks.push(tables);
    Ok(checks)
}

/// What both kinds of restore work with: the verified backup and the new copy.
pub(crate) struct Copy<'a> {
    pub engine: Arc<BollardEngine>,
    pub store: Arc<AnyStore>,
    pub stack: &'a ValidatedStack,
    pub plan: Arc<Plan>,
    pub manifest: &'a Manifest,
    pub key: Option<crate::protect::crypto::Key>,
    pub started: Instant,
    pub state_dir: &'a Path,
    /// The files backup whose uploads come back with the database.
    pub uploads: Option<Manifest>,
    /// Whether the restored roles need the new stack's new credentials.
    pub credentials: Credentials,
}

/// What a restore into a copy did: the drill's raw facts.
pub(crate) struct Restored {
    pub base: String,
    pub base_finished: DateTime<Utc>,
    pub wal_files: usize,
    /// The files backup whose uploads came back.
    pub uploads: Option<Manifest>,
    /// Seconds since the restore started at which each step ended.
    pub steps: Vec<(&'static str, Duration)>,
    pub checks: Vec<String>,
    pub runner: DockerRunner<BollardEngine>,
}
