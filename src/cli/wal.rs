//! `appstack wal ship`: drains a WAL spool into the stack's store until stopped. In
//! Kubernetes mode this is the sidecar next to `pg_receivewal` in the database pod;
//! `appstack run` does the same itself in Docker mode.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::info;

use super::source::Source;
use super::CliError;
use crate::daemon::shutdown_signal;
use crate::daemon::wal::{start, streams};
use crate::kube::report::{report, wal_facts};
use crate::telemetry::http::{serve, Endpoint};
use crate::telemetry::metrics::Metrics;

/// How often the shipper re-reads its AppStack (Kubernetes mode) to follow spec changes.
const SPEC_POLL: Duration = Duration::from_secs(30);
/// Status reports: a heartbeat this often (each one wakes the operator), a change at once.
const HEARTBEAT: Duration = Duration::from_secs(30);
const REPORT_POLL: Duration = Duration::from_secs(1);

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Ship the WAL `pg_receivewal` writes into DIR to the stack's store, until stopped:
    /// complete segments in order, the open one every shipInterval; a store outage spools
    /// and retries, never skips.
    #[command(
        after_help = "Examples:\n  appstack wal ship --stack crm --namespace shop --spool /var/lib/postgresql/spool\n  appstack wal ship -f stack.yaml --spool /srv/wal-spool --listen 127.0.0.1:9465"
    )]
    Ship(ShipArgs),
}

#[derive(Debug, clap::Args)]
pub struct ShipArgs {
    #[command(flatten)]
    pub source: Source,
    /// The spool directory `pg_receivewal` writes into.
    #[arg(long, value_name = "DIR")]
    pub spool: PathBuf,
    /// Serve /metrics and /healthz on this address (off when unset).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
}

pub async fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Ship(a) => ship(a).await,
    }
}

async fn ship(a: ShipArgs) -> Result<(), CliError> {
    if !a.spool.is_dir() {
        return Err(CliError::Invalid(format!(
            "--spool {}: not a directory",
            a.spool.display()
        )));
    }
    let metrics = Arc::new(Metrics::new());
    if let Some(addr) = a.listen {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::Invalid(format!("--listen {addr}: {e}")))?;
        tokio::spawn(serve(
            listener,
            Arc::new(Endpoint {
                metrics: metrics.clone(),
                ready: Arc::new(AtomicBool::new(true)),
            }),
        ));
    }
    let mut loaded = a.source.load().await?;
    loop {
        let stack = loaded.stack.clone();
        if !streams(&stack) {
            return Err(CliError::Invalid(format!(
                "{}: spec.backup.wal does not stream WAL (needs a database, backups on and wal.mode: stream)",
                stack.name
            )));
        }
        let spool = a.spool.clone();
        let mut shipping = start(&stack, metrics.clone(), None, async move { spool })
            .map_err(CliError::Invalid)?;
        if let Some((client, ns)) = &loaded.cluster {
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
            if loaded.cluster.is_none() {
                return std::future::pending().await;
            }
            loop {
                tokio::time::sleep(SPEC_POLL).await;
                match a.source.load().await {
                    Ok(next) if next.stack.backup != stack.backup => return next,
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
                loaded = next;
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
