//! Whether the store already holds a cluster's WAL through a segment: the segment itself
//! complete, or a later one. What a drill waits for before it restores to its cut, having
//! switched the source to a new segment so the cut's is complete: a partial's length
//! cannot tell (its last page is shipped whole, zeros and all).

use super::error::ProtectError;
use super::store::ObjectStore;
use super::wal::{self, Segment, WalKind};

/// True when `stack`'s store holds the WAL of cluster `system` through the end of WAL file
/// `file` (its timeline and segment).
pub async fn covers<S: ObjectStore>(
    store: &S,
    stack: &str,
    system: Option<u64>,
    file: &str,
) -> Result<bool, ProtectError> {
    let Some(seg) = Segment::parse(file) else {
        return Err(ProtectError::Io(format!("{file:?} is not a WAL file name")));
    };
    Ok(wal::list(store, stack)
        .await?
        .iter()
        .filter(|o| o.of_system(system))
        .any(|o| match o.kind {
            WalKind::Segment(s) | WalKind::Partial(s) if s.timeline == seg.timeline => {
                s.number > seg.number || o.kind == WalKind::Segment(seg)
            }
            _ => false,
        }))
}
