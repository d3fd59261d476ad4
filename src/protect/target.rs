//! The store a stack's spec names: a directory or an S3-compatible bucket. Credentials come
//! from a file (`spec.backup.s3.credentialsSecret`) or the environment, never the manifest.

use bytes::Bytes;
use futures::stream::BoxStream;
use tokio::sync::mpsc;

use super::error::ProtectError;
use super::s3::{S3Settings, S3Store};
use super::store::{FsStore, ObjectMeta, ObjectStore};
use crate::api::validated::BackupTarget;

/// Either kind of store.
#[derive(Clone)]
pub enum AnyStore {
    Fs(FsStore),
    S3(S3Store),
    /// A read-only view with objects hidden or corrupted (a drill's injected fault).
    Damaged(super::damaged::DamagedStore),
}

/// Opens the store of a backup target.
pub fn open(target: &BackupTarget) -> Result<AnyStore, ProtectError> {
    match target {
        BackupTarget::Filesystem { path } => {
            super::store::private::ensure(std::path::Path::new(path));
            Ok(AnyStore::Fs(FsStore::new(path)))
        }
        BackupTarget::S3 {
            bucket,
            prefix,
            endpoint,
            region,
            path_style,
            credentials_secret,
        } => {
            let (access_key_id, secret_access_key) = credentials(credentials_secret.as_deref())?;
            Ok(AnyStore::S3(S3Store::new(S3Settings {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                endpoint: endpoint.clone(),
                region: region.clone(),
                path_style: *path_style,
                access_key_id,
                secret_access_key,
            })))
        }
    }
}

/// Reads `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` from an env-style file, else from the
/// environment.
fn credentials(file: Option<&str>) -> Result<(String, String), ProtectError> {
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let (mut id, mut secret) = (
        from_env("AWS_ACCESS_KEY_ID"),
        from_env("AWS_SECRET_ACCESS_KEY"),
    );
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ProtectError::Config(format!(
                "spec.backup.s3.credentialsSecret: cannot read {path}: {e}"
            ))
        })?;
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').to_string();
            match k.trim() {
                "AWS_ACCESS_KEY_ID" => id = Some(v),
                "AWS_SECRET_ACCESS_KEY" => secret = Some(v),
                _ => {}
            }
        }
    }
    match (id, secret) {
        (Some(i), Some(s)) => Ok((i, s)),
        _ => Err(ProtectError::Config(
            "no S3 credentials: set spec.backup.s3.credentialsSecret to a file with AWS_ACCESS_KEY_ID= and AWS_SECRET_ACCESS_KEY= lines, or export both variables".into(),
        )),
    }
}

impl ObjectStore for AnyStore {
    fn location(&self) -> String {
        match self {
            AnyStore::Fs(s) => s.location(),
            AnyStore::S3(s) => s.location(),
            AnyStore::Damaged(s) => s.location(),
        }
    }

    async fn put(&self, key: &str, body: mpsc::Receiver<Bytes>) -> Result<u64, ProtectError> {
        match self {
            AnyStore::Fs(s) => s.put(key, body).await,
            AnyStore::S3(s) => s.put(key, body).await,
            AnyStore::Damaged(s) => s.put(key, body).await,
        }
    }

    async fn get(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, ProtectError>>, ProtectError> {
        match self {
            AnyStore::Fs(s) => s.get(key).await,
            AnyStore::S3(s) => s.get(key).await,
            AnyStore::Damaged(s) => s.get(key).await,
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ProtectError> {
        match self {
            AnyStore::Fs(s) => s.list(prefix).await,
            AnyStore::S3(s) => s.list(prefix).await,
            AnyStore::Damaged(s) => s.list(prefix).await,
        }
    }

    async fn delete(&self, key: &str) -> Result<(), ProtectError> {
        match self {
            AnyStore::Fs(s) => s.delete(key).await,
            AnyStore::S3(s) => s.delete(key).await,
            AnyStore::Damaged(s) => s.delete(key).await,
        }
    }
}
