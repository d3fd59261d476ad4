//! A damaged, read-only view of a store: some objects hidden, some corrupted as they are
//! read. A drill with an injected fault restores through it, so it proves it fails on
//! broken backups without the store's own objects ever being touched: nothing is written
//! or deleted through the view, and a corrupted object is damaged in the bytes handed out.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::sync::mpsc;

use super::error::ProtectError;
use super::store::{ObjectMeta, ObjectStore};
use super::target::AnyStore;
use super::wal::{self, WalKind};

/// What the view damages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Damage {
    /// Objects under these key prefixes (or with these keys) are not there.
    pub hidden: Vec<String>,
    /// These objects are read with one byte flipped.
    pub corrupted: Vec<String>,
    /// Stack `.0`'s WAL segments (and partials) numbered from `.1` on are not there,
    /// including any shipped after the view was made.
    pub wal_from: Option<(String, u64)>,
}

impl Damage {
    fn hides(&self, key: &str) -> bool {
        self.hidden.iter().any(|p| key.starts_with(p.as_str()))
            || self.wal_from.as_ref().is_some_and(|(stack, from)| {
                let meta = ObjectMeta {
                    key: key.to_string(),
                    size: 0,
                };
                wal::parse_object(stack, &meta).is_some_and(|o| match o.kind {
                    WalKind::Segment(s) | WalKind::Partial(s) => s.number >= *from,
                    WalKind::History(_) => false,
                })
            })
    }
}

/// The view: `inner` as `damage` says.
#[derive(Clone)]
pub struct DamagedStore {
    inner: Box<AnyStore>,
    damage: Arc<Damage>,
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = Result<T, ProtectError>> + Send + 'a>>;

impl DamagedStore {
    pub fn new(inner: AnyStore, damage: Damage) -> Self {
        Self {
            inner: Box::new(inner),
            damage: Arc::new(damage),
        }
    }

    fn read_only(&self, key: &str) -> ProtectError {
        ProtectError::Store {
            location: self.location(),
            message: format!("{key}: a damaged view is read-only"),
        }
    }
}

impl ObjectStore for DamagedStore {
    fn location(&self) -> String {
        format!("{} (damaged view)", self.inner.location())
    }

    fn put(
        &self,
        key: &str,
        _body: mpsc::Receiver<Bytes>,
    ) -> impl Future<Output = Result<u64, ProtectError>> + Send {
        let err = self.read_only(key);
        async move { Err(err) }
    }

    fn get(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<BoxStream<'static, Result<Bytes, ProtectError>>, ProtectError>> + Send
    {
        let key = key.to_string();
        async move {
            if self.damage.hides(&key) {
                return Err(ProtectError::NotFound { key });
            }
            let inner: Boxed<'_, BoxStream<'static, Result<Bytes, ProtectError>>> =
                Box::pin(self.inner.get(&key));
            let stream = inner.await?;
            if !self.damage.corrupted.contains(&key) {
                return Ok(stream);
            }
            let mut flipped = false;
            Ok(stream
                .map(move |chunk| {
                    chunk.map(|c| {
                        if flipped || c.is_empty() {
                            return c;
                        }
                        flipped = true;
                        let mut v = c.to_vec();
                        let mid = v.len() / 2;
                        v[mid] ^= 0x5a;
                        Bytes::from(v)
                    })
                })
                .boxed())
        }
    }

    fn list(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectMeta>, ProtectError>> + Send {
        let prefix = prefix.to_string();
        async move {
            let inner: Boxed<'_, Vec<ObjectMeta>> = Box::pin(self.inner.list(&prefix));
            Ok(inner
                .await?
                .into_iter()
                .filter(|o| !self.damage.hides(&o.key))
                .collect())
        }
    }

    fn delete(&self, key: &str) -> impl Future<Output = Result<(), ProtectError>> + Send {
        let err = self.read_only(key);
        async move { Err(err) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::manifest::read_all;
    use crate::protect::FsStore;

    #[tokio::test]
    async fn hides_and_corrupts_without_touching_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let fs = FsStore::new(dir.path());
        for (key, body) in [
            ("s/base/1/base.tar.zst", "abcdef"),
            ("s/wal/1", "w"),
            ("s/wal/2", "x"),
        ] {
            let (tx, rx) = mpsc::channel(1);
            tx.send(Bytes::from(body)).await.unwrap();
            drop(tx);
            fs.put(key, rx).await.unwrap();
        }
        let view = DamagedStore::new(
            AnyStore::Fs(fs.clone()),
            Damage {
                hidden: vec!["s/wal/2".into()],
                corrupted: vec!["s/base/1/base.tar.zst".into()],
                wal_from: None,
            },
        );
        let keys: Vec<String> = view
            .list("s/")
            .await
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys, ["s/base/1/base.tar.zst", "s/wal/1"]);
        assert!(matches!(
            view.get("s/wal/2").await,
            Err(ProtectError::NotFound { .. })
        ));
        let damaged = read_all(&view, "s/base/1/base.tar.zst").await.unwrap();
        assert_ne!(damaged, b"abcdef");
        assert_eq!(
            read_all(&fs, "s/base/1/base.tar.zst").await.unwrap(),
            b"abcdef"
        );
        let (_tx, rx) = mpsc::channel(1);
        assert!(view.put("s/x", rx).await.is_err());
        assert!(view.delete("s/wal/1").await.is_err());
        assert_eq!(fs.list("s/").await.unwrap().len(), 3);
    }
}
