//! The stack itself as the store keeps it beside its data, so that a host that is gone can
//! be rebuilt from the store alone: the manifest as applied and, sealed with the backup
//! key, the generated secrets. Without a key only the manifest is kept — secrets are never
//! stored in clear — and a restore sets new credentials instead.
//!
//! One object per change: `<stack>/stack/<time>-<digest>.json` (clear, manifest only) or
//! `<stack>/stack/<time>-<digest>-<key id>.json.enc` (sealed, with the secrets). The digest
//! covers what the record holds, so saving an unchanged stack writes nothing.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::crypto::{DecryptReader, EncryptWriter, Key};
use super::manifest::read_all;
use super::{ObjectStore, ProtectError};
use crate::api::ValidatedStack;
use crate::plan::{Plan, SecretSource};
use crate::secrets::{Resolved, SecretValue};

const DIR: &str = "stack";
const TIME_FORMAT: &str = "%Y%m%dT%H%M%S%.3fZ";

/// Generated secret values by (secret, key).
pub type SecretValues = BTreeMap<(String, String), SecretValue>;

/// What a record holds.
pub struct StackRecord {
    pub stack: String,
    pub saved_at: DateTime<Utc>,
    /// The AppStack manifest as applied (YAML).
    pub manifest: String,
    /// The generated secrets; empty in a record kept without a key.
    pub secrets: SecretValues,
}

impl std::fmt::Debug for StackRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackRecord")
            .field("stack", &self.stack)
            .field("saved_at", &self.saved_at)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

/// The serialized form; only ever written sealed when it carries secrets.
#[derive(Serialize, Deserialize)]
struct Stored {
    stack: String,
    saved_at: DateTime<Utc>,
    manifest: String,
    #[serde(default)]
    secrets: BTreeMap<String, BTreeMap<String, String>>,
}

/// A record in the store, as its name tells (nothing read yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    pub key: String,
    pub saved_at: DateTime<Utc>,
    digest: String,
    /// The id of the key that sealed it; None for a record kept in clear.
    pub key_id: Option<String>,
}

fn prefix(stack: &str) -> String {
    format!("{stack}/{DIR}/")
}

