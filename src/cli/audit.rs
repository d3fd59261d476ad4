//! `appstack audit`: the stack's performance audit.

use std::path::PathBuf;
use std::time::Duration;

use super::common::{connect, duration};
use super::source::Source;
use super::CliError;
use crate::audit::capacity::{render, CapacityRequest};
use crate::audit::{self, AuditError, AuditRequest};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,
    /// The whole audit's time bound.
    #[arg(long, default_value = "5m", value_parser = duration)]
    pub max_duration: Duration,
    /// Requests per route for the timings (each on a new connection).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub samples: u32,
    /// Create the proven missing indexes (CREATE INDEX CONCURRENTLY) and measure again.
    #[arg(long)]
    pub apply_indexes: bool,
    /// The user counts of the capacity table.
    #[arg(long, value_delimiter = ',', default_value = "50,100,200",
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub users: Vec<u32>,
    /// Run one row of the capacity table for real and compare its p95 with the prediction:
    /// SCENARIO:USERS, SCENARIO one of browsing, heavy, peak (e.g. `peak:50`).
    #[arg(long, value_name = "SCENARIO:USERS", value_parser = verify_row)]
    pub verify: Option<(String, u32)>,
    /// Skip the capacity test (no load beyond the route timings).
    #[arg(long, conflicts_with = "verify")]
    pub no_load: bool,
    /// An earlier report (`-o json`, or audit.json of --out) to compare with, check by check.
    #[arg(long, value_name = "PREVIOUS.json")]
    pub compare: Option<PathBuf>,
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
    let previous = match &args.compare {
        Some(path) => Some(read_previous(path)?),
        None => None,
    };
    if args.verify.is_some() && args.source.stack.is_some() {
        return Err(CliError::Invalid(format!(
            "--verify: the capacity test is {}",
            audit::kube::NO_CAPACITY
        )));
    }
    let loaded = args.source.load().await?;
    let (stack, plan) = (&loaded.stack, &loaded.plan);
    let req = AuditRequest {
        max_duration: args.max_duration,
        samples: args.samples,
        apply_indexes: args.apply_indexes,
        capacity: (!args.no_load).then(|| CapacityRequest {
            users: args.users.clone(),
            verify: args.verify.clone(),
        }),
        previous,
    };
    if let Some((name, users)) = &args.verify {
        if !args.users.contains(users) {
            return Err(CliError::Invalid(format!(
                "--verify {name}:{users}: {users} is not one of --users {:?}",
                args.users
            )));
        }
    }
    let report = match &loaded.cluster {
        Some((client, ns)) => audit::kube::run(client.clone(), ns, stack, plan, &req).await?,
        None => audit::run(connect().await?.as_ref(), stack, plan, &req).await?,
    };
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
        if let Some(c) = &report.capacity {
            let p95 = render::svg(c, "p95 latency against users", "ms", |s| s.p95_ms);
            let cpu = render::svg(c, "stack CPU against users", "cores", |s| s.stack_cpu_cores);
            write("capacity-latency.svg", &p95)?;
            write("capacity-cpu.svg", &cpu)?;
        }
    }
    if args.output == "json" {
        println!("{json}");
    } else {
        print!("{md}");
    }
    Ok(())
}

/// `SCENARIO:USERS` of `--verify`.
fn verify_row(text: &str) -> Result<(String, u32), String> {
    let (name, users) = text
        .split_once(':')
        .ok_or("expected SCENARIO:USERS, e.g. peak:50")?;
    if audit::capacity::scenario(name).is_none() {
        return Err(format!(
            "unknown scenario {name:?}: expected browsing, heavy or peak"
        ));
    }
    let users = users
        .parse::<u32>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{users:?} is not a number of users"))?;
    Ok((name.to_string(), users))
}

/// The report `--compare` names, read and checked before the audit runs.
fn read_previous(path: &std::path::Path) -> Result<serde_json::Value, CliError> {
    let bad = |e: String| CliError::Invalid(format!("--compare {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
    audit::compare::check_shape(&value).map_err(bad)?;
    Ok(value)
}
