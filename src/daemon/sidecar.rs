//! The WAL shipper as a process of its own: the Kubernetes sidecar next to `pg_receivewal`
//! (and `appstack wal ship` anywhere). It drains the spool into the store like the Docker
//! daemon's shipper, follows changes of the AppStack, and reports its state into the
//! AppStack's status for the operator's WalShipping condition.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::info;

use super::shutdown_signal;
use super::wal::start;
use super::DaemonError;
use crate::api::ValidatedStack;
use crate::kube::report::{report, wal_facts};
use crate::kube::source;
use crate::plan::wal::streams;
use crate::telemetry::http::{serve, Endpoint};
use crate::telemetry::metrics::Metrics;

/// How often the shipper re-reads its AppStack (Kubernetes mode) to follow spec changes.
const SPEC_POLL: Duration = Duration::from_secs(30);
/// Status reports: a heartbeat this often (each one wakes the operator), a change at once.
const HEARTBEAT: Duration = Duration::from_secs(30);
const REPORT_POLL: Duration = Duration::from_secs(1);

/// Ships `spool` into the store of `stack` until SIGTERM. In a cluster (`cluster` set) the
/// AppStack is re-read every SPEC_POLL and shipping restarts when `spec.backup` changed, and
/// the shipper's state is reported into the AppStack's status.
pub async fn ship_spool(
    mut stack: ValidatedStack,
    cluster: Option<(kube::Client, String)>,
    spool: PathBuf,
    listen: Option<SocketAddr>,
) -> Result<(), DaemonError> {
    let metrics = Arc::new(Metrics::new());
    if let Some(addr) = listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| DaemonError::Invalid(format!("--listen {addr}: {e}")))?;
        tokio::spawn(serve(
            listener,
            Arc::new(Endpoint {
                metrics: metrics.clone(),
                ready: Arc::new(AtomicBool::new(true)),
                alerts: None,
            }),
        ));
    }
    loop {
        if !streams(&stack) {
            return Err(DaemonError::Invalid(format!(
                "{}: spec.backup.wal does not stream WAL (needs a database, backups on and wal.mode: stream)",
                stack.name
            )));
        }
        let dir = spool.clone();
        let mut shipping = start(&stack, metrics.clone(), None, async move { dir })
            .map_err(DaemonError::Invalid)?;
        if let Some((client, ns)) = &cluster {
            shipping.handles.push(tokio::spawn(report_loop(
                client.clone(),
                ns.clone(),
                stack.name.clone(),
                shipping.status.clone(),
            )));
        }
        let handles = shipping.handles;
        let changed = async {
            // A file is read once; the cluster's object is followed.
            let Some((client, ns)) = &cluster else {
                return std::future::pending().await;
            };
            loop {
                tokio::time::sleep(SPEC_POLL).await;
                match source::load(client, ns, &stack.name).await {
                    Ok(next) if next.backup != stack.backup => return next,
                    Ok(_) => {}
                    Err(e) => tracing::warn!("re-reading the AppStack: {e}"),
                }
            }
        };
        tokio::select! {
            next = changed => {
                info!(stack = %stack.name, "spec.backup changed: restarting WAL shipping with the new settings");
                for h in &handles {
                    h.abort();
                }
                stack = next;
            }
            _ = shutdown_signal() => {
                for h in &handles {
                    h.abort();
                }
                return Ok(());
            }
        }
    }
}

/// Reports the shipper's state into the AppStack's status: every heartbeat, and at once
/// when shipping starts or stops failing (the operator's WalShipping condition reads it).
async fn report_loop(
    client: kube::Client,
    ns: String,
    stack: String,
    status: Arc<std::sync::Mutex<crate::protect::shipper::ShipStatus>>,
) {
    let mut last: Option<(Instant, bool)> = None;
    loop {
        tokio::time::sleep(REPORT_POLL).await;
        let Ok(s) = status.lock().map(|s| s.clone()) else {
            return;
        };
        if s.synced_at.is_none() && s.failing_since.is_none() {
            continue;
        }
        let failing = s.failing_since.is_some();
        let due = last.is_none_or(|(at, was)| was != failing || at.elapsed() >= HEARTBEAT);
        if !due {
            continue;
        }
        match report(&client, &ns, &stack, wal_facts(&s)).await {
            Ok(()) => last = Some((Instant::now(), failing)),
            Err(e) => tracing::warn!(stack, "cannot report WAL status to the AppStack: {e}"),
        }
    }
}
