use std::path::PathBuf;

use super::common::{connect, load, table};
use super::source::Source;
use super::{CliError, FileArg};
use crate::api::quantity::format_bytes;
use crate::kube::report::{catalog_facts, report};
use crate::kube::runner::KubeRunner;
use crate::protect::crypto::Key;
use crate::protect::jobs;
use crate::protect::manifest::{catalog, Kind};
use crate::protect::runner::DockerRunner;
use crate::protect::stack_record;
use crate::protect::store::{backup_target, open_store};

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
    /// Kubernetes (--stack): this component's volumes are mounted in this pod at its own
    /// paths, so its commands run here instead of through pods/exec (the files backup
    /// CronJob mounts the CMS uploads claim read-only).
    #[arg(long, value_name = "COMPONENT")]
    pub here: Vec<String>,
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

pub async fn run(cmd: Command, state_dir: &std::path::Path) -> Result<(), CliError> {
    match cmd {
        Command::Now(a) => now(a, state_dir).await,
        Command::List(a) => list(a).await,
        Command::Verify(a) => {
            let (stack, _) = load(&a.file.file)?;
            Ok(jobs::verify_store(&stack, a.id.as_deref(), a.checksums_only).await?)
        }
        Command::Keygen(a) => keygen(a),
    }
}

async fn now(a: NowArgs, state_dir: &std::path::Path) -> Result<(), CliError> {
    let loaded = a.source.load().await?;
    if !a.here.is_empty() && loaded.cluster.is_none() {
        return Err(CliError::Invalid(
            "--here: only with --stack (in Docker mode every command runs in its component's container)".into(),
        ));
    }
    let (stack, plan) = (&loaded.stack, &loaded.plan);
    let store = open_store(stack)?;
    let policy = jobs::policy(stack, a.max_age.as_deref(), a.keep_last)?;
    if a.prune_only {
        return Ok(jobs::apply_retention(&store, &stack.name, policy, a.dry_run).await?);
    }
    let t = backup_target(stack)?;
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
                local: a.here.clone(),
                client: client.clone(),
                namespace: ns.clone(),
                stack: plan.stack.clone(),
            };
            jobs::take(&store, &runner, &t, &kinds).await?;
        }
        None => {
            let runner = DockerRunner {
                engine: connect().await?,
                stack: plan.stack.clone(),
            };
            jobs::take(&store, &runner, &t, &kinds).await?;
        }
    }
    if kinds.contains(&Kind::Base) {
        // Beside the base backup: the stack record (Kubernetes keeps the secrets itself).
        let kept = match &loaded.cluster {
            Some(_) => stack_record::keep(stack, &Default::default()).await,
            None => stack_record::keep_from_state(stack, state_dir).await,
        };
        match kept {
            Ok(Some(key)) => eprintln!("stack record kept in the store as {key}"),
            Ok(None) => {}
            Err(e) => eprintln!("warning: could not keep the stack record in the store: {e}"),
        }
    }
    jobs::apply_retention(&store, &stack.name, policy, a.dry_run).await?;
    // The operator's BackupHealthy condition reads what the store now holds.
    if let Some((client, ns)) = &loaded.cluster {
        if let Some(r) = crate::daemon::status::recoverability(stack).await {
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

fn keygen(a: KeygenArgs) -> Result<(), CliError> {
    let key = Key::generate_into(&a.output)?;
    eprintln!(
        "wrote a new key to {} (key id {}); keep a copy off this machine",
        a.output.display(),
        key.id()
    );
    Ok(())
}