fn digest(stack: &str, manifest: &str, secrets: &SecretValues, key: Option<&Key>) -> String {
    let mut h = Sha256::new();
    for part in [stack, manifest] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    for ((secret, name), value) in secrets {
        for part in [secret.as_str(), name.as_str(), value.expose()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
    }
    h.update(key.map(Key::id).unwrap_or_default().as_bytes());
    hex::encode(&h.finalize()[..6])
}

/// Every record of `stack`, oldest first.
pub async fn list<S: ObjectStore>(store: &S, stack: &str) -> Result<Vec<RecordRef>, ProtectError> {
    let p = prefix(stack);
    let mut out: Vec<RecordRef> = store
        .list(&p)
        .await?
        .into_iter()
        .filter_map(|o| parse_name(&o.key, &p))
        .collect();
    out.sort_by(|a, b| a.saved_at.cmp(&b.saved_at).then(a.key.cmp(&b.key)));
    Ok(out)
}

fn parse_name(key: &str, prefix: &str) -> Option<RecordRef> {
    let name = key.strip_prefix(prefix)?;
    let (stem, key_id) = match name.strip_suffix(".json.enc") {
        Some(stem) => {
            let (stem, id) = stem.rsplit_once('-')?;
            (stem, Some(id.to_string()))
        }
        None => (name.strip_suffix(".json")?, None),
    };
    let (time, digest) = stem.rsplit_once('-')?;
    let saved_at = NaiveDateTime::parse_from_str(time, TIME_FORMAT)
        .ok()?
        .and_utc();
    Some(RecordRef {
        key: key.to_string(),
        saved_at,
        digest: digest.to_string(),
        key_id,
    })
}

/// The generated values among `resolved`: what a sealed record keeps (templates are
/// rendered from them again).
pub fn generated(plan: &Plan, resolved: &Resolved) -> SecretValues {
    let mut out = SecretValues::new();
    for secret in &plan.secrets {
        for key in &secret.keys {
            if !matches!(key.source, SecretSource::Generated { .. }) {
                continue;
            }
            let id = (secret.name.clone(), key.key.clone());
            if let Some(v) = resolved.get(&id) {
                out.insert(id, v.clone());
            }
        }
    }
    out
}

/// Keeps the record of `stack` (its manifest as applied, and the generated `secrets`
/// sealed when the spec sets a backup key) in its store, unless unchanged; does nothing
/// for a stack without backups. The record's key when one was written.
pub async fn keep(
    stack: &ValidatedStack,
    secrets: &SecretValues,
) -> Result<Option<String>, ProtectError> {
    if stack.backup.is_none() {
        return Ok(None);
    }
    let store = super::store::open_store(stack)?;
    let key = super::store::spec_key(stack)?;
    save(
        &store,
        &stack.name,
        &stack.manifest_yaml(),
        secrets,
        key.as_ref(),
    )
    .await
}

/// [`keep`] with the stack's generated secrets as this host keeps them under `state_dir`
/// (Docker mode).
pub async fn keep_from_state(
    stack: &ValidatedStack,
    state_dir: &std::path::Path,
) -> Result<Option<String>, ProtectError> {
    if stack.backup.is_none() {
        return Ok(None);
    }
    let plan = crate::plan::build(stack);
    let resolved = crate::secrets::SecretStore::new(state_dir, &plan.stack)
        .ensure(&plan.secrets)
        .map_err(|e| ProtectError::Io(e.to_string()))?;
    keep(stack, &generated(&plan, &resolved)).await
}

/// The newest record saved at or before `at` (any time when None).
pub fn pick(records: &[RecordRef], at: Option<DateTime<Utc>>) -> Option<&RecordRef> {
    records
        .iter()
        .rev()
        .find(|r| at.is_none_or(|t| r.saved_at <= t))
}

/// The newest record saved at or before `at` (any time when None), read with `key`;
/// None when the store holds no record of the stack then.
pub async fn newest<S: ObjectStore>(
    store: &S,
    stack: &str,
    key: Option<&Key>,
    at: Option<DateTime<Utc>>,
) -> Result<Option<StackRecord>, ProtectError> {
    let records = list(store, stack).await?;
    match pick(&records, at) {
        Some(r) => load(store, r, key).await.map(Some),
        None => Ok(None),
    }
}

/// Keeps the stack's manifest (and, with `key`, its secrets sealed) unless the newest
/// record already holds exactly that; the key of the new object, if one was written.
/// Without a key the secrets are left out: they are never stored in clear.
pub async fn save<S: ObjectStore>(
    store: &S,
    stack: &str,
    manifest: &str,
    secrets: &SecretValues,
    key: Option<&Key>,
) -> Result<Option<String>, ProtectError> {
    let empty = SecretValues::new();
    let secrets = if key.is_some() { secrets } else { &empty };
    let digest = digest(stack, manifest, secrets, key);
    let records = list(store, stack).await?;
    if records.last().is_some_and(|r| r.digest == digest) {
        return Ok(None);
    }
    let saved_at = Utc::now();
    let stored = Stored {
        stack: stack.to_string(),
        saved_at,
        manifest: manifest.to_string(),
        secrets: nest(secrets),
    };
    let json = serde_json::to_vec(&stored).map_err(|e| ProtectError::Io(e.to_string()))?;
    let time = saved_at.format(TIME_FORMAT);
    let (object, body) = match key {
        Some(k) => (
            format!("{}{time}-{digest}-{}.json.enc", prefix(stack), k.id()),
            seal(k, &json)?,
        ),
        None => (format!("{}{time}-{digest}.json", prefix(stack)), json),
    };
    let (tx, rx) = mpsc::channel(1);
    let _ = tx.send(Bytes::from(body)).await;
    drop(tx);
    store.put(&object, rx).await?;
    Ok(Some(object))
}

/// Reads a record; a sealed one needs the key that sealed it.
pub async fn load<S: ObjectStore>(
    store: &S,
    record: &RecordRef,
    key: Option<&Key>,
) -> Result<StackRecord, ProtectError> {
    let bytes = read_all(store, &record.key).await?;
    let json = match (&record.key_id, key) {
        (None, _) => bytes,
        (Some(id), None) => {
            return Err(ProtectError::Sealed(format!(
                "{} is sealed with key {id}: pass that key (--key FILE, or spec.backup.encryption.keyFile)",
                record.key
            )))
        }
        (Some(id), Some(k)) if *id != k.id() => {
            return Err(ProtectError::Sealed(format!(
                "{} is sealed with key {id}, not with the given key {}: pass the backup key the stack used",
                record.key,
                k.id()
            )))
        }
        (Some(_), Some(k)) => unseal(k, &bytes).map_err(|e| {
            ProtectError::Sealed(format!("{} does not open with its key: {e}", record.key))
        })?,
    };
    let stored: Stored = serde_json::from_slice(&json).map_err(|e| ProtectError::Manifest {
        key: record.key.clone(),
        message: e.to_string(),
    })?;
    let mut secrets = SecretValues::new();
    for (secret, keys) in stored.secrets {
        for (name, value) in keys {
            secrets.insert((secret.clone(), name), SecretValue::from_stored(value));
        }
    }
    Ok(StackRecord {
        stack: stored.stack,
        saved_at: stored.saved_at,
        manifest: stored.manifest,
        secrets,
    })
}

fn nest(secrets: &SecretValues) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for ((secret, name), value) in secrets {
        out.entry(secret.clone())
            .or_default()
            .insert(name.clone(), value.expose().to_string());
    }
    out
}

