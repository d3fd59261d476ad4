use std::path::PathBuf;

use super::common::{connect, load, table};
use super::source::Source;
use super::{CliError, FileArg};
use crate::api::quantity::format_bytes;
use crate::api::quantity::parse_duration;
use crate::api::validated::{Uploads, ValidatedStack};
use crate::kube::report::{catalog_facts, report};
use crate::kube::runner::KubeRunner;
use crate::progress::meter::Meter;
use crate::progress::{metered, Bar};
use crate::protect::backup::{self, psql_argv, Target};
use crate::protect::crypto::Key;
use crate::protect::manifest::{catalog, Kind, Manifest};
use crate::protect::retention::{prune, Policy};
use crate::protect::runner::{capture, DockerRunner, Runner};
use crate::protect::target::AnyStore;
use crate::protect::verify::verify;
use crate::protect::ObjectStore;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Take a backup now: base (physical, "db"), dump (logical), files (uploads) or all.
    #[command(
        after_help = "Examples:\n  appstack backup now -f examples/quickstart.yaml\n  appstack backup now -f stack.yaml --only dump"
    )]
    Now(NowArgs),
    /// List the backups in the store (the catalog is rebuilt from the store itself).
    #[command(
        after_help = "Examples:\n  appstack backup list -f examples/quickstart.yaml\n  appstack backup list -f stack.yaml -o json"
    )]
    List(ListArgs),
    /// Write a new client-side encryption key (0600) for spec.backup.encryption.keyFile.
    #[command(
        after_help = "Keep a copy of the key outside the machine: without it the backups cannot be restored.\n\nExamples:\n  appstack backup keygen -o /etc/appstack/backup.key"
    )]
    Keygen(KeygenArgs),
    /// Check every stored object's sha256 against its manifest.
    #[command(
        after_help = "Examples:\n  appstack backup verify -f examples/quickstart.yaml\n  appstack backup verify -f stack.yaml --id base-20261123T020000.000Z"
    )]
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct NowArgs {
    #[command(flatten)]
    pub source: Source,
    /// What to back up: db (physical base backup), dump, files or all.
    #[arg(long, default_value = "all", value_parser = ["db", "dump", "files", "all"])]
    pub only: String,
    /// Apply retention only; take no backup.
    #[arg(long)]
    pub prune_only: bool,
    /// Override spec.backup.retention.maxAge for this run (e.g. 30d).
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<String>,
    /// Override spec.backup.retention.keepLast for this run.
    #[arg(long, value_name = "N")]
    pub keep_last: Option<u32>,
    /// Show what retention would delete, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub file: FileArg,
    /// Output format: table or json.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

#[derive(Debug, clap::Args)]
pub struct KeygenArgs {
    /// Where to write the key (refuses to overwrite an existing file).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub file: FileArg,
    /// Verify only this backup (default: all).
    #[arg(long)]
    pub id: Option<String>,
    /// Only compare checksums (no Docker engine needed); skip pg_verifybackup.
    #[arg(long)]
    pub checksums_only: bool,
}

/// The encryption key the spec names, if any.
pub fn spec_key(stack: &ValidatedStack) -> Result<Option<Key>, CliError> {
    match stack
        .backup
        .as_ref()
        .and_then(|b| b.encryption_key_file.as_deref())
    {
        Some(path) => Key::from_file(path)
            .map(Some)
            .map_err(|e| CliError::Invalid(e.to_string())),
        None => Ok(None),
    }
}

/// The key needed to read `m`: refuses clearly when it is missing or is not the one used.
pub fn key_for(stack: &ValidatedStack, m: &Manifest) -> Result<Option<Key>, CliError> {
    let Some(want) = &m.encryption_key_id else {
        return Ok(None);
    };
    match spec_key(stack)? {
        None => Err(CliError::Invalid(format!("backup {} is encrypted (key id {want}): set spec.backup.encryption.keyFile to its key", m.id))),
        Some(k) if &k.id() != want => Err(CliError::Invalid(format!(
            "wrong key: backup {} was encrypted with key id {want}, but spec.backup.encryption.keyFile holds key id {}",
            m.id,
            k.id()
        ))),
        Some(k) => Ok(Some(k)),
    }
}

/// The store a stack's backups go to.
pub fn open_store(stack: &ValidatedStack) -> Result<AnyStore, CliError> {
    let b = stack.backup.as_ref().ok_or_else(|| {
        CliError::Invalid("spec.backup: not set; add a backup section to protect this stack".into())
    })?;
    crate::protect::target::open(&b.target).map_err(|e| CliError::Invalid(e.to_string()))
}

pub(crate) fn target(stack: &ValidatedStack) -> Result<Target, CliError> {
    let b = stack
        .backup
        .as_ref()
        .ok_or_else(|| CliError::Invalid("spec.backup: not set".into()))?;
    let db = stack
        .database
        .as_ref()
        .ok_or_else(|| CliError::Invalid("spec.database: not set; nothing to back up".into()))?;
    Ok(Target {
        key: spec_key(stack)?,
        stack: stack.name.clone(),
        db_user: db.user.clone(),
        db_name: db.name.clone(),
        compression_level: b.compression_level,
        timeout: b.timeout,
        uploads_path: stack.cms.as_ref().and_then(|c| match &c.uploads {
            Uploads::Volume { path, .. } => Some(path.clone()),
            Uploads::S3 { .. } => None,
        }),
        meter: None,
    })
}

pub async fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Now(a) => now(a).await,
        Command::List(a) => list(a).await,
        Command::Verify(a) => verify_cmd(a).await,
        Command::Keygen(a) => keygen(a),
    }
}

