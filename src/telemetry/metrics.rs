//! The daemon's Prometheus metrics.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StackLabel {
    pub stack: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub stack: String,
    pub category: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ComponentLabels {
    pub stack: String,
    pub component: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    pub stack: String,
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub stack: String,
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindErrorLabels {
    pub stack: String,
    pub kind: String,
    pub category: String,
}

/// Every metric the daemon exports.
pub struct Metrics {
    pub registry: Registry,
    pub reconcile_seconds: Family<StackLabel, Histogram>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub changes: Family<ActionLabels, Counter>,
    pub healthy: Family<ComponentLabels, Gauge>,
    pub unhealthy_restarts: Family<ComponentLabels, Counter>,
    pub spec_valid: Family<StackLabel, Gauge>,
    pub backup_last_success: Family<KindLabels, Gauge>,
    pub backup_failures: Family<KindErrorLabels, Counter>,
    pub backup_missing: Family<KindLabels, Gauge>,
    pub backup_last_failed: Family<KindLabels, Gauge>,
    pub alert_notifications: Family<AlertLabels, Counter>,
    pub task_panics: Family<TaskLabels, Counter>,
    pub wal: WalMetrics,
    pub drill: DrillMetrics,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    pub stack: String,
    pub task: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AlertLabels {
    pub stack: String,
    pub status: String,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("appstack");
        let reconcile_seconds = Family::<StackLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let reconcile_errors = Family::<ErrorLabels, Counter>::default();
        let changes = Family::<ActionLabels, Counter>::default();
        let healthy = Family::<ComponentLabels, Gauge>::default();
        let unhealthy_restarts = Family::<ComponentLabels, Counter>::default();
        let spec_valid = Family::<StackLabel, Gauge>::default();
        registry.register(
            "reconcile_duration_seconds",
            "Duration of reconcile passes",
            reconcile_seconds.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconcile passes by error category",
            reconcile_errors.clone(),
        );
        registry.register(
            "container_changes",
            "Container changes applied, by action",
            changes.clone(),
        );
        registry.register(
            "component_healthy",
            "1 when the component is running and healthy",
            healthy.clone(),
        );
        registry.register(
            "unhealthy_restarts",
            "Restarts of unhealthy containers done by appstack",
            unhealthy_restarts.clone(),
        );
        registry.register(
            "spec_valid",
            "1 when the stack's manifest is valid",
            spec_valid.clone(),
        );
        let backup_last_success = Family::<KindLabels, Gauge>::default();
        let backup_failures = Family::<KindErrorLabels, Counter>::default();
        let backup_missing = Family::<KindLabels, Gauge>::default();
        registry.register(
            "backup_last_success_timestamp_seconds",
            "Unix time of the last successful scheduled backup",
            backup_last_success.clone(),
        );
        registry.register(
            "backup_failures",
            "Failed scheduled backups by error category",
            backup_failures.clone(),
        );
        registry.register(
            "backup_missing",
            "1 when a schedule has had no success within 1.5x its period",
            backup_missing.clone(),
        );
        let backup_last_failed = Family::<KindLabels, Gauge>::default();
        registry.register(
            "backup_last_failed",
            "1 when the most recent scheduled backup of this kind failed",
            backup_last_failed.clone(),
        );
        let alert_notifications = Family::<AlertLabels, Counter>::default();
        registry.register(
            "alert_notifications",
            "Alert notifications written to the alert log, by status (firing, resolved)",
            alert_notifications.clone(),
        );
        let task_panics = Family::<TaskLabels, Counter>::default();
        registry.register(
            "task_panics",
            "Panics of the daemon's background tasks (each one was restarted)",
            task_panics.clone(),
        );
        let wal = WalMetrics::register(&mut registry);
        let drill = DrillMetrics::register(&mut registry);
        Self {
            task_panics,
            backup_last_failed,
            alert_notifications,
            wal,
            drill,
            registry,
            reconcile_seconds,
            reconcile_errors,
            changes,
            healthy,
            unhealthy_restarts,
            spec_valid,
            backup_last_success,
            backup_failures,
            backup_missing,
        }
    }

    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Continuous WAL shipping, per stack.
#[derive(Debug, Clone, Default)]
pub struct WalMetrics {
    pub synced: Family<StackLabel, Gauge>,
    pub rpo_seconds: Family<StackLabel, Gauge>,
    pub spool_bytes: Family<StackLabel, Gauge>,
    pub spool_alert: Family<StackLabel, Gauge>,
    pub shipping_ok: Family<StackLabel, Gauge>,
    pub failures: Family<StackLabel, Counter>,
    pub files: Family<StackLabel, Counter>,
}

impl WalMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "wal_synced_timestamp_seconds",
            "Unix time the store last held every WAL byte received (all earlier writes are safe)",
            m.synced.clone(),
        );
        registry.register(
            "wal_rpo_seconds",
            "Current data-loss window estimate: now minus the last time the store held all WAL",
            m.rpo_seconds.clone(),
        );
        registry.register(
            "wal_spool_bytes",
            "WAL bytes in the local spool waiting for the store",
            m.spool_bytes.clone(),
        );
        registry.register(
            "wal_spool_alert",
            "1 when the spool passed spec.backup.wal.spoolAlertThreshold",
            m.spool_alert.clone(),
        );
        registry.register(
            "wal_shipping_ok",
            "1 while WAL shipping works (the WalShipping condition)",
            m.shipping_ok.clone(),
        );
        registry.register(
            "wal_ship_failures",
            "Failed WAL shipping attempts",
            m.failures.clone(),
        );
        registry.register("wal_files_shipped", "WAL files stored", m.files.clone());
        m
    }
}

/// DR drills, per stack: the newest report's verdict and figures.
#[derive(Debug, Clone, Default)]
pub struct DrillMetrics {
    pub passed: Family<StackLabel, Gauge>,
    pub rto_seconds: Family<StackLabel, Gauge<f64, AtomicU64>>,
    pub rpo_seconds: Family<StackLabel, Gauge<f64, AtomicU64>>,
    pub last_timestamp: Family<StackLabel, Gauge>,
    pub missing: Family<StackLabel, Gauge>,
    pub failures: Family<StackLabel, Counter>,
}

impl DrillMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "drill_passed",
            "1 when the newest DR drill met both objectives",
            m.passed.clone(),
        );
        registry.register(
            "drill_rto_seconds",
            "RTO measured by the newest DR drill (restore start to smoke checks passed)",
            m.rto_seconds.clone(),
        );
        registry.register(
            "drill_rpo_seconds",
            "RPO measured by the newest DR drill (marker at the cut to newest commit restored)",
            m.rpo_seconds.clone(),
        );
        registry.register(
            "drill_last_timestamp_seconds",
            "Unix time the newest DR drill finished",
            m.last_timestamp.clone(),
        );
        registry.register(
            "drill_missing",
            "1 when the drill schedule has had no passing drill within 1.5x its period",
            m.missing.clone(),
        );
        registry.register(
            "drill_failures",
            "Scheduled DR drills that failed or missed an objective",
            m.failures.clone(),
        );
        m
    }
}
