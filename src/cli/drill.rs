//! `appstack drill`: its options, handed to the drill runbook (`drill::docker` on this
//! engine, `drill::kube_pod` inside the drill CronJob's pod); prints the report and exits 1
//! when the drill failed.

use std::path::{Path, PathBuf};

use super::common::load;
use super::CliError;
use crate::drill::kube_pod::{self, KubeStep, PodPaths};
use crate::drill::{docker, verdict, Options, Report};

#[derive(Debug, clap::Args)]
pub struct Args {
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
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let report = match args.source.file.clone() {
        Some(file) => {
            let (stack, _) = load(&file)?;
            let opts = Options {
                keep: args.keep,
                clean: args.clean,
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