fn summary(m: &Manifest) -> String {
    let secs = (m.finished_at - m.started_at).num_milliseconds() as f64 / 1000.0;
    let raw: u64 = m.objects.iter().map(|o| o.raw_size).sum();
    format!(
        "{} backup {}: {} stored ({} raw) in {secs:.1}s",
        m.kind.as_str(),
        m.id,
        format_bytes(m.stored_bytes()),
        format_bytes(raw)
    )
}

async fn now(a: NowArgs) -> Result<(), CliError> {
    let loaded = a.source.load().await?;
    let (stack, plan) = (&loaded.stack, &loaded.plan);
    let store = open_store(stack)?;
    let policy = policy(stack, &a)?;
    if a.prune_only {
        return apply_retention(&store, &stack.name, policy, a.dry_run).await;
    }
    let t = target(stack)?;
    let kinds: Vec<Kind> = match a.only.as_str() {
        "db" => vec![Kind::Base],
        "dump" => vec![Kind::Dump],
        "files" => vec![Kind::Files],
        _ => {
            let mut k = vec![Kind::Base, Kind::Dump];
            if t.uploads_path.is_some() && plan.component("cms").is_some() {
                k.push(Kind::Files);
            }
            k
        }
    };
    match &loaded.cluster {
        Some((client, ns)) => {
            let runner = KubeRunner {
                pod: None,
                client: client.clone(),
                namespace: ns.clone(),
                stack: plan.stack.clone(),
            };
            take(&store, &runner, &t, &kinds).await?;
        }
        None => {
            let runner = DockerRunner {
                engine: connect().await?,
                stack: plan.stack.clone(),
            };
            take(&store, &runner, &t, &kinds).await?;
        }
    }
    apply_retention(&store, &stack.name, policy, a.dry_run).await?;
    // The operator's BackupHealthy condition reads what the store now holds.
    if let Some((client, ns)) = &loaded.cluster {
        if let Some(r) = super::status::recoverability(stack).await {
            if let Err(e) = report(client, ns, &stack.name, catalog_facts(&r)).await {
                eprintln!(
                    "warning: cannot report the backup to AppStack {ns}/{}: {e}",
                    stack.name
                );
            }
        }
    }
    Ok(())
}

async fn take<R: Runner>(
    store: &AnyStore,
    runner: &R,
    t: &Target,
    kinds: &[Kind],
) -> Result<(), CliError> {
    for kind in kinds {
        eprintln!(
            "taking {} backup of {} into {} ...",
            kind.as_str(),
            t.stack,
            store.location()
        );
        let m = take_one(store, runner, t, *kind)
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
        eprintln!("{}", summary(&m));
    }
    Ok(())
}

