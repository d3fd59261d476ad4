//! `appstack alert-test`: posts a test alert to the running Alertmanager and says where it
//! went (`ops::alert_test`); exit 1 when a receiver did not get it.

use std::path::Path;
use std::time::Duration;

use super::common::{connect, load};
use super::{CliError, FileArg};
use crate::ops::alert_test::{self, AlertTestError};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub file: FileArg,
    /// How long to wait for every receiver (e.g. 60s).
    #[arg(long, default_value = "60s")]
    pub wait: String,
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    let wait = crate::api::quantity::parse_duration(&args.wait)
        .filter(|d| *d > Duration::ZERO)
        .ok_or_else(|| {
            CliError::Invalid(format!(
                "--wait: {:?} is not a duration (e.g. 60s)",
                args.wait
            ))
        })?;
    let (stack, plan) = load(&args.file.file)?;
    let engine = connect().await?;
    let out = alert_test::run(engine.as_ref(), &stack, &plan, state_dir, wait)
        .await
        .map_err(|e| match e {
            AlertTestError::NotConfigured(m) => CliError::Invalid(m),
            AlertTestError::Unreachable(m) => CliError::Runtime(m),
        })?;
    eprintln!(
        "test alert {} (test_id {}) posted to {}-alertmanager",
        alert_test::TEST_ALERT,
        out.id,
        plan.stack
    );
    for d in &out.deliveries {
        match d.latency {
            Some(t) if d.delivered => eprintln!(
                "  delivered  {} in {:.1}s: {}",
                d.receiver,
                t.as_secs_f64(),
                d.detail
            ),
            _ => eprintln!("  FAILED     {}: {}", d.receiver, d.detail),
        }
    }
    if out.all_delivered() {
        Ok(())
    } else {
        Err(CliError::Runtime(
            "the test alert did not reach every receiver".into(),
        ))
    }
}
