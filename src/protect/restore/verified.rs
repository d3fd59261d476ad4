//! The base backup a restore starts from, verified, and the WAL chain that follows it.

use chrono::{DateTime, Utc};

use super::{pick_error, pick_verified, Pick, RestoreError};
use crate::api::ValidatedStack;
use crate::protect::manifest::Manifest;
use crate::protect::target::AnyStore;
use crate::protect::wal::{self, Lsn, Segment, WalKind, WalObject};

/// A verified base backup, its key, and the verified WAL chain to replay with its key.
pub(crate) struct VerifiedBase {
    pub manifest: Manifest,
    pub key: Option<crate::protect::crypto::Key>,
    pub chain: Vec<WalObject>,
    pub wal_key: Option<crate::protect::crypto::Key>,
    /// A hole in the shipped WAL after the backup: the restore stops before it.
    pub gap: Option<String>,
    /// The newest files backup to restore the uploads from finished at or before this
    /// (None: the newest of all).
    pub files_before: Option<DateTime<Utc>>,
}

/// Picks and verifies the base backup and lists the WAL after it (the store as it is now:
/// WAL shipped later is not replayed).
pub(crate) async fn verified_base(
    store: &AnyStore,
    stack: &ValidatedStack,
    pick: &Pick,
    into: &str,
) -> Result<VerifiedBase, RestoreError> {
    let manifest = pick_verified(store, &stack.name, pick)
        .await
        .map_err(pick_error)?;
    let key = crate::protect::store::key_for(stack, &manifest)?;
    let (chain, gap) = wal_chain(store, stack, &manifest, pick).await?;
    let wal_key = if chain.iter().any(|o| o.encrypted) {
        Some(crate::protect::store::spec_key(stack)?.ok_or_else(|| {
            RestoreError::Invalid(
                "the WAL is encrypted: set spec.backup.encryption.keyFile to its key".into(),
            )
        })?)
    } else {
        None
    };
    eprintln!(
        "restoring {} (stop LSN {}) of {} into stack {into}, then {} WAL file(s){}",
        manifest.id,
        manifest.stop_lsn.as_deref().unwrap_or("?"),
        stack.name,
        chain.len(),
        match pick {
            Pick::Time(t) => format!(" replayed to {}", t.to_rfc3339()),
            Pick::Xid { xid, .. } => format!(" replayed to transaction {xid}"),
            _ => String::new(),
        }
    );
    let files_before = match pick {
        Pick::Latest => None,
        Pick::Time(t) | Pick::Xid { at: t, .. } => Some(*t),
        Pick::Id(_) => Some(manifest.finished_at),
    };
    Ok(VerifiedBase {
        manifest,
        key,
        chain,
        wal_key,
        gap,
        files_before,
    })
}

/// The WAL to replay after `base`, or nothing when `pick` restores the backup alone.
async fn wal_chain(
    store: &AnyStore,
    stack: &ValidatedStack,
    base: &Manifest,
    pick: &Pick,
) -> Result<(Vec<WalObject>, Option<String>), RestoreError> {
    // Only the backup's own cluster's WAL (the store may hold an earlier cluster's too).
    let all: Vec<WalObject> = wal::list(store, &stack.name)
        .await
        .map_err(|e| RestoreError::Failed(e.to_string()))?
        .into_iter()
        .filter(|o| o.of_system(base.system_id))
        .collect();
    let all = prefer_recorded(all, base.system_id);
    // Every timeline's history goes along, so a promotion picks a timeline id no earlier
    // restore of this stack used (its WAL would collide in the store).
    let histories = all
        .iter()
        .filter(|o| matches!(o.kind, WalKind::History(_)))
        .cloned();
    if matches!(pick, Pick::Id(_)) {
        return Ok((histories.collect(), None));
    }
    if let (Pick::Latest, Some(tli), Some(newer)) = (
        pick,
        base.timeline,
        base.timeline.and_then(|t| wal::newer_timeline(&all, t)),
    ) {
        return Err(RestoreError::Failed(format!(
            "cannot restore `latest` from backup {} (timeline {tli}): the stack continues on timeline {newer} since an in-place restore, and no base backup of it exists; take one with `appstack backup now --only db`, or restore to a time or a backup id",
            base.id
        )));
    }
    let start = match (
        base.timeline,
        base.start_lsn.as_deref().and_then(Lsn::parse),
    ) {
        (Some(tli), Some(lsn)) => Segment::of(tli, lsn),
        _ => {
            return Err(RestoreError::Failed(format!(
                "backup {} records no start LSN/timeline; it can only be restored by id",
                base.id
            )))
        }
    };
    let (mut chain, gap) = wal::chain(&all, start);
    if !chain.is_empty() {
        chain.splice(0..0, histories);
    }
    match (pick, gap) {
        (Pick::Xid { xid, .. }, Some(gap)) => Err(RestoreError::Failed(format!(
            "cannot restore to transaction {xid}: {gap}"
        ))),
        (Pick::Time(t), Some(gap)) => Err(RestoreError::Failed(format!(
            "cannot restore to {t}: {gap}; restore to an earlier time or to `latest`"
        ))),
        (Pick::Xid { xid, .. }, None) if chain.is_empty() => Err(RestoreError::Failed(format!(
            "cannot restore to transaction {xid}: no WAL was shipped after backup {}",
            base.id
        ))),
        (Pick::Time(t), None) if chain.is_empty() => Err(RestoreError::Failed(format!(
            "cannot restore to {t}: no WAL was shipped after backup {} (is WAL shipping on and `appstack run` running?)",
            base.id
        ))),
        (_, Some(gap)) => {
            eprintln!("warning: {gap}; restoring up to the last segment before it");
            Ok((chain, Some(gap.to_string())))
        }
        _ => Ok((chain, None)),
    }
}

/// Where a WAL file is stored both with the cluster's system identifier and without one
/// (written before it was recorded, by this cluster or an earlier one of the same stack),
/// the recorded object is the one to replay.
fn prefer_recorded(all: Vec<WalObject>, system: Option<u64>) -> Vec<WalObject> {
    if system.is_none() {
        return all;
    }
    let recorded: std::collections::HashSet<WalKind> = all
        .iter()
        .filter(|o| o.system.is_some())
        .map(|o| o.kind)
        .collect();
    all.into_iter()
        .filter(|o| o.system.is_some() || !recorded.contains(&o.kind))
        .collect()
}
