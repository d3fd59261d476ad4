//! `appstack health-check`: runs the checks (`health`) and prints them; exit 0 when all
//! pass, 1 on a failed error (with `--strict`, also a failed warning), 2 when the stack does
//! not run here.

use std::path::Path;

use super::common::{connect, load, table};
use super::{CliError, FileArg};
use crate::health::{self, HealthError};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// Fail on warnings too (what a deploy gate wants).
    #[arg(long)]
    pub strict: bool,
    /// Output format: table or json.
    #[arg(short = 'o', long, default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let (stack, plan) = load(&args.file.file)?;
    let engine = connect().await?;
    let report = health::run(engine, &stack, &plan, state_dir)
        .await
        .map_err(|e| match e {
            HealthError::NoStack(m) => CliError::Invalid(m),
            HealthError::Engine(m) => CliError::Runtime(m),
        })?;
    if args.output == "json" {
        let doc = serde_json::json!({"report": report, "strict": args.strict, "exitCode": report.exit_code(args.strict)});
        println!(
            "{}",
            serde_json::to_string_pretty(&doc).map_err(|e| CliError::Runtime(e.to_string()))?
        );
    } else {
        let rows: Vec<Vec<String>> = report
            .checks
            .iter()
            .map(|c| {
                let result = match (c.passed, c.level) {
                    (true, _) => "ok",
                    (false, health::Level::Error) => "FAIL",
                    (false, health::Level::Warning) => "WARN",
                };
                vec![result.into(), c.id.into(), c.evidence.clone()]
            })
            .collect();
        println!("{}", table(&["RESULT", "CHECK", "EVIDENCE"], &rows));
        for c in report.checks.iter().filter(|c| !c.passed) {
            println!("fix {}: {}", c.id, c.fix);
        }
        println!(
            "stack {}: {} checks in {:.1}s",
            report.stack,
            report.checks.len(),
            report.took
        );
    }
    match report.exit_code(args.strict) {
        0 => Ok(()),
        _ => Err(CliError::Runtime(format!(
            "health check failed{}",
            if args.strict {
                " (strict: warnings count)"
            } else {
                ""
            }
        ))),
    }
}
