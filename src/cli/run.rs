use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::common::connect;
use super::CliError;
use crate::api::quantity::parse_duration;
use crate::daemon::{self, restarts::Policy, Options};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// AppStack manifests to keep converged (repeat for several stacks).
    #[arg(short = 'f', long = "file", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Address of /metrics, /healthz and /readyz (loopback only).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// Full resync period (e.g. 30s, 5m).
    #[arg(long, default_value = "30s")]
    pub resync: String,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let resync = parse_duration(&args.resync)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CliError::Invalid(format!(
                "--resync: {:?} is not a duration (e.g. 30s)",
                args.resync
            ))
        })?;
    for f in &args.files {
        // Fail fast on a manifest that is invalid at start; later edits are reported and waited out.
        crate::api::load_validated(f)?;
    }
    let engine = connect().await?;
    let opts = Options {
        files: args.files,
        listen: args.listen,
        resync,
        state_dir: state_dir.to_path_buf(),
        policy: Policy::default(),
    };
    daemon::run(engine, opts)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))
}
