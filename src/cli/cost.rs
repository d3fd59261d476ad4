//! `appstack cost`: the monthly estimate of running a stack.

use std::path::PathBuf;

use super::common::load;
use super::{CliError, FileArg};
use crate::cost::{self, CostError, Request, Runtime};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// The provider's key in the price table (`digitalocean`, `lightsail`, `hetzner` in the
    /// built-in one).
    #[arg(long, default_value = "digitalocean")]
    pub provider: String,
    /// A price table of the same shape as data/prices.yaml, instead of the built-in one.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// One VPS (docker), or a node pool sized from the pods' requests (kubernetes).
    #[arg(long, value_enum, default_value = "docker")]
    pub runtime: Runtime,
    /// Add the provider's load balancer in front.
    #[arg(long)]
    pub load_balancer: bool,
    /// Estimate the backups' size from the database volume instead of listing the store.
    #[arg(long)]
    pub no_store: bool,
    #[arg(short = 'o', long, default_value = "md", value_parser = ["md", "json"])]
    pub output: String,
}

impl From<CostError> for CliError {
    fn from(e: CostError) -> Self {
        match e.category() {
            "invalid" => CliError::Invalid(e.to_string()),
            _ => CliError::Runtime(e.to_string()),
        }
    }
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let (stack, plan) = load(&args.file.file)?;
    let req = Request {
        provider: args.provider,
        prices: args.prices,
        runtime: args.runtime,
        load_balancer: args.load_balancer,
        look_at_store: !args.no_store,
    };
    let e = cost::estimate(&stack, &plan, &req).await?;
    if args.output == "json" {
        let text =
            serde_json::to_string_pretty(&e).map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", cost::render::markdown(&e));
    }
    Ok(())
}
