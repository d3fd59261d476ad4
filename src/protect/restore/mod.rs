//! Restores: the chosen base backup (verified) and the WAL after it into a new isolated
//! stack, into the stack itself (`in_place`), into a plain directory (`to_dir`), or a
//! logical dump into a new stack (`dump`). Nothing is created before the backup, its key and
//! its WAL chain are verified; a failed copy is removed.

mod dump;
pub mod in_place;
pub mod pick;
pub mod to_dir;

pub use pick::{dump_verified, pick_verified, Pick};

use crate::docker::engine::{Containers, Exec, Volumes};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use tokio::sync::mpsc::Receiver;

use crate::api::validate::is_dns_label;
use crate::api::ValidatedStack;
use crate::docker::apply::{down, Applier};
use crate::docker::host_fill::HostVolume;
use crate::docker::progress::Lines;
use crate::docker::BollardEngine;
use crate::plan::names::volume_name;
use crate::plan::{self, Plan, LABEL_COMPONENT, LABEL_MANAGED_BY, LABEL_STACK};
use crate::progress::meter::Meter;
use crate::progress::{metered, metered_channel, Bar};
use crate::protect::backup::psql_argv;
use crate::protect::decode::spawn_zstd;
use crate::protect::manifest::Manifest;
use crate::protect::runner::{capture, DockerRunner};
use crate::protect::target::AnyStore;
use crate::protect::wal::{self, Lsn, Segment, WalKind, WalObject};
use crate::protect::wal_fetch;
use crate::protect::{ObjectStore, ProtectError};
use crate::secrets::SecretStore;

/// The database volume's mount path, and the cluster directory inside it.
pub(crate) const DATA: &str = "/var/lib/postgresql/data";
pub(crate) const PGDATA_DIR: &str = "pgdata";
pub(crate) const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
/// Helpers run as the image's user; as root (official images) they hand the files to postgres.
pub(crate) const CHOWN_IF_ROOT: &str =
    "if [ \"$(id -u)\" = 0 ]; then chown -R postgres:postgres /var/lib/postgresql/data; fi";
/// Where the restore puts the WAL to replay, inside the cluster directory.
pub(crate) const WAL_SUBDIR: &str = "appstack_wal";
const RECOVERY_SETTINGS: [&str; 5] = [
    "restore_command",
    "recovery_target",
    "recovery_target_action",
    "recovery_target_timeline",
    "recovery_target_time",
];

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

