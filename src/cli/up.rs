use std::path::Path;
use std::sync::Arc;

use super::common::{connect, load, secrets};
use super::{CliError, FileArg};
use crate::docker::apply::Applier;
use crate::docker::progress::Lines;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// Return once containers are started, without waiting for health.
    #[arg(long)]
    pub no_wait: bool,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let (validated, plan) = load(&args.file.file)?;
    if crate::maintenance::active(state_dir, &plan.stack) {
        return Err(CliError::Runtime(format!(
            "stack {} is under maintenance (an in-place restore, a deploy or a rollback); run `up` again when it has finished",
            plan.stack
        )));
    }
    let engine = connect().await?;
    let secrets = secrets(state_dir, &plan)?;
    let stack = plan.stack.clone();
    let plan = Arc::new(plan);
    let applier = Applier {
        engine: engine.clone(),
        plan: plan.clone(),
        secrets: secrets.clone(),
        reporter: Arc::new(Lines::new()),
        wait: !args.no_wait,
    };
    let report = applier.apply().await?;
    if !args.no_wait {
        let done = crate::ops::after_apply::docker(engine, &validated, &plan, &secrets).await;
        for line in done.lines() {
            eprintln!("{line}");
        }
    }
    // The store keeps the applied spec (and the sealed secrets) beside the backups.
    match crate::protect::stack_record::keep_from_state(&validated, state_dir).await {
        Ok(Some(key)) => eprintln!("applied spec kept in the backup store as {key}"),
        Ok(None) => {}
        Err(e) => eprintln!("warning: could not keep the applied spec in the backup store: {e}"),
    }
    if report.changes() == 0 {
        eprintln!(
            "stack {stack}: up to date, 0 changes ({:.0} ms)",
            report.duration.as_secs_f64() * 1000.0
        );
    } else {
        eprintln!(
            "stack {stack}: {} change(s), all healthy in {:.1}s",
            report.changes(),
            report.duration.as_secs_f64()
        );
    }
    Ok(())
}
