use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::CliError;
use crate::api::conditions::SystemClock;
use crate::kube::controller::{run as run_controller, Context};
use crate::kube::lease::{self, Leadership, LeaseConfig};
use crate::kube::Images;
use crate::telemetry::http::{serve, Endpoint};
use crate::telemetry::metrics::Metrics;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Watch AppStacks in this namespace only (default: every namespace).
    #[arg(long, env = "WATCH_NAMESPACE", value_name = "NS")]
    pub namespace: Option<String>,
    /// Serve /metrics, /healthz and /readyz (ready after the first sync) on this address.
    #[arg(long, default_value = "0.0.0.0:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Namespace of the leader-election Lease (the operator's own).
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "appstack-system",
        value_name = "NS"
    )]
    pub lease_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "appstack-operator", value_name = "NAME")]
    pub lease_name: String,
    /// This replica's identity in the Lease (the pod name).
    #[arg(long, env = "POD_NAME", value_name = "ID")]
    pub identity: Option<String>,
    /// The appstack image used for WAL shipper sidecars and backup CronJobs.
    #[arg(long, env = "OPERATOR_IMAGE", value_name = "IMAGE")]
    pub operator_image: Option<String>,
}

/// Runs the operator until SIGTERM: leader election, the controller, and the endpoint.
pub async fn run(args: Args) -> Result<(), CliError> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| CliError::Runtime(format!("cannot reach the Kubernetes API: {e}")))?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::Invalid(format!("--listen {}: {e}", args.listen)))?;
    tokio::spawn(serve(
        listener,
        Arc::new(Endpoint {
            metrics: metrics.clone(),
            ready: ready.clone(),
        }),
    ));
    let leadership = Leadership::default();
    let identity = args
        .identity
        .unwrap_or_else(|| format!("appstack-{}", std::process::id()));
    let lease_cfg = LeaseConfig {
        namespace: args.lease_namespace,
        name: args.lease_name,
        identity,
        duration: Duration::from_secs(15),
    };
    lease::first(client.clone(), &lease_cfg, &leadership)
        .await
        .map_err(|e| CliError::Runtime(e.to_string()))?;
    tokio::spawn(lease::run(client.clone(), lease_cfg, leadership.clone()));
    let mut images = Images::default();
    if let Some(i) = args.operator_image {
        images.operator = i;
    }
    let ctx = Arc::new(Context::new(
        client,
        images,
        Arc::new(SystemClock),
        leadership,
        metrics,
    ));
    // The chart passes an empty WATCH_NAMESPACE for "every namespace".
    let namespace = args.namespace.filter(|n| !n.is_empty());
    run_controller(ctx, namespace, ready).await;
    Ok(())
}