fn parse_to(to: &str) -> Result<Pick, RestoreError> {
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

/// The WAL to replay after `base`, or nothing when `pick` restores the backup alone.
async fn wal_chain(
    store: &AnyStore,
    stack: &ValidatedStack,
    base: &Manifest,
    pick: &Pick,
) -> Result<Vec<WalObject>, RestoreError> {
    let all = wal::list(store, &stack.name)
        .await
        .map_err(|e| RestoreError::Failed(e.to_string()))?;
    // Every timeline's history goes along, so a promotion picks a timeline id no earlier
    // restore of this stack used (its WAL would collide in the store).
    let histories = all
        .iter()
        .filter(|o| matches!(o.kind, WalKind::History(_)))
        .cloned();
    if matches!(pick, Pick::Id(_)) {
        return Ok(histories.collect());
    }
    if let (Pick::Latest, Some(tli), Some(newer)) = (
        pick,
        base.timeline,
        base.timeline.and_then(|t| wal::newer_timeline(&all, t)),
    ) {
        return Err(RestoreError::Failed(format!(
            "cannot restore `latest` from backup {} (timeline {tli}): the stack continues on timeline {newer} since an in-place restore, and no base backup of it exists; take one with `appstack backup now --only db`, or restore to a time or a backup id",
            base.id
        )));
    }
    let start = match (
        base.timeline,
        base.start_lsn.as_deref().and_then(Lsn::parse),
    ) {
        (Some(tli), Some(lsn)) => Segment::of(tli, lsn),
        _ => {
            return Err(RestoreError::Failed(format!(
                "backup {} records no start LSN/timeline; it can only be restored by id",
                base.id
            )))
        }
    };
    let (mut chain, gap) = wal::chain(&all, start);
    if !chain.is_empty() {
        chain.splice(0..0, histories);
    }
    match (pick, gap) {
        (Pick::Time(t), Some(gap)) => Err(RestoreError::Failed(format!(
            "cannot restore to {t}: {gap}; restore to an earlier time or to `latest`"
        ))),
        (Pick::Time(t), None) if chain.is_empty() => Err(RestoreError::Failed(format!(
            "cannot restore to {t}: no WAL was shipped after backup {} (is WAL shipping on and `appstack run` running?)",
            base.id
        ))),
        (_, Some(gap)) => {
            eprintln!("warning: {gap}; restoring up to the last segment before it");
            Ok(chain)
        }
        _ => Ok(chain),
    }
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
    if let Some(id) = &args.from_dump {
        let manifest = dump_verified(store.as_ref(), &stack.name, id)
            .await
            .map_err(pick_error)?;
        let key = crate::protect::store::key_for(&stack, &manifest)?;
        eprintln!("restoring dump {id} of {} into stack {into}", stack.name);
        let (engine, plan) = prepare_copy(&stack, &into, state_dir).await?;
        let copy = Copy {
            engine,
            store,
            stack: &stack,
            plan,
            manifest: &manifest,
            key,
            started,
            state_dir,
        };
        let result = dump::DumpJob { copy: &copy }.run().await;
        return removed_on_failure(result, &copy.engine, &copy.plan, state_dir).await;
    }
    let base = verified_base(&store, &stack, &pick, &into).await?;
    if args.into.is_none() {
        return in_place(args, &stack, store, base, &pick, started, state_dir).await;
    }
    into_copy(&stack, store, base, &into, &pick, started, state_dir)
        .await
        .map(|_| ())
}

/// A verified base backup, its key, and the verified WAL chain to replay with its key.
pub(crate) struct VerifiedBase {
    pub manifest: Manifest,
    pub key: Option<crate::protect::crypto::Key>,
    pub chain: Vec<WalObject>,
    pub wal_key: Option<crate::protect::crypto::Key>,
}

/// Picks and verifies the base backup and lists the WAL after it (the store as it is now:
/// WAL shipped later is not replayed).
pub(crate) async fn verified_base(
    store: &AnyStore,
    stack: &ValidatedStack,
    pick: &Pick,
    into: &str,
) -> Result<VerifiedBase, RestoreError> {
    let manifest = pick_verified(store, &stack.name, pick)
        .await
        .map_err(pick_error)?;
    let key = crate::protect::store::key_for(stack, &manifest)?;
    let chain = wal_chain(store, stack, &manifest, pick).await?;
    let wal_key = if chain.iter().any(|o| o.encrypted) {
        Some(crate::protect::store::spec_key(stack)?.ok_or_else(|| {
            RestoreError::Invalid(
                "the WAL is encrypted: set spec.backup.encryption.keyFile to its key".into(),
            )
        })?)
    } else {
        None
    };
    eprintln!(
        "restoring {} (stop LSN {}) of {} into stack {into}, then {} WAL file(s){}",
        manifest.id,
        manifest.stop_lsn.as_deref().unwrap_or("?"),
        stack.name,
        chain.len(),
        match pick {
            Pick::Time(t) => format!(" replayed to {}", t.to_rfc3339()),
            _ => String::new(),
        }
    );
    Ok(VerifiedBase {
        manifest,
        key,
        chain,
        wal_key,
    })
}

/// Restores `base` into the new stack `into` and brings it up healthy; removes the partial
/// copy when that fails.
pub(crate) async fn into_copy(
    stack: &ValidatedStack,
    store: Arc<AnyStore>,
    base: VerifiedBase,
    into: &str,
    pick: &Pick,
    started: Instant,
    state_dir: &Path,
) -> Result<Restored, RestoreError> {
    let (engine, plan) = prepare_copy(stack, into, state_dir).await?;
    let copy = Copy {
        engine,
        store,
        stack,
        plan,
        manifest: &base.manifest,
        key: base.key,
        started,
        state_dir,
    };
    let result = Job {
        copy: &copy,
        chain: base.chain,
        wal_key: base.wal_key,
        pick,
        new_timeline: false,
    }
    .run()
    .await;
    removed_on_failure(result, &copy.engine, &copy.plan, state_dir).await
}

/// The base restore into the stack itself (see `restore_in_place`).
async fn in_place(
    args: &Request,
    stack: &ValidatedStack,
    store: Arc<AnyStore>,
    base: VerifiedBase,
    pick: &Pick,
    started: Instant,
    state_dir: &Path,
) -> Result<(), RestoreError> {
    use in_place as inplace;
    let VerifiedBase {
        manifest,
        key,
        chain,
        wal_key,
    } = base;
    let _maintenance = crate::maintenance::begin(state_dir, &stack.name)
        .map_err(|e| RestoreError::Failed(e.to_string()))?;
    let engine = connect().await?;
    let full = Arc::new(plan::build(stack));
    let safety = inplace::prepare(&engine, &full, stack, &store).await?;
    let undo = safety.undo_hint(&args.file, &volume_name(&stack.name, "database-data"));
    let copy = Copy {
        engine: engine.clone(),
        store: store.clone(),
        stack,
        plan: Arc::new(inplace::database_only(&full)),
        manifest: &manifest,
        key,
        started,
        state_dir,
    };
    let job = Job {
        copy: &copy,
        chain,
        wal_key,
        pick,
        new_timeline: true,
    };
    let result = match job.run().await {
        Ok(_) => inplace::finish(&engine, full, stack, &store, state_dir).await,
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

fn pick_error(e: ProtectError) -> RestoreError {
    match e {
        ProtectError::UnknownBackup { .. } => RestoreError::Invalid(e.to_string()),
        ProtectError::Checksum { key, actual, .. } => RestoreError::Failed(format!(
            "refusing to restore a corrupt backup: {key}: {actual}"
        )),
        other => RestoreError::Failed(other.to_string()),
    }
}

/// The copy's spec: same components and images, its own name (so its own network and
/// volumes), nothing published on the host and no backups or drills of its own.
pub(crate) fn copy_spec(stack: &ValidatedStack, into: &str) -> ValidatedStack {
    let mut copy = stack.clone();
    copy.name = into.to_string();
    copy.published.clear();
    copy.backup = None;
    copy.recovery.drill_schedule = None;
    copy
}

/// Whether stack `name` has any container or volume on the engine.
pub(crate) async fn stack_exists(engine: &BollardEngine, name: &str) -> Result<bool, RestoreError> {
    Ok(!engine.list_containers(name).await?.is_empty()
        || !engine.list_volumes(name).await?.is_empty())
}

/// The copy's engine and plan; refused when `into` exists.
async fn prepare_copy(
    stack: &ValidatedStack,
    into: &str,
    state_dir: &Path,
) -> Result<(Arc<BollardEngine>, Arc<Plan>), RestoreError> {
    let plan = plan::build(&copy_spec(stack, into));
    let engine = connect().await?;
    if stack_exists(&engine, into).await? {
        return Err(RestoreError::Invalid(format!(
            "stack {into:?} already exists: remove it with `appstack down --volumes` first"
        )));
    }
    SecretStore::new(state_dir, into).copy_from(&SecretStore::new(state_dir, &stack.name))?;
    Ok((engine, Arc::new(plan)))
}

/// Nothing half-made stays behind: the copy is new, so all of it goes.
async fn removed_on_failure<T>(
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
fn copy_applier(
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
}

/// What a restore into a copy did: the drill's raw facts.
pub(crate) struct Restored {
    pub base: String,
    pub base_finished: DateTime<Utc>,
    pub wal_files: usize,
    /// Seconds since the restore started at which each step ended.
    pub steps: Vec<(&'static str, Duration)>,
    pub checks: Vec<String>,
    pub runner: DockerRunner<BollardEngine>,
}

struct Job<'a> {
    copy: &'a Copy<'a>,
    chain: Vec<WalObject>,
    wal_key: Option<crate::protect::crypto::Key>,
    pick: &'a Pick,
    /// Recover and promote even without WAL to replay: a restore in place must continue on
    /// a new timeline, or its WAL would take the names of the old timeline's in the store.
    new_timeline: bool,
}

impl Job<'_> {
    async fn run(&self) -> Result<Restored, RestoreError> {
        let into = self.copy.plan.stack.clone();
        let Some(db) = &self.copy.stack.database else {
            return Err(RestoreError::Invalid(
                "spec.database: not set; nothing to restore".into(),
            ));
        };
        let mut steps = vec![("backup verified", self.copy.started.elapsed())];
        let DataVolume {
            mounts,
            helper_labels,
        } = data_volume(self.copy.engine.as_ref(), &into).await?;
        // The database's container exists (stopped) before its volume is filled: its create
        // sets the volume's owner, and the engine's create does not wait behind the writeback
        // of the restored gigabytes afterwards.
        copy_applier(&self.copy.engine, &self.copy.plan, self.copy.state_dir)?
            .create_stopped(&["database"])
            .await?;

        // WAL downloads start now and run ahead while the base backup is extracted.
        let (wal_tar, wal_fetch) = wal_fetch::spawn_tar(
            self.copy.store.clone(),
            self.copy.stack.name.clone(),
            self.chain.clone(),
            self.wal_key.clone(),
            format!("{WAL_SUBDIR}/"),
        );
        let wal_meter = Meter::default();
        let wal_tar = metered_channel(wal_tar, &wal_meter);
        let wal_total: u64 = self
            .chain
            .iter()
            .map(|o| match o.kind {
                WalKind::History(_) => o.size,
                _ => wal::SEGMENT_SIZE,
            })
            .sum();
        let object = self
            .copy
            .store
            .get(&self.copy.manifest.object_key("base.tar.zst"))
            .await
            .map_err(|e| RestoreError::Failed(e.to_string()))?;
        let meter = Meter::default();
        let stored = self
            .copy
            .manifest
            .objects
            .iter()
            .find(|o| o.name == "base.tar.zst")
            .map(|o| o.size);
        let (tar, decoder) = spawn_zstd(Box::pin(metered(object, &meter)), self.copy.key.clone());
        let bar = Bar::bytes("restoring base backup", &meter, stored);
        let replay = !self.chain.is_empty() || self.new_timeline;
        // One stream: the base backup's tar, then the WAL's tar under appstack_wal/; unpacked
        // by us when the volume's directory is reachable, else by a one-off container.
        let input = if replay {
            concat(tar, wal_tar)
        } else {
            wal_fetch.abort();
            tar
        };
        let recovery = replay.then(|| recovery_conf(self.pick));
        let host = HostVolume::open(self.copy.engine.as_ref(), &mounts[0].0).await?;
        let fill = async {
            match &host {
                Some(v) => fill_on_host(v, input, recovery)
                    .await
                    .map_err(|e| RestoreError::Failed(format!("filling the data volume: {e}"))),
                None => {
                    let helper = format!("{into}-restore");
                    let script = fill_script(recovery);
                    let out = self
                        .copy
                        .engine
                        .run_with_stdin(&helper, &db.image, &script, mounts, helper_labels, input)
                        .await?;
                    check_helper("filling the data volume", out)
                }
            }
        };
        let base_then_wal = async {
            let decoded = decoder.await;
            bar.done();
            eprintln!(
                "base backup read in {:.1}s",
                self.copy.started.elapsed().as_secs_f64()
            );
            let wal_bar = replay.then(|| Bar::bytes("placing WAL", &wal_meter, Some(wal_total)));
            (decoded, wal_bar)
        };
        let fetch = async {
            if replay {
                Some(wal_fetch.await)
            } else {
                None
            }
        };
        let (filled, (decoded, wal_bar), fetched) = tokio::join!(fill, base_then_wal, fetch);
        drop(wal_bar);
        let raw = decoded
            .map_err(|e| RestoreError::Failed(e.to_string()))?
            .map_err(|e| RestoreError::Failed(e.to_string()))?;
        let fetched = fetched
            .map(|f| {
                f.map_err(|e| RestoreError::Failed(e.to_string()))?
                    .map_err(|e| RestoreError::Failed(format!("refusing to replay WAL: {e}")))
            })
            .transpose()?;
        filled?;
        eprintln!(
            "base backup restored {}: {}{} in {:.1}s; starting the stack{}",
            if host.is_some() {
                "into the volume's directory"
            } else {
                "through a helper container"
            },
            crate::api::quantity::format_bytes(raw),
            fetched.as_ref().map_or_else(String::new, |f| format!(
                " and {} WAL file(s), {}",
                f.files,
                crate::api::quantity::format_bytes(f.bytes)
            )),
            self.copy.started.elapsed().as_secs_f64(),
            if replay { " (replay runs first)" } else { "" }
        );

        steps.push(("data restored", self.copy.started.elapsed()));
        let runner = boot_copy(&self.copy.engine, &self.copy.plan, self.copy.state_dir).await?;
        steps.push(("stack healthy", self.copy.started.elapsed()));
        let psql = |sql: &str| psql_argv(&db.user, &db.name, &[sql]);
        if replay {
            self.wait_promoted(&runner, &psql).await?;
            steps.push(("WAL replayed, promoted", self.copy.started.elapsed()));
            // The copy is a primary now: it must not keep the restore's recovery settings.
            let mut commands: Vec<String> = RECOVERY_SETTINGS
                .iter()
                .map(|s| format!("ALTER SYSTEM RESET {s}"))
                .collect();
            commands.push("SELECT pg_reload_conf()".into());
            let commands: Vec<&str> = commands.iter().map(String::as_str).collect();
            let argv = psql_argv(&db.user, &db.name, &commands);
            capture(&runner, "database", argv).await.map_err(rt)?;
        }
        let checks = checks(&runner, db).await?;
        steps.push(("database checks passed", self.copy.started.elapsed()));
        let target = match self.pick {
            Pick::Time(t) => t.to_rfc3339_opts(SecondsFormat::Millis, true),
            Pick::Latest if replay => "latest shipped WAL".to_string(),
            _ => format!("backup {}", self.copy.manifest.id),
        };
        eprintln!(
            "stack {into} restored from {} ({target}) and healthy in {:.1}s: {}",
            self.copy.manifest.id,
            self.copy.started.elapsed().as_secs_f64(),
            checks.join(", ")
        );
        Ok(Restored {
            base: self.copy.manifest.id.clone(),
            base_finished: self.copy.manifest.finished_at,
            wal_files: fetched.map_or(0, |f| f.files),
            steps,
            checks,
            runner,
        })
    }

    /// Replay ends with promotion; bounded by the stack's RTO.
    async fn wait_promoted(
        &self,
        runner: &DockerRunner<BollardEngine>,
        psql: &dyn Fn(&str) -> Vec<String>,
    ) -> Result<(), RestoreError> {
        let deadline = Instant::now() + self.copy.stack.recovery.rto;
        let bar = Bar::spinner("replaying WAL");
        let sql = "SELECT pg_is_in_recovery()::text || ' ' || coalesce(pg_last_wal_replay_lsn()::text, '')";
        loop {
            if let Ok(v) = capture(runner, "database", psql(sql)).await {
                match v.split_once(' ') {
                    Some(("false", _)) => return Ok(()),
                    Some((_, lsn)) if !lsn.is_empty() => {
                        bar.set_message(format!("replaying WAL, at LSN {lsn}"));
                    }
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                return Err(RestoreError::Failed(format!(
                    "WAL replay did not finish within the RTO of {}s",
                    self.copy.stack.recovery.rto.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// The base backup's tar, then (with replay) the WAL's tar under appstack_wal/, unpacked by
/// us into the volume's directory.
pub(crate) async fn fill_on_host(
    v: &HostVolume,
    input: Receiver<Bytes>,
    recovery: Option<String>,
) -> std::io::Result<()> {
    v.private_dir(&format!("{PGDATA_DIR}/{WAL_SUBDIR}"))?;
    v.unpack(PGDATA_DIR, input).await?;
    v.remove_file(&format!("{PGDATA_DIR}/postmaster.pid"))?;
    if let Some(conf) = recovery {
        v.append(&format!("{PGDATA_DIR}/postgresql.auto.conf"), &conf)?;
        v.append(&format!("{PGDATA_DIR}/recovery.signal"), "")?;
    }
    Ok(())
}

/// The same in a one-off container reading the stream on its stdin; extracted with
/// --ignore-zeros, which reads on past the first archive's end.
fn fill_script(recovery: Option<String>) -> String {
    let recovery = recovery.map_or_else(String::new, |conf| {
        format!(
            "cat >> \"$d/postgresql.auto.conf\" <<'APPSTACK_EOF'\n{conf}APPSTACK_EOF\n\
             touch \"$d/recovery.signal\"; "
        )
    });
    format!(
        "set -e; d={PGDATA}; mkdir -p \"$d\" \"$d/{WAL_SUBDIR}\"; chmod 700 \"$d\" \"$d/{WAL_SUBDIR}\"; tar -x -i -C \"$d\"; rm -f \"$d/postmaster.pid\"\n{recovery}{CHOWN_IF_ROOT}"
    )
}

/// `first`'s bytes, then `second`'s.
pub(crate) fn concat(mut first: Receiver<Bytes>, mut second: Receiver<Bytes>) -> Receiver<Bytes> {
    let (tx, out) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        for rx in [&mut first, &mut second] {
            while let Some(chunk) = rx.recv().await {
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        }
    });
    out
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

/// Recovery settings of the restored cluster: WAL from the fetched directory, stay on the
/// backup's timeline, stop at the target time (or the end of the WAL), then promote.
pub(crate) fn recovery_conf(pick: &Pick) -> String {
    let mut conf = format!(
        "# appstack restore (reset after promotion)\n\
         restore_command = 'cp {PGDATA}/{WAL_SUBDIR}/%f \"%p\"'\n\
         recovery_target_timeline = 'current'\n\
         recovery_target_action = 'promote'\n"
    );
    match pick {
        Pick::Time(t) => conf.push_str(&format!(
            "recovery_target_time = '{}'\n",
            t.format("%Y-%m-%d %H:%M:%S%.6f+00")
        )),
        // The backup alone: stop as soon as it is consistent.
        Pick::Id(_) => conf.push_str("recovery_target = 'immediate'\n"),
        Pick::Latest => {}
    }
    conf
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
