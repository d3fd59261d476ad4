//! `appstack drill`: its options, handed to the drill runbook (`drill::docker` on this
//! engine, `drill::kube_pod` inside the drill CronJob's pod); prints the report and exits 1
//! when the drill failed.

use std::path::{Path, PathBuf};

use super::common::{load, table};
use super::CliError;
use crate::drill::fault::Fault;
use crate::drill::kube_pod::{self, KubeStep, PodPaths};
use crate::drill::{docker, verdict, Options, Report};

#[derive(Debug, clap::Args)]
#[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    pub action: Option<Action>,
    #[command(flatten)]
    pub source: super::source::Source,
    /// Kubernetes mode: the step of the drill pod this container runs (`prepare` writes
    /// the markers and restores into the pod's data volume, `check` checks the database
    /// sidecar and reports). The drill CronJob's pod runs both; `--stack` names the stack.
    #[arg(long, value_enum, requires = "stack")]
    pub step: Option<KubeStep>,
    /// Kubernetes mode: the database's data directory in the drill pod.
    #[arg(long, value_name = "DIR", default_value = "/var/lib/postgresql/data")]
    pub data: PathBuf,
    /// Kubernetes mode: the file the two steps share (the pod's state volume).
    #[arg(long, value_name = "FILE", default_value = "/drill/state.json")]
    pub state: PathBuf,
    /// Leave the restored copy `<stack>-drill` running to inspect it (remove it later with
    /// `--clean`); by default it is removed, volumes included, when the drill ends.
    #[arg(long)]
    pub keep: bool,
    /// Only remove a copy left by an earlier `--keep` or interrupted drill.
    #[arg(long, conflicts_with = "keep")]
    pub clean: bool,
    /// Damage what the drill reads — a view of the store with the WAL after the newest
    /// base backup, the stack records (manifest and sealed secrets) or the files backups
    /// hidden, or the newest base backup corrupted — to prove the drill fails on broken
    /// backups (exit 1, naming the fault). The store itself is never touched.
    #[arg(long, value_enum, value_name = "FAULT")]
    pub inject_fault: Option<Fault>,
    /// What to restore: `latest` (the newest shipped WAL, to exactly the counted cut when
    /// the store holds it), or `random`, a random point between the end of the oldest base
    /// backup and the cut, checked against the source's heartbeat rows (`appstack run`).
    #[arg(long, value_name = "TARGET", default_value = "latest", value_parser = ["latest", "random"])]
    pub to: String,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Action {
    /// List the stack's past drills from the store: when, verdict, RTO, RPO.
    #[command(
        after_help = "Examples:\n  appstack drill history -f examples/quickstart.yaml\n  appstack drill history -f stack.yaml -o json"
    )]
    History(HistoryArgs),
}

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub file: super::FileArg,
    /// Output format: table or json.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    if let Some(Action::History(h)) = args.action {
        return history(h).await;
    }
    let report = match args.source.file.clone() {
        Some(file) => {
            let (stack, _) = load(&file)?;
            let opts = Options {
                keep: args.keep,
                clean: args.clean,
                fault: args.inject_fault,
                to_random: args.to == "random",
            };
            docker::run(&stack, &file, &opts, state_dir).await?
        }
        None => {
            let step = args.step.ok_or_else(|| {
                CliError::Invalid("--stack: the drill in a cluster runs as the drill CronJob's pod (--step prepare|check)".into())
            })?;
            let loaded = args.source.load().await?;
            let (client, ns) = loaded
                .cluster
                .ok_or_else(|| CliError::Invalid("--step needs --stack".into()))?;
            let paths = PodPaths {
                data: args.data,
                state: args.state,
            };
            kube_pod::run(loaded.stack, client, ns, step, &paths).await?
        }
    };
    match report {
        Some(report) => print(&report, args.json),
        None => Ok(()),
    }
}

fn print(report: &Report, json: bool) -> Result<(), CliError> {
    if json {
        let text =
            serde_json::to_string_pretty(report).map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("{text}");
    } else {
        eprint!("{}", report.to_markdown());
    }
    Ok(verdict(report)?)
}

async fn history(args: HistoryArgs) -> Result<(), CliError> {
    let (stack, _) = load(&args.file.file)?;
    let reports = crate::drill::history(&stack).await?;
    if args.output == "json" {
        let text =
            serde_json::to_string_pretty(&reports).map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    let figure = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |v| format!("{v:.1}s"));
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.id.clone(),
                r.finished_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                if r.passed { "passed" } else { "FAILED" }.to_string(),
                figure(r.rto_seconds),
                figure(r.rpo_seconds),
                r.fault.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["DRILL", "FINISHED", "VERDICT", "RTO", "RPO", "FAULT"],
            &rows
        )
    );
    Ok(())
}
