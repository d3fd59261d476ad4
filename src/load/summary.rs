//! A run's figures as printed and as JSON.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::stats::Stats;

/// The figures of one run.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub seconds: f64,
    pub requests_per_second: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
}

impl Summary {
    pub fn of(s: &Stats) -> Self {
        Summary {
            sent: s.sent,
            ok: s.ok,
            failed: s.failed,
            seconds: s.elapsed.as_secs_f64(),
            requests_per_second: s.rps(),
            p50_ms: s.quantile_ms(0.50),
            p90_ms: s.quantile_ms(0.90),
            p95_ms: s.quantile_ms(0.95),
            p99_ms: s.quantile_ms(0.99),
            p999_ms: s.quantile_ms(0.999),
            max_ms: s.latency.max() as f64 / 1000.0,
            statuses: s.statuses.clone(),
            errors: s.errors.clone(),
        }
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} requests in {:.2}s: {:.1} req/s, {} ok, {} failed",
            self.sent, self.seconds, self.requests_per_second, self.ok, self.failed
        );
        let _ = writeln!(
            out,
            "latency ms: p50 {:.3}  p90 {:.3}  p95 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            self.p50_ms, self.p90_ms, self.p95_ms, self.p99_ms, self.p999_ms, self.max_ms
        );
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect();
        let _ = writeln!(out, "statuses: {}", statuses.join(", "));
        for (kind, n) in &self.errors {
            let _ = writeln!(out, "error {kind}: {n}");
        }
        out
    }
}
