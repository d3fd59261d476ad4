//! `manifest.json`: what a backup is, written last (its presence marks a complete backup),
//! and the catalog, rebuilt from the store alone so a fresh machine can restore.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::error::ProtectError;
use super::store::ObjectStore;

pub const MANIFEST: &str = "manifest.json";
pub const FORMAT: u32 = 1;

/// Kind of backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Physical base backup (pg_basebackup, tar).
    Base,
    /// Logical dump (pg_dump -Fc per database, plus globals).
    Dump,
    /// Uploaded files of the CMS.
    Files,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Base => "base",
            Kind::Dump => "dump",
            Kind::Files => "files",
        }
    }
}

/// One stored object of a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    /// Name inside the backup's directory.
    pub name: String,
    /// Bytes stored.
    pub size: u64,
    /// Bytes before compression.
    pub raw_size: u64,
    /// sha256 of the stored bytes.
    pub sha256: String,
    /// The database a dump object holds. Dump objects are named by index, so a database's
    /// name (which may hold `/`, newlines or quotes) never becomes part of a key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// The manifest of one backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    pub id: String,
    pub kind: Kind,
    pub stack: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_lsn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_lsn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_version: Option<String>,
    /// Tool name → version string.
    #[serde(default)]
    pub tools: BTreeMap<String, String>,
    /// e.g. "zstd:3", or "none" for already-compressed input.
    pub compression: String,
    /// Key id of client-side encryption; absent when not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key_id: Option<String>,
    pub objects: Vec<ObjectEntry>,
    /// A base backup's database system identifier: only WAL of that cluster replays on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_id: Option<u64>,
    /// A files backup's regular files with their sha256 (what a restore must bring back).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<super::tar_scan::FileDigest>,
}

impl Manifest {
    /// Directory (key prefix) of a backup.
    pub fn dir(stack: &str, kind: Kind, id: &str) -> String {
        format!("{stack}/{}/{id}", kind.as_str())
    }

    pub fn object_key(&self, name: &str) -> String {
        format!("{}/{name}", Self::dir(&self.stack, self.kind, &self.id))
    }

    pub fn stored_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }

    /// Writes the manifest; the last write of a backup.
    pub async fn save<S: ObjectStore>(&self, store: &S) -> Result<(), ProtectError> {
        let key = self.object_key(MANIFEST);
        let json = serde_json::to_vec_pretty(self).map_err(|e| ProtectError::Manifest {
            key: key.clone(),
            message: e.to_string(),
        })?;
        let (tx, rx) = mpsc::channel(1);
        let _ = tx.send(Bytes::from(json)).await;
        drop(tx);
        store.put(&key, rx).await.map(|_| ())
    }
}

/// A name a backup's object may have: a plain file name inside its directory.
pub fn plain_object_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.chars().any(char::is_control)
}

/// Whether manifest `m`, read from `key`, belongs there: its stack is `stack`, its directory
/// is the one it was found in, and every object it lists is a plain name inside it.
pub fn found_under(m: &Manifest, stack: &str, key: &str) -> Result<(), String> {
    if m.stack != stack {
        return Err(format!("it names stack {:?}", m.stack));
    }
    let expected = m.object_key(MANIFEST);
    if expected != key {
        return Err(format!("its kind and id place it at {expected:?}"));
    }
    match m.objects.iter().find(|o| !plain_object_name(&o.name)) {
        Some(o) => Err(format!(
            "it lists an object {:?} outside its directory",
            o.name
        )),
        None => Ok(()),
    }
}

/// Reads a whole (small) object.
pub async fn read_all<S: ObjectStore>(store: &S, key: &str) -> Result<Vec<u8>, ProtectError> {
    let mut stream = store.get(key).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Every complete backup of `stack` in the store, oldest first.
pub async fn catalog<S: ObjectStore>(
    store: &S,
    stack: &str,
) -> Result<Vec<Manifest>, ProtectError> {
    let mut out = Vec::new();
    let mut listed = Vec::new();
    // Per kind, so the (large) WAL listing is never read here.
    for kind in [Kind::Base, Kind::Dump, Kind::Files] {
        listed.extend(store.list(&format!("{stack}/{}/", kind.as_str())).await?);
    }
    for obj in listed {
        if !obj.key.ends_with(&format!("/{MANIFEST}")) {
            continue;
        }
        let bytes = read_all(store, &obj.key).await?;
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| ProtectError::Manifest {
            key: obj.key.clone(),
            message: e.to_string(),
        })?;
        // What the store says is checked against where it was found: a manifest naming
        // another stack, id or directory would make a prune delete, or a restore read,
        // objects that are not its own.
        match found_under(&m, stack, &obj.key) {
            Ok(()) => out.push(m),
            Err(why) => tracing::warn!(key = %obj.key, "ignoring a backup manifest: {why}"),
        }
    }
    out.sort_by(|a, b| a.finished_at.cmp(&b.finished_at).then(a.id.cmp(&b.id)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        Manifest {
            format: FORMAT,
            id: "dump-20261203T020000.000Z".into(),
            kind: Kind::Dump,
            stack: "shop".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            start_lsn: None,
            stop_lsn: None,
            timeline: None,
            pg_version: None,
            tools: BTreeMap::new(),
            compression: "zstd:3".into(),
            encryption_key_id: None,
            objects: vec![ObjectEntry {
                name: "db-0000.dump.zst".into(),
                size: 1,
                raw_size: 1,
                sha256: String::new(),
                database: Some("a\"$(touch /tmp/x)\"".into()),
            }],
            system_id: None,
            files: Vec::new(),
        }
    }

    #[test]
    fn a_manifest_must_belong_where_it_was_found() {
        let m = manifest();
        let key = "shop/dump/dump-20261203T020000.000Z/manifest.json";
        assert_eq!(found_under(&m, "shop", key), Ok(()));
        assert!(found_under(&m, "other", key).unwrap_err().contains("stack"));
        let elsewhere = "shop/dump/dump-20250101T000000.000Z/manifest.json";
        assert!(found_under(&m, "shop", elsewhere).is_err());
        for bad in [
            "../../other/base/x/base.tar.zst",
            "..",
            "",
            "a/b",
            "line\nbreak",
        ] {
            let mut m = manifest();
            m.objects[0].name = bad.into();
            assert!(found_under(&m, "shop", key).is_err(), "{bad:?}");
        }
    }
}
