//! The backup store: one trait, so the engine never knows where bytes go. Objects are
//! written from a bounded stream of chunks and become visible only when complete.

pub mod lookup;
pub mod private;

pub use lookup::{backup_target, key_for, open_store, spec_key};

use std::future::Future;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::error::ProtectError;

/// An object in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
}

/// Where backups live.
pub trait ObjectStore: Send + Sync + 'static {
    /// A human-readable location (never containing credentials).
    fn location(&self) -> String;
    /// Writes `key` from the chunks received on `body`; the object appears atomically.
    fn put(
        &self,
        key: &str,
        body: mpsc::Receiver<Bytes>,
    ) -> impl Future<Output = Result<u64, ProtectError>> + Send;
    /// Reads `key` as a stream of chunks.
    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<BoxStream<'static, Result<Bytes, ProtectError>>, ProtectError>> + Send;
    /// Every object whose key starts with `prefix`, sorted by key.
    fn list(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectMeta>, ProtectError>> + Send;
    /// Deletes `key`; a missing object is not an error.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), ProtectError>> + Send;
}

/// A directory as the store (the default, embedded target).
#[derive(Debug, Clone)]
pub struct FsStore {
    root: PathBuf,
}

impl FsStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn path(&self, key: &str) -> Result<PathBuf, ProtectError> {
        if key.split('/').any(|part| part == ".." || part.is_empty()) {
            return Err(self.err(format!("invalid key {key:?}")));
        }
        Ok(self.root.join(key))
    }

    fn err(&self, message: String) -> ProtectError {
        ProtectError::Store {
            location: self.location(),
            message,
        }
    }
}

impl ObjectStore for FsStore {
    fn location(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn put(&self, key: &str, mut body: mpsc::Receiver<Bytes>) -> Result<u64, ProtectError> {
        let path = self.path(key)?;
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        private::create_dirs(&dir).map_err(|e| self.err(format!("{}: {e}", dir.display())))?;
        let tmp = path.with_extension("partial");
        let mut file = tokio::fs::OpenOptions::from(private::file_options())
            .open(&tmp)
            .await
            .map_err(|e| self.err(format!("{}: {e}", tmp.display())))?;
        let mut size = 0u64;
        while let Some(chunk) = body.recv().await {
            size += chunk.len() as u64;
            file.write_all(&chunk)
                .await
                .map_err(|e| self.err(format!("{}: {e}", tmp.display())))?;
        }
        // Durable before visible: a crash never leaves a half object under its real name.
        file.sync_all()
            .await
            .map_err(|e| self.err(format!("{}: {e}", tmp.display())))?;
        drop(file);
        tokio::fs::rename(&tmp, &path)
            .await
            .map_err(|e| self.err(format!("{}: {e}", path.display())))?;
        if let Ok(d) = tokio::fs::File::open(&dir).await {
            let _ = d.sync_all().await;
        }
        Ok(size)
    }

    async fn get(
        &self,
        key: &str,
    ) -> Result<BoxStream<'static, Result<Bytes, ProtectError>>, ProtectError> {
        let path = self.path(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ProtectError::NotFound {
                    key: key.to_string(),
                })
            }
            Err(e) => return Err(self.err(format!("{}: {e}", path.display()))),
        };
        let location = self.location();
        Ok(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20)
            .map(move |r| {
                r.map_err(|e| ProtectError::Store {
                    location: location.clone(),
                    message: e.to_string(),
                })
            })
            .boxed())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, ProtectError> {
        let mut out = Vec::new();
        let mut stack = vec![self.root.clone()];
        while let Some(dir) = stack.pop() {
            let mut rd = match tokio::fs::read_dir(&dir).await {
                Ok(rd) => rd,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err(format!("{}: {e}", dir.display()))),
            };
            while let Some(entry) = rd.next_entry().await.map_err(|e| self.err(e.to_string()))? {
                let path = entry.path();
                let meta = entry
                    .metadata()
                    .await
                    .map_err(|e| self.err(e.to_string()))?;
                if meta.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Ok(rel) = path.strip_prefix(&self.root) else {
                    continue;
                };
                let key = rel.to_string_lossy().to_string();
                if key.ends_with(".partial") || !key.starts_with(prefix) {
                    continue;
                }
                out.push(ObjectMeta {
                    key,
                    size: meta.len(),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), ProtectError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.err(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_list_delete() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::new(dir.path());
        let (tx, rx) = mpsc::channel(4);
        tx.send(Bytes::from_static(b"hello ")).await.unwrap();
        tx.send(Bytes::from_static(b"world")).await.unwrap();
        drop(tx);
        assert_eq!(store.put("s/base/1/a.zst", rx).await.unwrap(), 11);
        let mut got = Vec::new();
        let mut stream = store.get("s/base/1/a.zst").await.unwrap();
        while let Some(c) = stream.next().await {
            got.extend_from_slice(&c.unwrap());
        }
        assert_eq!(got, b"hello world");
        assert_eq!(
            store.list("s/").await.unwrap(),
            vec![ObjectMeta {
                key: "s/base/1/a.zst".into(),
                size: 11
            }]
        );
        assert!(store.list("t/").await.unwrap().is_empty());
        store.delete("s/base/1/a.zst").await.unwrap();
        store.delete("s/base/1/a.zst").await.unwrap();
        assert!(matches!(
            store.get("s/base/1/a.zst").await,
            Err(ProtectError::NotFound { .. })
        ));
        assert!(store.put("../escape", mpsc::channel(1).1).await.is_err());
    }
}
