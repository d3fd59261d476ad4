use std::net::SocketAddr;

use super::CliError;
use crate::kube::operator::{self, OperatorConfig, OperatorError};

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

/// Runs the operator until SIGTERM (see `kube::operator::run`).
pub async fn run(args: Args) -> Result<(), CliError> {
    let cfg = OperatorConfig {
        // The chart passes an empty WATCH_NAMESPACE for "every namespace".
        namespace: args.namespace.filter(|n| !n.is_empty()),
        listen: args.listen,
        lease_namespace: args.lease_namespace,
        lease_name: args.lease_name,
        identity: args
            .identity
            .unwrap_or_else(|| format!("appstack-{}", std::process::id())),
        operator_image: args.operator_image,
    };
    operator::run(cfg).await.map_err(|e| match e {
        OperatorError::Listen { .. } => CliError::Invalid(e.to_string()),
        other => CliError::Runtime(other.to_string()),
    })
}