/// One backup, with a progress bar on the bytes read from the database (against the
/// cluster's size for a base backup).
pub(crate) async fn take_one<R: Runner>(
    store: &AnyStore,
    runner: &R,
    t: &Target,
    kind: Kind,
) -> Result<Manifest, crate::protect::ProtectError> {
    let meter = Meter::default();
    let t = Target {
        meter: Some(meter.clone()),
        ..t.clone()
    };
    let total = match kind {
        Kind::Base => capture(
            runner,
            "database",
            psql_argv(
                &t.db_user,
                &t.db_name,
                &["SELECT sum(pg_database_size(oid)) FROM pg_database"],
            ),
        )
        .await
        .ok()
        .and_then(|v| v.parse().ok()),
        _ => None,
    };
    let bar = Bar::bytes(&format!("{} backup", kind.as_str()), &meter, total);
    let m = match kind {
        Kind::Base => backup::base_backup(store, runner, &t).await,
        Kind::Dump => backup::dump(store, runner, &t).await,
        Kind::Files => backup::files(store, runner, &t).await,
    };
    bar.done();
    m
}

fn policy(stack: &ValidatedStack, a: &NowArgs) -> Result<Policy, CliError> {
    let b = stack
        .backup
        .as_ref()
        .ok_or_else(|| CliError::Invalid("spec.backup: not set".into()))?;
    let max_age = match &a.max_age {
        Some(text) => parse_duration(text)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CliError::Invalid(format!("--max-age: {text:?} is not a duration (e.g. 14d)"))
            })?,
        None => b.max_age,
    };
    Ok(Policy {
        keep_last: a.keep_last.unwrap_or(b.keep_last),
        max_age,
    })
}

async fn apply_retention(
    store: &AnyStore,
    stack: &str,
    policy: Policy,
    dry_run: bool,
) -> Result<(), CliError> {
    let (decisions, pruned) = prune(store, stack, policy, chrono::Utc::now(), dry_run)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let verb = if dry_run { "would delete" } else { "deleted" };
    for d in &decisions {
        if !d.keep {
            eprintln!("retention: {verb} {} ({})", d.id, d.reason);
        }
    }
    eprintln!(
        "retention (keep-last {}, max-age {}): {} backup(s) kept, {verb} {} backup(s), {} WAL file(s) no kept backup needs and {} orphan object(s)",
        policy.keep_last,
        crate::api::quantity::format_duration(policy.max_age),
        decisions.iter().filter(|d| d.keep).count(),
        pruned.backups.len(),
        pruned.wal_objects,
        pruned.orphan_objects
    );
    Ok(())
}

