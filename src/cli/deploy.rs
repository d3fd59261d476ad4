//! `appstack deploy`: parse, run `deploy::deploy`, print its report.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::common::duration;
use super::common::{connect, load, secrets};
use super::source::Source;
use super::CliError;
use crate::deploy::{self, DeployError, DeployRequest, Outcome};
use crate::docker::progress::Lines;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub source: Source,
    /// The component to deploy (frontend, cms, or a stateless service behind the edge).
    pub component: String,
    /// The new image (present locally, or pullable).
    #[arg(long)]
    pub image: String,
    /// Run spec.<component>.migrate once in the new image before the cutover.
    #[arg(long)]
    pub migrate: bool,
    /// Serve the edge's maintenance page (503) while migrating and starting the new version.
    #[arg(long)]
    pub maintenance: bool,
    /// Write the new image into the manifest after a successful deploy.
    #[arg(long)]
    pub write: bool,
    /// How long the new version is watched (health checks, probe failure rate against the
    /// old version's) before the old one is let go; a worse result rolls back.
    #[arg(long, default_value = "60s", value_parser = duration)]
    pub watch: Duration,
    /// Probe requests per second against the public route during the deploy.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=500))]
    pub rate: u32,
    /// Path the probe requests.
    #[arg(long, default_value = "/")]
    pub probe_path: String,
    /// The most the migration may take.
    #[arg(long, default_value = "10m", value_parser = duration)]
    pub migrate_timeout: Duration,
    /// The most the new container may take to become healthy (default: its health check's
    /// start period and retries).
    #[arg(long, value_parser = duration)]
    pub health_timeout: Option<Duration>,
    #[arg(short = 'o', long, default_value = "text", value_parser = ["text", "json"])]
    pub output: String,
}

impl From<DeployError> for CliError {
    fn from(e: DeployError) -> Self {
        match e {
            DeployError::Invalid(m) => CliError::Invalid(m),
            DeployError::Docker(d) => CliError::Docker(d),
            other => CliError::Runtime(other.to_string()),
        }
    }
}

pub async fn run(args: Args, state_dir: &Path) -> Result<(), CliError> {
    if !args.probe_path.starts_with('/')
        || args
            .probe_path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(CliError::Invalid(format!(
            "--probe-path {:?}: a URL path starting with '/'",
            args.probe_path
        )));
    }
    if args.source.file.is_some() && args.source.namespace.is_some() {
        return Err(CliError::Invalid(
            "--namespace: only with --stack (a manifest file has no namespace)".into(),
        ));
    }
    let req = DeployRequest {
        component: args.component,
        image: args.image,
        migrate: args.migrate,
        maintenance: args.maintenance,
        write: args.write.then(|| args.source.file.clone()).flatten(),
        watch: args.watch,
        rate: args.rate,
        probe_path: args.probe_path,
        migrate_timeout: args.migrate_timeout,
        health_timeout: args.health_timeout,
    };
    let report = match (&args.source.file, &args.source.stack) {
        (Some(file), _) => {
            let (validated, plan) = load(file)?;
            let engine = connect().await?;
            let secrets = secrets(state_dir, &plan)?;
            let reporter = Arc::new(Lines::new());
            deploy::deploy(engine, &validated, secrets, state_dir, &req, reporter).await?
        }
        (None, Some(name)) => {
            let (client, ns) =
                crate::kube::source::connect(name, args.source.namespace.as_deref()).await?;
            deploy::deploy_in_cluster(client, &ns, name, &req, &Lines::new()).await?
        }
        (None, None) => return Err(CliError::Invalid("give -f FILE or --stack NAME".into())),
    };
    if args.output == "json" {
        let text =
            serde_json::to_string_pretty(&report).map_err(|e| CliError::Runtime(e.to_string()))?;
        println!("{text}");
    } else {
        print!("{}", deploy::report::text(&report));
    }
    match report.outcome {
        Outcome::Deployed => Ok(()),
        Outcome::RolledBack => Err(CliError::Runtime(format!(
            "deploy of {} rolled back: the previous version serves",
            report.component
        ))),
        Outcome::Aborted => Err(CliError::Runtime(format!(
            "deploy of {} aborted before the switch: the previous version kept serving",
            report.component
        ))),
    }
}
