//! `appstack recover`: a lost host's stack rebuilt on this one from the backup store and
//! the key alone. The stack record gives the manifest as applied (an overlay file may
//! change images, ports or the store) and, sealed, the generated secrets; the base backup
//! and the WAL after it give the database, the files backup before the target gives the
//! uploads. The stack comes up under its own name with its published ports, passes the
//! drill's smoke checks, and continues its backups on a new timeline in the same store.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{smoke, DrillError};
use crate::api::spec::S3Spec;
use crate::api::ValidatedStack;
use crate::protect::crypto::Key;
use crate::protect::restore::credentials::Credentials;
use crate::protect::restore::{self, into_copy, stack_exists, verified_base, IntoCopy, Pick};
use crate::protect::stack_record::{self, StackRecord};
use crate::protect::target::AnyStore;
use crate::protect::ProtectError;

/// What to recover, from where.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The backup store: `file:///path` or `s3://bucket/prefix`.
    pub from: String,
    /// The stack's name in the store.
    pub stack: String,
    /// The backup key (sealed secrets, encrypted backups and WAL).
    pub key_file: Option<PathBuf>,
    /// `latest`, an RFC 3339 time or a base backup id.
    pub to: String,
    /// A partial AppStack manifest merged over the stored one (images, ports, the store).
    pub overlay: Option<PathBuf>,
    /// S3 settings of `from` (endpoint, region, path style); credentials from the
    /// environment or `credentialsSecret`.
    pub s3: Option<S3Spec>,
}

/// What a recovery did.
#[derive(Debug)]
pub struct Recovered {
    pub stack: String,
    /// From the start of `recover` to the smoke checks passing.
    pub rto: Duration,
    /// The newest transaction in the recovered database (None: nothing was replayed
    /// after the base backup).
    pub restored_point: Option<DateTime<Utc>>,
    /// The base backup restored, and when it finished.
    pub base: (String, DateTime<Utc>),
    pub credentials: Credentials,
    pub checks: Vec<String>,
    /// The recovered manifest, written for `appstack run -f`.
    pub manifest: PathBuf,
    pub steps: Vec<(&'static str, Duration)>,
}

/// Recovers `req.stack` from `req.from` onto this host's engine.
pub async fn run(req: &Request, state_dir: &Path) -> Result<Recovered, DrillError> {
    let started = Instant::now();
    let pick = restore::parse_to(&req.to)?;
    let key = match &req.key_file {
        Some(p) => Some(Key::from_file(&p.display().to_string()).map_err(invalid)?),
        None => None,
    };
    let target = store_target(req)?;
    let store = Arc::new(crate::protect::target::open(&target).map_err(invalid)?);
    let record = read_record(&store, req, key.as_ref(), &pick).await?;
    let stack = stack_from_record(&record, req)?;
    let engine = crate::docker::BollardEngine::connect_default().await?;
    if stack_exists(&engine, &stack.name).await? {
        return Err(DrillError::Invalid(format!(
            "a stack named {} already exists here (containers or volumes): recover rebuilds a lost stack; remove it (`appstack down --volumes`) or restore into a copy (`appstack restore --into`)",
            stack.name
        )));
    }
    eprintln!(
        "recovering stack {} from {} (record of {}, {})",
        stack.name,
        store_location(&store),
        record.saved_at.to_rfc3339(),
        if record.secrets.is_empty() {
            "no sealed secrets: new credentials will be set"
        } else {
            "its sealed secrets"
        }
    );
    let base = verified_base(&store, &stack, &pick, &stack.name).await?;
    let restored = into_copy(IntoCopy {
        stack: &stack,
        store: store.clone(),
        base,
        into: &stack.name,
        pick: &pick,
        started,
        state_dir,
        record: Some(&record),
        rebuild: true,
    })
    .await?;
    let manifest = state_dir
        .join("stacks")
        .join(&stack.name)
        .join("appstack.yaml");
    write_manifest(&manifest, &stack)?;
    let mut checks = restored.checks.clone();
    let plan = crate::plan::build(&stack);
    let smoke = smoke_checks(&restored, &stack, &plan).await.map_err(|e| {
        DrillError::Failed(format!(
            "{e}; stack {} is up for inspection (its manifest: {})",
            stack.name,
            manifest.display()
        ))
    })?;
    checks.extend(smoke);
    let rto = started.elapsed();
    let mut steps = restored.steps.clone();
    steps.push(("smoke checks passed", rto));
    let restored_point = newest_commit(&restored.runner, &stack).await;
    continue_backups(&engine, &stack, &store, state_dir).await;
    Ok(Recovered {
        stack: stack.name.clone(),
        rto,
        restored_point,
        base: (restored.base.clone(), restored.base_finished),
        credentials: if record.secrets.is_empty() {
            Credentials::Reset
        } else {
            Credentials::Restored
        },
        checks,
        manifest,
        steps,
    })
}

fn invalid(e: ProtectError) -> DrillError {
    DrillError::Invalid(e.to_string())
}

/// The store `--from` names, with the S3 settings given.
fn store_target(req: &Request) -> Result<crate::api::validated::BackupTarget, DrillError> {
    crate::api::validate::backup_target(&req.from, req.s3.as_ref())
        .map_err(|e| DrillError::Invalid(format!("--from: {e}")))
}

/// The stack record the recovery starts from: the newest at or before the target.
async fn read_record(
    store: &AnyStore,
    req: &Request,
    key: Option<&Key>,
    pick: &Pick,
) -> Result<StackRecord, DrillError> {
    let records = stack_record::list(store, &req.stack).await?;
    let at = match pick {
        Pick::Time(t) => Some(*t),
        _ => None,
    };
    let Some(chosen) = stack_record::pick(&records, at).or_else(|| records.first()) else {
        return Err(DrillError::Invalid(format!(
            "the store {} holds no record of stack {:?} (its manifest as applied): nothing to recover it from; `appstack backup now` and `appstack up` keep one",
            store_location(store),
            req.stack
        )));
    };
    stack_record::load(store, chosen, key)
        .await
        .map_err(|e| match e {
            ProtectError::Sealed(m) => DrillError::Invalid(format!("--key: {m}")),
            other => DrillError::Failed(other.to_string()),
        })
}

fn store_location(store: &AnyStore) -> String {
    use crate::protect::ObjectStore;
    store.location()
}

/// The stored manifest, the overlay merged over it, pointed at this store and key.
fn stack_from_record(record: &StackRecord, req: &Request) -> Result<ValidatedStack, DrillError> {
    let mut doc: Value = serde_norway::from_str(&record.manifest).map_err(|e| {
        DrillError::Failed(format!(
            "the stored manifest of {} is not YAML: {e}",
            req.stack
        ))
    })?;
    if let Some(path) = &req.overlay {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DrillError::Invalid(format!("-f {}: {e}", path.display())))?;
        let overlay: Value = serde_norway::from_str(&text).map_err(|e| {
            DrillError::Invalid(format!("-f {}: not valid YAML: {e}", path.display()))
        })?;
        merge(&mut doc, overlay);
    }
    let backup = &mut doc["spec"]["backup"];
    backup["target"] = Value::String(req.from.clone());
    if let Some(s3) = &req.s3 {
        // Where and how to reach the store here; the stored credentials setting stays.
        let mut given = serde_json::json!({
            "bucket": s3.bucket,
            "region": s3.region,
            "pathStyle": s3.path_style,
        });
        if let Some(ep) = &s3.endpoint {
            given["endpoint"] = Value::String(ep.clone());
        }
        merge(&mut backup["s3"], given);
    }
    if let Some(k) = &req.key_file {
        let path = std::fs::canonicalize(k).unwrap_or_else(|_| k.clone());
        backup["encryption"]["keyFile"] = Value::String(path.display().to_string());
    }
    let text = serde_norway::to_string(&doc).unwrap_or_default();
    let origin = format!("the stored manifest of {} with -f overrides", req.stack);
    let parsed = crate::api::load::parse_str(&text, &origin)?;
    let stack = crate::api::validate::validate(&parsed, &origin)?;
    if stack.name != req.stack {
        return Err(DrillError::Invalid(format!(
            "-f: metadata.name {:?} differs from --stack {:?}; recover keeps the stack's name",
            stack.name, req.stack
        )));
    }
    Ok(stack)
}

