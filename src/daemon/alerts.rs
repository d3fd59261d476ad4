//! The daemon's side of alerting: the alert log receiver (Alertmanager's default route) and
//! the listener the stack's containers reach — Prometheus scrapes appstack's metrics there,
//! Alertmanager posts notifications there — on the engine's host gateway, never on a
//! public address.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use tracing::{info, warn};

use crate::docker::engine::Engine;
use crate::ops::alert_log::AlertLog;
use crate::telemetry::http::{serve, AlertSink, Endpoint};
use crate::telemetry::metrics::{AlertLabels, Metrics};

/// Writes notifications of the daemon's stacks to the alert log.
pub struct LogSink {
    log: AlertLog,
    stacks: BTreeSet<String>,
    metrics: Arc<Metrics>,
}

impl LogSink {
    pub fn new(state_dir: &Path, stacks: BTreeSet<String>, metrics: Arc<Metrics>) -> Self {
        LogSink {
            log: AlertLog::new(state_dir),
            stacks,
            metrics,
        }
    }
}

impl AlertSink for LogSink {
    fn deliver(&self, stack: &str, body: &[u8]) -> Result<(), (bool, String)> {
        if !self.stacks.contains(stack) {
            return Err((true, format!("no stack {stack:?} is run by this daemon")));
        }
        let line = self.log.record(stack, body).map_err(|e| {
            warn!(stack, category = e.category(), error = %e, "alert notification not logged");
            (false, e.to_string())
        })?;
        let names: Vec<&str> = line.alerts.iter().map(|a| a.alertname.as_str()).collect();
        info!(stack, status = %line.status, alerts = ?names, "alert notification logged");
        self.metrics
            .alert_notifications
            .get_or_create(&AlertLabels {
                stack: stack.to_string(),
                status: line.status,
            })
            .inc();
        Ok(())
    }
}

/// Serves `endpoint` on the engine's host gateway at each of `ports` (the stacks'
/// `spec.monitoring.daemonPort`). A port that cannot be bound is reported, not fatal: the
/// stacks still converge, and their TargetDown alert says the rest.
pub async fn serve_gateway<E: Engine>(
    engine: &E,
    ports: &BTreeMap<u16, Vec<String>>,
    endpoint: Arc<Endpoint>,
) -> Vec<SocketAddr> {
    if ports.is_empty() {
        return Vec::new();
    }
    let ip = match engine.host_gateway_ip().await {
        Ok(ip) => ip,
        Err(e) => {
            warn!(error = %e, "no host gateway: Prometheus cannot scrape appstack and alerts reach no log");
            return Vec::new();
        }
    };
    let mut bound = Vec::new();
    for (port, stacks) in ports {
        let addr = SocketAddr::new(ip, *port);
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                info!(%addr, ?stacks, "serving /metrics and the alert log to the stacks' containers");
                tokio::spawn(serve(listener, endpoint.clone()));
                bound.push(addr);
            }
            Err(e) => warn!(%addr, ?stacks, error = %e,
                "cannot serve the stacks' containers (another daemon on this port? set spec.monitoring.daemonPort)"),
        }
    }
    bound
}
