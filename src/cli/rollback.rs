//! `appstack rollback`: switch a component back to its kept previous version.

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
    /// The component to switch back (one replaced blue/green: frontend, cms, a service).
    pub component: String,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let (_, plan) = load(&args.file.file)?;
    let Some(c) = plan.component(&args.component).cloned() else {
        return Err(CliError::Invalid(format!(
            "the stack has no component {}",
            args.component
        )));
    };
    let _maintenance = crate::maintenance::begin(state_dir, &plan.stack)
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    let engine = connect().await?;
    let secrets = secrets(state_dir, &plan)?;
    let applier = Applier {
        engine,
        plan: Arc::new(plan),
        secrets,
        reporter: Arc::new(Lines::new()),
        wait: true,
    };
    let done = applier.rollback(&c).await?;
    println!(
        "{}: the previous version serves (traffic switched {:.2}s after the command{})",
        c.name,
        done.switched_after.as_secs_f64(),
        if done.started {
            ", after starting it"
        } else {
            ""
        }
    );
    Ok(())
}