/// The stack a record's manifest describes, validated; it must be `name`.
pub(crate) fn parse_record(record: &StackRecord, name: &str) -> Result<ValidatedStack, DrillError> {
    let origin = format!("the stored manifest of {name}");
    let parsed = crate::api::load::parse_str(&record.manifest, &origin)?;
    let stack = crate::api::validate::validate(&parsed, &origin)?;
    if stack.name != name {
        return Err(DrillError::Failed(format!(
            "the stack record of {name} describes stack {:?}",
            stack.name
        )));
    }
    Ok(stack)
}

/// JSON merge patch (RFC 7386): objects merge, `null` removes, anything else replaces.
pub fn merge(target: &mut Value, patch: Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in fields {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other,
    }
}

/// The drill's checks a user makes after a disaster: CMS sign-in and read, the page, the
/// uploads by sha256.
pub(crate) async fn smoke_checks(
    restored: &restore::Restored,
    stack: &ValidatedStack,
    plan: &crate::plan::Plan,
) -> Result<Vec<String>, DrillError> {
    let mut out = Vec::new();
    let runner = &restored.runner;
    for check in [
        smoke::cms(runner, plan).await,
        smoke::frontend(runner, plan).await,
    ]
    .into_iter()
    .flatten()
    {
        out.push(check.map_err(DrillError::Failed)?);
    }
    if let (Some(path), Some(files)) = (restore::uploads::uploads_path(stack), &restored.uploads) {
        out.push(
            smoke::uploads_match(runner, path, files)
                .await
                .map_err(DrillError::Failed)?,
        );
    }
    Ok(out)
}

/// The newest commit the recovered database holds (its replay's last transaction).
async fn newest_commit(
    runner: &crate::protect::runner::DockerRunner<crate::docker::BollardEngine>,
    stack: &ValidatedStack,
) -> Option<DateTime<Utc>> {
    let db = stack.database.as_ref()?;
    let argv =
        crate::protect::backup::psql_argv(&db.user, &db.name, &[super::marker::REPLAYED_SQL]);
    let out = crate::protect::runner::capture(runner, "database", argv)
        .await
        .ok()?;
    super::marker::parse_replayed(&out)?.0
}

fn write_manifest(path: &Path, stack: &ValidatedStack) -> Result<(), DrillError> {
    let io = |e: std::io::Error| DrillError::Failed(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    std::fs::write(path, stack.manifest_yaml()).map_err(io)
}

/// The recovered stack goes on backing up into the same store: its new timeline's history
/// and a base backup of it, and its record (new credentials, if any, on this host).
async fn continue_backups(
    engine: &Arc<crate::docker::BollardEngine>,
    stack: &ValidatedStack,
    store: &AnyStore,
    state_dir: &Path,
) {
    let plan = Arc::new(crate::plan::build(stack));
    if let Err(e) = restore::in_place::finish(engine, plan, stack, store, state_dir).await {
        eprintln!("warning: {e}");
    }
    match stack_record::keep_from_state(stack, state_dir).await {
        Ok(_) => {}
        Err(e) => {
            eprintln!("warning: could not keep the recovered stack's record in the store: {e}")
        }
    }
}
