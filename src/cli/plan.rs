use std::path::Path;
use std::sync::Arc;

use super::common::{connect, load, secrets, table};
use super::{CliError, FileArg};
use crate::docker::apply::Applier;
use crate::docker::diff::Step;
use crate::docker::progress::Silent;
use crate::plan::rollout::rollout;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let (_, plan) = load(&args.file.file)?;
    let engine = connect().await?;
    let secrets = secrets(state_dir, &plan)?;
    let plan = Arc::new(plan);
    let applier = Applier {
        engine,
        plan: plan.clone(),
        secrets,
        reporter: Arc::new(Silent),
        wait: false,
    };
    let (steps, observed) = applier.steps().await?;
    let held = crate::docker::diff::held_back(&plan, &applier.hashes(), &observed);
    let mut rows = Vec::new();
    for c in &plan.components {
        let step = steps
            .iter()
            .find(|s| s.component() == Some(c.name.as_str()));
        let (action, why) = match step {
            Some(Step::Create { .. }) => ("create", "missing".to_string()),
            Some(Step::Recreate { old_hash, .. }) => (
                "recreate",
                format!(
                    "spec changed ({old_hash} -> new); {}",
                    rollout(c).describe()
                ),
            ),
            Some(Step::Start { .. }) => ("start", "not running".to_string()),
            _ if held.contains(&c.name) => (
                "hold",
                "rolled back from the spec's version; held until the spec changes".to_string(),
            ),
            _ => ("-", "up to date".to_string()),
        };
        rows.push(vec![c.name.clone(), action.into(), c.image.clone(), why]);
    }
    for s in &steps {
        if let Step::Remove { container, reason } = s {
            rows.push(vec![
                container.clone(),
                "remove".into(),
                String::new(),
                reason.to_string(),
            ]);
        }
    }
    println!(
        "{}",
        table(&["COMPONENT", "ACTION", "IMAGE", "REASON"], &rows)
    );
    println!("\n{} change(s)", steps.len());
    Ok(())
}
