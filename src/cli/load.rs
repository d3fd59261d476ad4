//! `appstack load`: the audit's load generator on one URL (what the benchmark compares
//! with wrk).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::common::duration;
use super::CliError;
use crate::load::{self, Load, Pace, Route};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The URL to load (http or https).
    pub url: String,
    /// Send to this address instead of resolving the URL's host (like curl's --resolve).
    #[arg(long, value_name = "IP:PORT")]
    pub connect_to: Option<SocketAddr>,
    /// PEM roots to trust for https (default: the system's).
    #[arg(long, value_name = "FILE")]
    pub cacert: Option<PathBuf>,
    /// Virtual users (closed model: each waits for its answer, thinks, sends again).
    #[arg(long, default_value_t = 10, conflicts_with = "rate")]
    pub users: u32,
    /// A user's mean think time between requests (0: as fast as answers come).
    #[arg(long, default_value = "0s", value_parser = duration)]
    pub think: Duration,
    /// A fixed arrival rate in requests/s instead (open model), on --connections.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Connections for the open model.
    #[arg(long, default_value_t = 50)]
    pub connections: u32,
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub duration: Duration,
    /// A hard bound on requests sent.
    #[arg(long, default_value_t = 10_000_000)]
    pub max_requests: u64,
    /// OS threads (each a single-threaded runtime); 1 measures one core.
    #[arg(long, default_value_t = 1)]
    pub threads: u32,
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

pub fn run(args: Args) -> Result<(), CliError> {
    let (endpoint, path) = load::endpoint(&args.url, args.connect_to, args.cacert.as_deref())
        .map_err(CliError::Invalid)?;
    let pace = match args.rate {
        Some(rate) if rate > 0.0 && rate.is_finite() => Pace::Open {
            rate,
            connections: args.connections.max(1),
        },
        Some(rate) => {
            return Err(CliError::Invalid(format!(
                "--rate {rate}: expected a rate above 0"
            )))
        }
        None => Pace::Closed {
            users: args.users.max(1),
            think: args.think,
        },
    };
    let spec = Load {
        endpoint,
        routes: vec![Route {
            path,
            weight: 1,
            endpoint: None,
        }],
        pace,
        duration: args.duration,
        max_requests: args.max_requests,
    };
    let stats =
        load::run_on_threads(&spec, args.threads).map_err(|e| CliError::Runtime(e.to_string()))?;
    let report = load::Summary::of(&stats);
    if args.output == "json" {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", report.text());
    }
    Ok(())
}
