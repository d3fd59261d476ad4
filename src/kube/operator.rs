//! The operator process: its metrics endpoint, the leader Lease, and the controller.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::controller::{run as run_controller, Context};
use super::lease::{self, Leadership, LeaseConfig, LeaseError};
use super::Images;
use crate::api::conditions::SystemClock;
use crate::telemetry::http::{serve, Endpoint};
use crate::telemetry::metrics::Metrics;

/// How the operator runs.
#[derive(Debug, Clone)]
pub struct OperatorConfig {
    /// Watch AppStacks in this namespace only; None watches every namespace.
    pub namespace: Option<String>,
    /// Where /metrics, /healthz and /readyz are served.
    pub listen: SocketAddr,
    pub lease_namespace: String,
    pub lease_name: String,
    /// This replica's identity in the Lease.
    pub identity: String,
    /// The appstack image for the WAL shipper sidecars and the backup and drill CronJobs.
    pub operator_image: Option<String>,
}

/// Why the operator could not start.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("cannot reach the Kubernetes API: {0}")]
    NoApi(String),
    #[error("--listen {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

/// Runs the operator until SIGTERM: the endpoint, leader election (a missing or forbidden
/// lease namespace ends it here), and the controller.
pub async fn run(cfg: OperatorConfig) -> Result<(), OperatorError> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| OperatorError::NoApi(e.to_string()))?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| OperatorError::Listen {
            addr: cfg.listen,
            source,
        })?;
    tokio::spawn(serve(
        listener,
        Arc::new(Endpoint {
            metrics: metrics.clone(),
            ready: ready.clone(),
            alerts: Some(Arc::new(super::alerts::EventSink {
                client: client.clone(),
                namespace: cfg.namespace.clone(),
            })),
        }),
    ));
    let leadership = Leadership::default();
    let lease_cfg_namespace = cfg.lease_namespace.clone();
    let lease_cfg = LeaseConfig {
        namespace: cfg.lease_namespace,
        name: cfg.lease_name,
        identity: cfg.identity,
        duration: Duration::from_secs(15),
    };
    lease::first(client.clone(), &lease_cfg, &leadership).await?;
    tokio::spawn(lease::run(client.clone(), lease_cfg, leadership.clone()));
    let mut images = Images::default();
    if let Some(i) = cfg.operator_image {
        images.operator = i;
    }
    // The chart's Service lives in the operator's own namespace (the Lease's).
    images.operator_service = format!(
        "appstack-operator-metrics.{}.svc.cluster.local",
        lease_cfg_namespace
    );
    let ctx = Arc::new(Context::new(
        client,
        images,
        Arc::new(SystemClock),
        leadership,
        metrics,
    ));
    run_controller(ctx, cfg.namespace, ready).await;
    Ok(())
}
