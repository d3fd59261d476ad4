//! `appstack audit`: the stack's performance audit.

use std::path::PathBuf;
use std::time::Duration;

use super::common::{connect, duration, load};
use super::{CliError, FileArg};
use crate::audit::{self, AuditError, AuditRequest};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// The whole audit's time bound.
    #[arg(long, default_value = "5m", value_parser = duration)]
    pub max_duration: Duration,
    /// Requests per route for the timings (each on a new connection).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub samples: u32,
    /// Create the proven missing indexes (CREATE INDEX CONCURRENTLY) and measure again.
    #[arg(long)]
    pub apply_indexes: bool,
    #[arg(short = 'o', long, default_value = "md", value_parser = ["md", "json"])]
    pub output: String,
    /// Also write audit.md and audit.json into this directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

impl From<AuditError> for CliError {
    fn from(e: AuditError) -> Self {
        match e.category() {
            "invalid" => CliError::Invalid(e.to_string()),
            _ => CliError::Runtime(e.to_string()),
        }
    }
}

pub async fn run(args: Args) -> Result<(), CliError> {
    let (stack, plan) = load(&args.file.file)?;
    let engine = connect().await?;
    let req = AuditRequest {
        max_duration: args.max_duration,
        samples: args.samples,
        apply_indexes: args.apply_indexes,
    };
    let report = audit::run(engine.as_ref(), &stack, &plan, &req).await?;
    let md = audit::report::markdown(&report);
    let json =
        serde_json::to_string_pretty(&report).map_err(|e| CliError::Runtime(e.to_string()))?;
    if let Some(dir) = &args.out {
        let write = |name: &str, text: &str| {
            std::fs::create_dir_all(dir)
                .and_then(|_| std::fs::write(dir.join(name), text))
                .map_err(|e| CliError::Runtime(format!("{}: {e}", dir.join(name).display())))
        };
        write("audit.md", &md)?;
        write("audit.json", &json)?;
    }
    if args.output == "json" {
        println!("{json}");
    } else {
        print!("{md}");
    }
    Ok(())
}
