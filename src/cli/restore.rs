//! `appstack restore`: its options, handed to the restore engine (`protect::restore`).

use std::path::{Path, PathBuf};

use super::common::load;
use super::CliError;
use crate::protect::restore::{self, Request};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The AppStack manifest (YAML) of the stack whose backup is restored.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    pub file: PathBuf,
    /// Restore into a new, isolated stack of this name (no published ports, same images).
    #[arg(long, value_name = "NAME")]
    pub into: Option<String>,
    /// What to restore: `latest` (newest base backup plus all shipped WAL), an RFC 3339
    /// time (point in time: base backup plus WAL replayed up to it), or a base backup id
    /// (that backup alone, see `appstack backup list`).
    #[arg(long, default_value = "latest")]
    pub to: String,
    /// Restore into the stack itself, replacing its database (without `--into`). A safety
    /// backup of the current database is taken first (or, when it does not answer, its
    /// cluster directory is kept aside in the volume), and a base backup of the restored
    /// database's new timeline after.
    #[arg(long, conflicts_with = "into")]
    pub force: bool,
    /// Restore a logical dump instead (an id of kind dump from `appstack backup list`): a
    /// fresh database, then the roles, then every database with `pg_restore -j`.
    #[arg(long, value_name = "DUMP_ID", conflicts_with = "to")]
    pub from_dump: Option<String>,
    /// Restore the database's files into this directory instead of a stack: the cluster
    /// goes to DIR/pgdata, set to replay the WAL (to --to) and promote when a PostgreSQL of
    /// the same major version starts on it (e.g. a container mounting DIR at
    /// /var/lib/postgresql/data). What the Kubernetes drill pod does.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["into", "force", "from_dump"])]
    pub to_dir: Option<PathBuf>,
}

/// Restores as the options say (see `protect::restore::run`).
pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let (stack, _) = load(&args.file)?;
    let request = Request {
        file: args.file,
        into: args.into,
        to: args.to,
        force: args.force,
        from_dump: args.from_dump,
        to_dir: args.to_dir,
    };
    Ok(restore::run(&request, stack, state_dir).await?)
}
