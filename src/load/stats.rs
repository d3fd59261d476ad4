//! What a load run measured: counts by outcome, and latencies in an HDR histogram.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;

/// The slowest latency the histograms hold (longer ones are clamped to it).
pub const MAX_LATENCY_US: u64 = 60_000_000;

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Stats {
    pub sent: u64,
    /// Answers below 500.
    pub ok: u64,
    /// Transport errors and 5xx answers.
    pub failed: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// Microseconds, corrected for coordinated omission.
    pub latency: Histogram<u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    pub fn new() -> Self {
        Stats {
            sent: 0,
            ok: 0,
            failed: 0,
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            elapsed: Duration::ZERO,
            latency: new_histogram(),
        }
    }

    /// Completed requests per second.
    pub fn rps(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            (self.ok + self.failed) as f64 / secs
        } else {
            0.0
        }
    }

    /// A latency quantile (0–1) in milliseconds.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// Adds another run's counts and latencies (runs side by side: the longer elapsed).
    pub fn merge(&mut self, other: Stats) {
        self.sent += other.sent;
        self.ok += other.ok;
        self.failed += other.failed;
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
        self.elapsed = self.elapsed.max(other.elapsed);
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }
}

fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()))
}

// Both constructors only fail for bounds or precisions out of range, which the constants
// above are not.
#[allow(clippy::panic)]
fn unreachable_histogram() -> Histogram<u64> {
    panic!("hdrhistogram refused constant bounds")
}
