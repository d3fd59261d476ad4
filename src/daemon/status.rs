//! What a stack's recoverability is, from the facts: the store's catalog (newest base
//! backup and dump, the oldest recovery point), the newest drill report in the store, and
//! the daemon's shipper state. Read by `status` and reported by the backup jobs.

use crate::api::status::RecoverabilityStatus;
use crate::protect::manifest::{catalog, Kind, Manifest};

/// What the backup store says about the stack; absent when the store cannot be read.
pub async fn recoverability(stack: &crate::api::ValidatedStack) -> Option<RecoverabilityStatus> {
    let store = crate::protect::store::open_store(stack).ok()?;
    let all = catalog(&store, &stack.name).await.ok()?;
    let fmt = |m: &Manifest| {
        m.finished_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let last = |k: Kind| all.iter().rev().find(|m| m.kind == k).map(fmt);
    Some(RecoverabilityStatus {
        last_base_backup: last(Kind::Base),
        last_dump: last(Kind::Dump),
        // Restore starts from a base backup: the oldest one is the earliest point.
        first_recoverability_point: all.iter().find(|m| m.kind == Kind::Base).map(fmt),
        last_drill: crate::drill::Report::latest(&store, &stack.name)
            .await
            .ok()
            .flatten()
            .map(|r| r.result()),
        ..Default::default()
    })
}

/// What the daemon's shipper last reported, when the stack streams WAL.
pub fn wal_status(
    stack: &crate::api::ValidatedStack,
    state_dir: &std::path::Path,
) -> Option<crate::protect::shipper::ShipStatus> {
    if !crate::plan::wal::streams(stack) {
        return None;
    }
    crate::protect::shipper::load_status(&crate::protect::shipper::status_path(
        state_dir,
        &stack.name,
    ))
}
