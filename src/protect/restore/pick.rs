//! Choosing and checking what to restore. A backup is only restored after every one of
//! its objects matched its sha256: a corrupt backup is refused, naming the object.

use crate::protect::error::ProtectError;
use crate::protect::manifest::{catalog, Kind, Manifest};
use crate::protect::store::ObjectStore;
use crate::protect::verify::verify;

/// Which base backup to restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    Latest,
    Id(String),
    /// The newest base backup that finished at or before this time (WAL replays to it).
    Time(chrono::DateTime<chrono::Utc>),
    /// A transaction committed at `at` (a drill's cut): WAL replays to its commit,
    /// inclusive, from the newest base backup that finished before it.
    Xid {
        xid: u64,
        at: chrono::DateTime<chrono::Utc>,
    },
}

/// The base backup to restore, verified.
pub async fn pick_verified<S: ObjectStore>(
    store: &S,
    stack: &str,
    pick: &Pick,
) -> Result<Manifest, ProtectError> {
    let all = catalog(store, stack).await?;
    let mut bases = all.into_iter().filter(|m| m.kind == Kind::Base);
    let chosen = match pick {
        Pick::Latest => bases.next_back(),
        Pick::Id(id) => bases.into_iter().find(|m| &m.id == id),
        Pick::Time(t) | Pick::Xid { at: t, .. } => bases.rev().find(|m| m.finished_at <= *t),
    };
    let m = chosen.ok_or_else(|| ProtectError::UnknownBackup {
        id: match pick {
            Pick::Latest => format!("(any base backup of stack {stack})"),
            Pick::Id(id) => id.clone(),
            Pick::Time(t) | Pick::Xid { at: t, .. } => {
                format!("(a base backup of stack {stack} finished before {t})")
            }
        },
    })?;
    checked(store, m).await
}

/// The logical dump `id`, verified.
pub async fn dump_verified<S: ObjectStore>(
    store: &S,
    stack: &str,
    id: &str,
) -> Result<Manifest, ProtectError> {
    let m = catalog(store, stack)
        .await?
        .into_iter()
        .find(|m| m.kind == Kind::Dump && m.id == id)
        .ok_or_else(|| ProtectError::UnknownBackup { id: id.to_string() })?;
    checked(store, m).await
}

/// `m` when every object matches its sha256; the first mismatch otherwise.
pub(crate) async fn checked<S: ObjectStore>(
    store: &S,
    m: Manifest,
) -> Result<Manifest, ProtectError> {
    if let Some(p) = verify(store, std::slice::from_ref(&m))
        .await?
        .into_iter()
        .next()
    {
        return Err(ProtectError::Checksum {
            key: p.object,
            expected: "the manifest's sha256".into(),
            actual: p.message,
        });
    }
    Ok(m)
}
