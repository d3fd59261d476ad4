use std::path::{Path, PathBuf};

use super::common::{load, secrets};
use super::{CliError, FileArg};
use crate::compose;

#[derive(Debug, clap::Subcommand)]
pub enum Target {
    /// Write a docker-compose.yml (with its config and secret files) that runs the same stack.
    #[command(
        after_help = "Examples:\n  appstack export compose -f examples/quickstart.yaml -o /tmp/quickstart\n  docker-compose -f /tmp/quickstart/docker-compose.yml up -d"
    )]
    Compose(ComposeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ComposeArgs {
    #[command(flatten)]
    pub file: FileArg,
    /// Directory to write docker-compose.yml, files/ and secrets/ into.
    #[arg(short = 'o', long = "output", value_name = "DIR")]
    pub output: PathBuf,
}

pub fn run(target: Target, state_dir: &Path) -> Result<(), CliError> {
    let Target::Compose(args) = target;
    let (_, plan) = load(&args.file.file)?;
    let resolved = secrets(state_dir, &plan)?;
    let written = compose::write::export(&plan, &resolved, &args.file.file, &args.output).map_err(
        |e| match e {
            compose::write::ExportError::Refused(m) => CliError::Invalid(m),
            compose::write::ExportError::Io(m) => CliError::Runtime(m),
        },
    )?;
    eprintln!("wrote {}", written.display());
    Ok(())
}