async fn list(a: ListArgs) -> Result<(), CliError> {
    let (stack, _) = load(&a.file.file)?;
    let store = open_store(&stack)?;
    let all = catalog(&store, &stack.name)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    if a.output == "json" {
        println!(
            "{}",
            serde_json::to_string_pretty(&all).map_err(|e| CliError::Runtime(e.to_string()))?
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|m| {
            vec![
                m.id.clone(),
                m.kind.as_str().into(),
                m.finished_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                format_bytes(m.stored_bytes()),
                m.start_lsn.clone().unwrap_or_default(),
                m.stop_lsn.clone().unwrap_or_default(),
            ]
        })
        .collect();
    println!(
        "{}",
        table(
            &["ID", "KIND", "FINISHED", "SIZE", "START LSN", "STOP LSN"],
            &rows
        )
    );
    Ok(())
}

/// PostgreSQL's own check of a base backup (its backup_manifest and the WAL it needs), in a
/// throwaway container of the database image, so the tool's version matches the server's.
#[allow(clippy::too_many_arguments)]
async fn pg_verifybackup<E: crate::docker::Engine>(
    engine: &E,
    store: &AnyStore,
    stack: &str,
    image: &str,
    m: &Manifest,
    key: Option<Key>,
) -> Result<crate::docker::engine::ExecOutput, CliError> {
    let object = store
        .get(&m.object_key("base.tar.zst"))
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let meter = Meter::default();
    let (tar, decoder) = crate::protect::decode::spawn_zstd(Box::pin(metered(object, &meter)), key);
    let stored = m
        .objects
        .iter()
        .find(|o| o.name == "base.tar.zst")
        .map(|o| o.size);
    let bar = Bar::bytes(&format!("pg_verifybackup {}", m.id), &meter, stored);
    let labels = std::collections::HashMap::from([
        (crate::plan::LABEL_STACK.to_string(), stack.to_string()),
        (
            crate::plan::LABEL_COMPONENT.to_string(),
            "verify".to_string(),
        ),
    ]);
    let script = "set -e; d=$(mktemp -d); tar -x -C \"$d\"; pg_verifybackup \"$d\"; rm -rf \"$d\"";
    let name = format!("{stack}-verify");
    let (out, decoded) = tokio::join!(
        engine.run_with_stdin(&name, image, script, Vec::new(), labels, tar),
        decoder
    );
    bar.done();
    decoded
        .map_err(|e| CliError::Runtime(e.to_string()))?
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    Ok(out?)
}

async fn verify_cmd(a: VerifyArgs) -> Result<(), CliError> {
    let (stack, _) = load(&a.file.file)?;
    let store = open_store(&stack)?;
    let mut all = catalog(&store, &stack.name)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    if let Some(id) = &a.id {
        all.retain(|m| &m.id == id);
        if all.is_empty() {
            return Err(CliError::Invalid(format!(
                "--id: backup {id:?} not found (see `appstack backup list`)"
            )));
        }
    }
    let mut problems = verify(&store, &all)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let mut objects: usize = all.iter().map(|m| m.objects.len()).sum();
    let bases: Vec<Manifest> = all
        .iter()
        .filter(|m| m.kind == Kind::Base)
        .cloned()
        .collect();
    let (wal_objects, wal_problems) =
        crate::protect::verify::verify_wal(&store, &stack.name, &bases, spec_key(&stack)?)
            .await
            .map_err(|e| CliError::Runtime(e.to_string()))?;
    objects += wal_objects;
    problems.extend(wal_problems);
    if problems.is_empty() {
        println!(
            "{} backup(s), {wal_objects} WAL file(s), {objects} object(s): all checksums match, WAL continuous from every base backup",
            all.len()
        );
        if a.checksums_only {
            return Ok(());
        }
        let bases: Vec<&Manifest> = all.iter().filter(|m| m.kind == Kind::Base).collect();
        if bases.is_empty() {
            return Ok(());
        }
        let image = stack
            .database
            .as_ref()
            .map(|d| d.image.clone())
            .ok_or_else(|| CliError::Invalid("spec.database: not set".into()))?;
        let engine = connect().await?;
        for m in bases {
            let out = pg_verifybackup(
                engine.as_ref(),
                &store,
                &stack.name,
                &image,
                m,
                key_for(&stack, m)?,
            )
            .await?;
            if out.exit_code != 0 {
                return Err(CliError::Runtime(format!(
                    "pg_verifybackup rejected {}: {}",
                    m.id,
                    out.output.trim()
                )));
            }
            println!(
                "{}: {}",
                m.id,
                out.output.lines().last().unwrap_or("verified").trim()
            );
        }
        return Ok(());
    }
    for p in &problems {
        eprintln!("CORRUPT {}: {}", p.object, p.message);
    }
    Err(CliError::Runtime(format!(
        "{} of {objects} object(s) failed verification",
        problems.len()
    )))
}

fn keygen(a: KeygenArgs) -> Result<(), CliError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = Key::generate();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&a.output)
        .map_err(|e| CliError::Invalid(format!("--output {}: {e}", a.output.display())))?;
    f.write_all(format!("{}\n", key.to_hex()).as_bytes())
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    eprintln!(
        "wrote a new key to {} (key id {}); keep a copy off this machine",
        a.output.display(),
        key.id()
    );
    Ok(())
}
