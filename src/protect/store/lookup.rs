//! A stack's store, key and backup target, looked up from its validated spec: what every
//! backup, restore, drill and the WAL shipper start from.

use crate::api::validated::{Uploads, ValidatedStack};
use crate::protect::backup::Target;
use crate::protect::crypto::Key;
use crate::protect::manifest::Manifest;
use crate::protect::target::AnyStore;
use crate::protect::ProtectError;

/// The encryption key the spec names, if any.
pub fn spec_key(stack: &ValidatedStack) -> Result<Option<Key>, ProtectError> {
    match stack
        .backup
        .as_ref()
        .and_then(|b| b.encryption_key_file.as_deref())
    {
        Some(path) => Key::from_file(path).map(Some),
        None => Ok(None),
    }
}

/// The key needed to read `m`: refuses clearly when it is missing or is not the one used.
pub fn key_for(stack: &ValidatedStack, m: &Manifest) -> Result<Option<Key>, ProtectError> {
    let Some(want) = &m.encryption_key_id else {
        return Ok(None);
    };
    match spec_key(stack)? {
        None => Err(ProtectError::Config(format!("backup {} is encrypted (key id {want}): set spec.backup.encryption.keyFile to its key", m.id))),
        Some(k) if &k.id() != want => Err(ProtectError::Config(format!(
            "wrong key: backup {} was encrypted with key id {want}, but spec.backup.encryption.keyFile holds key id {}",
            m.id,
            k.id()
        ))),
        Some(k) => Ok(Some(k)),
    }
}

/// The store a stack's backups go to.
pub fn open_store(stack: &ValidatedStack) -> Result<AnyStore, ProtectError> {
    let b = stack.backup.as_ref().ok_or_else(|| {
        ProtectError::Config(
            "spec.backup: not set; add a backup section to protect this stack".into(),
        )
    })?;
    crate::protect::target::open(&b.target)
}

pub fn backup_target(stack: &ValidatedStack) -> Result<Target, ProtectError> {
    let b = stack
        .backup
        .as_ref()
        .ok_or_else(|| ProtectError::Config("spec.backup: not set".into()))?;
    let db = stack
        .database
        .as_ref()
        .ok_or_else(|| ProtectError::Config("spec.database: not set; nothing to back up".into()))?;
    Ok(Target {
        key: spec_key(stack)?,
        stack: stack.name.clone(),
        db_user: db.user.clone(),
        db_name: db.name.clone(),
        compression_level: b.compression_level,
        timeout: b.timeout,
        uploads_path: stack.cms.as_ref().and_then(|c| match &c.uploads {
            Uploads::Volume { path, .. } => Some(path.clone()),
            Uploads::S3 { .. } => None,
        }),
        meter: None,
    })
}
