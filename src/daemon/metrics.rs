//! The daemon's Prometheus metrics.

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

/// Every metric the daemon exports.
pub struct Metrics {
    pub registry: Registry,
    pub reconcile_seconds: Family<StackLabel, Histogram>,
    pub reconcile_errors: Family<ErrorLabels, Counter>,
    pub changes: Family<ActionLabels, Counter>,
    pub healthy: Family<ComponentLabels, Gauge>,
    pub unhealthy_restarts: Family<ComponentLabels, Counter>,
    pub spec_valid: Family<StackLabel, Gauge>,
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
        Self {
            registry,
            reconcile_seconds,
            reconcile_errors,
            changes,
            healthy,
            unhealthy_restarts,
            spec_valid,
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
