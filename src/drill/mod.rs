//! DR drills: the stack's latest recoverable state is restored into an isolated copy,
//! booted and checked, and the objectives are *measured*: RTO from the start of the
//! restore to the copy passing its smoke checks, RPO from marker rows written into the
//! live database just before the cut (see `marker`). The runtime-specific steps live in
//! the CLI (Docker) and `kube::drill`; what is measured, judged and reported is here.

pub mod marker;
pub mod report;

pub use report::{Report, Step};

/// A new drill id: `drill-<UTC time, ms>`, sortable and safe as an SQL literal and a key.
pub fn new_id(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("drill-{}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}
