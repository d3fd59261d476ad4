//! A load generator for the audit and the benchmarks: keep-alive HTTP/1.1 (plain or TLS)
//! with closed (virtual users) and open (fixed rate) models and HDR latency histograms.

pub mod conn;
mod pacer;
pub mod run;
pub mod stats;
pub mod summary;
pub mod target;

pub use conn::{Conn, Endpoint, Reply, Setup};
pub use run::{run, run_on_threads, Load, Pace, Route};
pub use stats::Stats;
pub use summary::Summary;
pub use target::{endpoint, tls_config};
