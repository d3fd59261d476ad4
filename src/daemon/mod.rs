//! `appstack run`: keeps stacks converged. Per stack: list-then-watch on the engine's events
//! plus a periodic resync; a removed container is recreated at once, an unhealthy one is
//! restarted (Docker never does, moby#28400) with backoff and flap damping, and a change of
//! the manifest file is applied. Invalid manifests are reported and wait for the next edit.
//! Backup schedules of the spec run here too (see `schedules`), and drills (`drills`).

mod after_apply;
pub mod alerts;
pub mod conditions;
pub mod drills;
pub mod heartbeat;
pub mod liveness;
pub mod restarts;
pub mod schedules;
pub mod sidecar;
mod stack_loop;
pub mod status;
pub mod supervise;
pub mod wal;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;
use std::time::Duration;

use tracing::info;

use crate::docker::engine::Engine;
use crate::telemetry::metrics::Metrics;
use restarts::Policy;

/// Daemon settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub files: Vec<PathBuf>,
    pub listen: SocketAddr,
    pub resync: Duration,
    pub state_dir: PathBuf,
    pub policy: Policy,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("--listen {0} is not a loopback address; metrics are served on 127.0.0.1 only")]
    NotLoopback(SocketAddr),
    /// A setting or a spec the daemon cannot work with; nothing was started.
    #[error("{0}")]
    Invalid(String),
}

/// Runs until SIGINT/SIGTERM.
pub async fn run<E: Engine>(engine: Arc<E>, opts: Options) -> Result<(), DaemonError> {
    if !opts.listen.ip().is_loopback() {
        return Err(DaemonError::NotLoopback(opts.listen));
    }
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let pending_first_sync = Arc::new(AtomicUsize::new(opts.files.len()));
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .map_err(|source| DaemonError::Listen {
            addr: opts.listen,
            source,
        })?;
    info!(addr = %opts.listen, "serving /metrics, /healthz, /readyz");
    let (names, ports) = stacks_and_ports(&opts.files);
    tokio::spawn(liveness::run(
        opts.state_dir.clone(),
        names.iter().cloned().collect(),
    ));
    let endpoint = Arc::new(crate::telemetry::http::Endpoint {
        metrics: metrics.clone(),
        ready: ready.clone(),
        alerts: Some(Arc::new(alerts::LogSink::new(
            &opts.state_dir,
            names,
            metrics.clone(),
        ))),
    });
    tokio::spawn(crate::telemetry::http::serve(listener, endpoint.clone()));
    alerts::serve_gateway(engine.as_ref(), &ports, endpoint).await;
    for file in &opts.files {
        let ctx = stack_loop::StackLoop {
            engine: engine.clone(),
            file: file.clone(),
            opts: opts.clone(),
            metrics: metrics.clone(),
            ready: ready.clone(),
            pending_first_sync: pending_first_sync.clone(),
            after_apply_done: Arc::new(AtomicBool::new(false)),
        };
        tokio::spawn(ctx.run());
    }
    shutdown_signal().await;
    info!("shutting down; containers keep running");
    Ok(())
}

/// The stacks' names, and the ports their containers reach appstack on (monitored stacks).
/// Manifests were validated at start; one that fails here is skipped (its loop reports it).
fn stacks_and_ports(
    files: &[PathBuf],
) -> (
    std::collections::BTreeSet<String>,
    std::collections::BTreeMap<u16, Vec<String>>,
) {
    let mut names = std::collections::BTreeSet::new();
    let mut ports: std::collections::BTreeMap<u16, Vec<String>> = Default::default();
    for (_, stack) in files
        .iter()
        .filter_map(|f| crate::api::load_validated(f).ok())
    {
        let m = &stack.monitoring;
        if m.prometheus.is_some() || m.alertmanager.is_some() {
            ports
                .entry(m.daemon_port)
                .or_default()
                .push(stack.name.clone());
        }
        names.insert(stack.name);
    }
    (names, ports)
}

/// SIGTERM (a service manager or the kubelet stopping us) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
            return;
        }
    }
    let _ = ctrl_c.await;
}