fn seal(key: &Key, plain: &[u8]) -> Result<Vec<u8>, ProtectError> {
    let io = |e: std::io::Error| ProtectError::Io(format!("sealing the stack record: {e}"));
    let mut w = EncryptWriter::new(key, Vec::new()).map_err(io)?;
    w.write_all(plain).map_err(io)?;
    w.finish().map_err(io)
}

fn unseal(key: &Key, sealed: &[u8]) -> Result<Vec<u8>, ProtectError> {
    let mut out = Vec::new();
    DecryptReader::new(key, sealed)?
        .read_to_end(&mut out)
        .map_err(|e| ProtectError::Io(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::FsStore;

    fn secrets() -> SecretValues {
        SecretValues::from([(
            ("database".to_string(), "password".to_string()),
            SecretValue::from_stored("s3cr3t-value".into()),
        )])
    }

    #[tokio::test]
    async fn sealed_records_need_their_key_and_clear_ones_never_hold_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path());
        let key = Key::generate();
        let first = save(&store, "shop", "spec: {}\n", &secrets(), Some(&key))
            .await
            .unwrap();
        assert!(first.is_some());
        // Unchanged: nothing new is written.
        assert!(save(&store, "shop", "spec: {}\n", &secrets(), Some(&key))
            .await
            .unwrap()
            .is_none());
        let records = list(&store, "shop").await.unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].key_id.as_deref(), Some(key.id().as_str()));
        let raw = std::fs::read(dir.path().join(&records[0].key)).unwrap();
        assert!(!raw.windows(12).any(|w| w == b"s3cr3t-value"));
        let back = load(&store, &records[0], Some(&key)).await.unwrap();
        assert_eq!(back.manifest, "spec: {}\n");
        assert_eq!(back.secrets, secrets());
        let none = load(&store, &records[0], None).await.unwrap_err();
        assert!(none.to_string().contains("sealed with key"), "{none}");
        let wrong = load(&store, &records[0], Some(&Key::generate()))
            .await
            .unwrap_err();
        assert!(
            wrong.to_string().contains("not with the given key"),
            "{wrong}"
        );

        // Without a key: a new record (it differs), the manifest only.
        save(&store, "shop", "spec: {}\n", &secrets(), None)
            .await
            .unwrap()
            .unwrap();
        let records = list(&store, "shop").await.unwrap();
        let clear = records.last().unwrap();
        assert_eq!(clear.key_id, None);
        let raw = std::fs::read(dir.path().join(&clear.key)).unwrap();
        assert!(!raw.windows(12).any(|w| w == b"s3cr3t-value"));
        assert!(load(&store, clear, None).await.unwrap().secrets.is_empty());
        assert_eq!(pick(&records, None), Some(clear));
        assert_eq!(pick(&records, Some(records[0].saved_at)), Some(&records[0]));
        let before = records[0].saved_at - chrono::Duration::seconds(1);
        assert_eq!(pick(&records, Some(before)), None);
    }
}
