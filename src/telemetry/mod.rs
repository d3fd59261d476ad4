//! What every long-running part reports through (a shared leaf): the Prometheus metrics
//! registry and the HTTP endpoint serving `/metrics`, `/healthz` and `/readyz`, used by the
//! Docker-mode daemon, the Kubernetes operator and the WAL shipper sidecar alike.

pub mod http;
pub mod metrics;
