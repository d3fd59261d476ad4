//! `appstack wal ship`: drains a WAL spool into the stack's store until stopped (see
//! `daemon::sidecar`). In Kubernetes mode this is the sidecar next to `pg_receivewal` in
//! the database pod; `appstack run` does the same itself in Docker mode.

use std::net::SocketAddr;
use std::path::PathBuf;

use super::source::Source;
use super::CliError;
use crate::daemon::{sidecar, DaemonError};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Ship the WAL `pg_receivewal` writes into DIR to the stack's store, until stopped:
    /// complete segments in order, the open one every shipInterval; a store outage spools
    /// and retries, never skips.
    #[command(
        after_help = "Examples:\n  appstack wal ship --stack crm --namespace shop --spool /var/lib/postgresql/spool\n  appstack wal ship -f stack.yaml --spool /srv/wal-spool --listen 127.0.0.1:9465"
    )]
    Ship(ShipArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShipArgs {
    #[command(flatten)]
    pub source: Source,
    /// The spool directory `pg_receivewal` writes into.
    #[arg(long, value_name = "DIR")]
    pub spool: PathBuf,
    /// Serve /metrics and /healthz on this address (off when unset).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

pub async fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Ship(a) => ship(a).await,
    }
}

async fn ship(a: ShipArgs) -> Result<(), CliError> {
    if !a.spool.is_dir() {
        return Err(CliError::Invalid(format!(
            "--spool {}: not a directory",
            a.spool.display()
        )));
    }
    let loaded = a.source.load().await?;
    sidecar::ship_spool(loaded.stack, loaded.cluster, a.spool, a.listen)
        .await
        .map_err(|e| match e {
            DaemonError::Invalid(m) => CliError::Invalid(m),
            other => CliError::Runtime(other.to_string()),
        })
}
