use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use super::common::{connect, load};
use super::{CliError, FileArg};
use crate::docker::down::down;
use crate::docker::progress::Lines;
use crate::secrets::SecretStore;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// Also delete the stack's volumes (its data!) and generated secrets.
    #[arg(long)]
    pub volumes: bool,
    /// Do not ask for confirmation before deleting volumes.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let (_, plan) = load(&args.file.file)?;
    if args.volumes && !args.yes && !confirm(&plan.stack)? {
        return Err(CliError::Invalid(
            "not confirmed: volumes kept, nothing removed".into(),
        ));
    }
    let engine = connect().await?;
    let removed = down(engine.as_ref(), &plan, args.volumes, &Lines::new()).await?;
    if args.volumes {
        SecretStore::new(state_dir, &plan.stack).remove_all()?;
    }
    eprintln!(
        "stack {}: {removed} container(s) removed; volumes {}",
        plan.stack,
        if args.volumes { "deleted" } else { "kept" }
    );
    Ok(())
}

fn confirm(stack: &str) -> Result<bool, CliError> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::Invalid(
            "--volumes deletes data: confirm on a terminal or pass --yes".into(),
        ));
    }
    eprint!("Delete all volumes (data) of stack {stack:?}? Type the stack name to confirm: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    Ok(line.trim() == stack)
}
