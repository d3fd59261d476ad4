//! Faults a drill can inject into what it reads (`--inject-fault`), to prove it fails on
//! broken backups: each becomes a damaged, read-only view of the store (`protect::damaged`),
//! so the store's own objects are never touched.

use crate::protect::damaged::Damage;
use crate::protect::manifest::{catalog, Kind};
use crate::protect::target::AnyStore;
use crate::protect::wal::{Lsn, Segment};

use super::DrillError;

/// What a drill breaks in its view of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// The WAL from the newest base backup's start on is gone.
    MissingWal,
    /// The newest base backup's data is corrupt (one byte flipped).
    CorruptBase,
    /// The stack records (manifest as applied and sealed secrets) are gone.
    MissingSecrets,
    /// The files backups (uploads) are gone.
    MissingUploads,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::MissingWal => "missing-wal",
            Fault::CorruptBase => "corrupt-base",
            Fault::MissingSecrets => "missing-secrets",
            Fault::MissingUploads => "missing-uploads",
        }
    }
}

/// What to hide or corrupt in `stack`'s store for `fault`.
pub async fn damage(store: &AnyStore, stack: &str, fault: Fault) -> Result<Damage, DrillError> {
    let newest_base = || async {
        catalog(store, stack)
            .await?
            .into_iter()
            .rfind(|m| m.kind == Kind::Base)
            .ok_or_else(|| {
                DrillError::Invalid(format!(
                    "--inject-fault {}: the store holds no base backup of {stack} to damage",
                    fault.name()
                ))
            })
    };
    Ok(match fault {
        Fault::CorruptBase => Damage {
            corrupted: vec![newest_base().await?.object_key("base.tar.zst")],
            ..Damage::default()
        },
        Fault::MissingWal => {
            let base = newest_base().await?;
            let start = base
                .start_lsn
                .as_deref()
                .and_then(Lsn::parse)
                .map_or(0, |l| Segment::of(1, l).number);
            Damage {
                wal_from: Some((stack.to_string(), start)),
                ..Damage::default()
            }
        }
        Fault::MissingSecrets => Damage {
            hidden: vec![format!("{stack}/stack/")],
            ..Damage::default()
        },
        Fault::MissingUploads => Damage {
            hidden: vec![format!("{stack}/files/")],
            ..Damage::default()
        },
    })
}
