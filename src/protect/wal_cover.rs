//! Whether the store already holds a cluster's WAL through a position: a later segment, the
//! segment itself complete, or its shipped partial reaching that far. What a drill waits for
//! before it restores to its cut.

use super::crypto::Key;
use super::error::ProtectError;
use super::store::ObjectStore;
use super::wal::{self, Lsn, Segment, WalKind};
use super::wal_fetch::fetch_raw;

/// True when `stack`'s store holds the WAL of cluster `system` up to `lsn`, which lies in
/// WAL file `file` (its timeline and segment).
pub async fn covers<S: ObjectStore>(
    store: &S,
    stack: &str,
    system: Option<u64>,
    file: &str,
    lsn: Lsn,
    key: Option<Key>,
) -> Result<bool, ProtectError> {
    let Some(seg) = Segment::parse(file) else {
        return Err(ProtectError::Io(format!("{file:?} is not a WAL file name")));
    };
    let mine: Vec<wal::WalObject> = wal::list(store, stack)
        .await?
        .into_iter()
        .filter(|o| o.of_system(system))
        .collect();
    let later_or_complete = mine.iter().any(|o| match o.kind {
        WalKind::Segment(s) => s.timeline == seg.timeline && s.number >= seg.number,
        WalKind::Partial(s) => s.timeline == seg.timeline && s.number > seg.number,
        WalKind::History(t) => t > seg.timeline,
    });
    if later_or_complete {
        return Ok(true);
    }
    // The partials of the segment, newest last: the longest one tells how far it reaches.
    let needed = lsn.0 - seg.start_lsn().0;
    for o in mine
        .iter()
        .rev()
        .filter(|o| o.kind == WalKind::Partial(seg))
    {
        match fetch_raw(store, o, key.clone()).await {
            Ok(raw) if raw.len() as u64 >= needed => return Ok(true),
            Ok(_) => {}
            // Replaced by a newer partial while we looked: the next look sees it.
            Err(ProtectError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}
