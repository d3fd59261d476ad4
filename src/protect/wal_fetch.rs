//! Fetching WAL for a restore: the chain after a base backup, downloaded and checked with
//! parallel prefetch, padded back to whole segments, as one tar stream in replay order
//! (extracted where `restore_command` finds it).

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::crypto::Key;
use super::error::ProtectError;
use super::store::ObjectStore;
use super::wal::{self, WalKind, WalObject, SEGMENT_SIZE};

/// Segments downloaded ahead of the one being written out.
pub const PREFETCH: usize = 4;

/// What was fetched.
#[derive(Debug, Clone, Default)]
pub struct Fetched {
    pub files: usize,
    pub bytes: u64,
}

/// Streams `chain` as a tar (entries in `dir`, e.g. "appstack_wal/"); the handle reports the first failure (a corrupt object names
/// itself) and the receiver then ends early, so the consumer sees a short tar.
pub fn spawn_tar<S: ObjectStore>(
    store: Arc<S>,
    stack: String,
    chain: Vec<WalObject>,
    key: Option<Key>,
    dir: String,
) -> (
    mpsc::Receiver<Bytes>,
    JoinHandle<Result<Fetched, ProtectError>>,
) {
    let (tx, rx) = mpsc::channel::<Bytes>(2);
    let handle = tokio::spawn(async move {
        let mut fetched = Fetched::default();
        let downloads = futures::stream::iter(chain.into_iter().map(|o| {
            let store = store.clone();
            let key = key.clone();
            async move {
                match fetch_raw(store.as_ref(), &o, key).await {
                    Ok(raw) => Ok((o, raw)),
                    Err(e) => Err((o, e)),
                }
            }
        }))
        .buffered(PREFETCH);
        futures::pin_mut!(downloads);
        let mut superseded = None;
        while let Some(next) = downloads.next().await {
            match next {
                Ok((o, raw)) => send(&tx, &mut fetched, &dir, &o, raw).await?,
                // The shipper replaced the open segment's partial while we listed: the
                // newer WAL is read below instead.
                Err((o, ProtectError::NotFound { .. }))
                    if matches!(o.kind, WalKind::Partial(_)) =>
                {
                    superseded = Some(o);
                    break;
                }
                Err((_, e)) => return Err(e),
            }
        }
        let mut rounds = 0;
        while let Some(o) = superseded.take() {
            rounds += 1;
            let (WalKind::Partial(from), true) = (o.kind, rounds <= 5) else {
                return Err(ProtectError::NotFound { key: o.key });
            };
            let all: Vec<WalObject> = wal::list(store.as_ref(), &stack)
                .await?
                .into_iter()
                .filter(|w| w.of_system(o.system))
                .collect();
            for next in wal::chain(&all, from).0 {
                match fetch_raw(store.as_ref(), &next, key.clone()).await {
                    Ok(raw) => send(&tx, &mut fetched, &dir, &next, raw).await?,
                    Err(ProtectError::NotFound { .. })
                        if matches!(next.kind, WalKind::Partial(_)) =>
                    {
                        superseded = Some(next);
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        let _ = tx.send(Bytes::from(vec![0u8; 1024])).await;
        Ok(fetched)
    });
    (rx, handle)
}

/// The raw bytes of a stored WAL object, checked against the sha256 in its name; a
/// corrupt object is an error naming it.
pub async fn fetch_raw<S: ObjectStore>(
    store: &S,
    object: &WalObject,
    key: Option<Key>,
) -> Result<Vec<u8>, ProtectError> {
    // Held whole (a segment compresses to at most 16 MiB): the digest trailer covers every
    // stored byte, and is checked before anything is decoded.
    let mut stream = store.get(&object.key).await?;
    let mut stored = Vec::new();
    while let Some(chunk) = stream.next().await {
        stored.extend_from_slice(&chunk?);
    }
    if !object.encrypted {
        super::digest::check(&stored).map_err(|message| ProtectError::Checksum {
            key: object.key.clone(),
            expected: "the digest trailer".into(),
            actual: message,
        })?;
    }
    let whole: Result<Bytes, ProtectError> = Ok(Bytes::from(stored));
    let (mut rx, decoder) =
        super::decode::spawn_zstd(Box::pin(futures::stream::once(async move { whole })), key);
    let collect = async {
        let mut out = Vec::with_capacity(wal::SEGMENT_SIZE as usize);
        while let Some(c) = rx.recv().await {
            out.extend_from_slice(&c);
        }
        out
    };
    let (raw, decoded) = tokio::join!(collect, decoder);
    let corrupt = |message: String| ProtectError::Checksum {
        key: object.key.clone(),
        expected: object.sha256.clone(),
        actual: format!("unreadable ({message})"),
    };
    decoded
        .map_err(|e| corrupt(e.to_string()))?
        .map_err(|e| corrupt(e.to_string()))?;
    let actual = hex::encode(Sha256::digest(&raw));
    if actual != object.sha256 {
        return Err(ProtectError::Checksum {
            key: object.key.clone(),
            expected: object.sha256.clone(),
            actual,
        });
    }
    Ok(raw)
}

/// Writes one WAL file as a tar entry (a partial padded back to a whole segment).
async fn send(
    tx: &mpsc::Sender<Bytes>,
    fetched: &mut Fetched,
    dir: &str,
    o: &WalObject,
    mut raw: Vec<u8>,
) -> Result<(), ProtectError> {
    if matches!(o.kind, WalKind::Partial(_)) {
        raw.resize(SEGMENT_SIZE as usize, 0);
    }
    fetched.files += 1;
    fetched.bytes += raw.len() as u64;
    let header = tar_header(&format!("{dir}{}", o.kind.restore_name()), raw.len() as u64)?;
    let pad = (512 - raw.len() % 512) % 512;
    raw.extend(std::iter::repeat_n(0u8, pad));
    if tx.send(Bytes::from(header)).await.is_err() || tx.send(Bytes::from(raw)).await.is_err() {
        return Err(ProtectError::Io(
            "the restore target stopped reading WAL".into(),
        ));
    }
    Ok(())
}

fn tar_header(name: &str, size: u64) -> Result<Vec<u8>, ProtectError> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)
        .map_err(|e| ProtectError::Io(format!("tar header for {name}: {e}")))?;
    h.set_size(size);
    h.set_mode(0o600);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    Ok(h.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::shipper::{ShipStatus, Shipper, ShipperConfig};
    use crate::protect::wal::Segment;
    use crate::protect::FsStore;
    use std::io::Read;
    use std::sync::Mutex;

    fn segment_bytes(fill: u8, valid: usize) -> Vec<u8> {
        let mut v = vec![0u8; SEGMENT_SIZE as usize];
        v[..valid].iter_mut().for_each(|b| *b = fill);
        v
    }

    /// A shipper of stack `s` draining `spool` into `store`, with its shared status.
    fn shipper(
        store: Arc<FsStore>,
        spool: &std::path::Path,
        alert_bytes: u64,
    ) -> (Shipper<FsStore>, Arc<Mutex<ShipStatus>>) {
        let status = Arc::new(Mutex::new(ShipStatus::default()));
        let cfg = ShipperConfig {
            stack: "s".into(),
            spool: spool.to_path_buf(),
            interval: std::time::Duration::from_millis(10),
            compression_level: 1,
            key: None,
            alert_bytes,
            parallel: 2,
        };
        (Shipper::new(store, cfg, status.clone()), status)
    }

    /// A temporary directory with an empty spool and a filesystem store in it.
    fn spool_and_store() -> (tempfile::TempDir, std::path::PathBuf, Arc<FsStore>) {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).unwrap();
        let store = Arc::new(FsStore::new(dir.path().join("store")));
        (dir, spool, store)
    }

    /// What the store holds of stack `s`, by kind.
    async fn stored_kinds(store: &FsStore) -> Vec<WalKind> {
        wal::list(store, "s")
            .await
            .unwrap()
            .iter()
            .map(|o| o.kind)
            .collect()
    }

    #[tokio::test]
    async fn shipped_spool_comes_back_as_a_tar_of_whole_segments() {
        let (_dir, spool, store) = spool_and_store();
        let s1 = Segment {
            timeline: 1,
            number: 1,
        };
        let s2 = s1.next();
        std::fs::write(
            spool.join(s1.name()),
            segment_bytes(1, SEGMENT_SIZE as usize),
        )
        .unwrap();
        std::fs::write(
            spool.join(format!("{}.partial", s2.name())),
            segment_bytes(2, 20_000),
        )
        .unwrap();
        std::fs::write(spool.join("junk.tmp"), b"x").unwrap();
        let (mut shipper, status) = shipper(store.clone(), &spool, u64::MAX);
        shipper.tick().await.unwrap();
        let status = status.lock().unwrap().clone();
        assert_eq!(status.files_shipped, 2);
        assert!(status.synced_at.is_some());
        // The complete segment left the spool, the open one stays for pg_receivewal.
        assert!(!spool.join(s1.name()).exists());
        assert!(spool.join(format!("{}.partial", s2.name())).exists());

        let all = wal::list(store.as_ref(), "s").await.unwrap();
        let (chain, gap) = wal::chain(&all, s1);
        assert_eq!(gap, None);
        assert_eq!(chain.len(), 2);
        // The partial was trimmed to its last non-zero page.
        assert!(chain[1].size < 10_000, "{}", chain[1].size);
        let (mut rx, handle) = spawn_tar(store.clone(), "s".into(), chain, None, String::new());
        let mut tar_bytes = Vec::new();
        while let Some(c) = rx.recv().await {
            tar_bytes.extend_from_slice(&c);
        }
        assert_eq!(handle.await.unwrap().unwrap().files, 2);
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut e = entry.unwrap();
            let name = e.path().unwrap().to_string_lossy().to_string();
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            seen.push((name, data));
        }
        assert_eq!(
            seen[0],
            (s1.name(), segment_bytes(1, SEGMENT_SIZE as usize))
        );
        // Restored under the segment's own name, padded back to a whole segment.
        assert_eq!(seen[1].0, s2.name());
        assert_eq!(seen[1].1[..8192], segment_bytes(2, 20_000)[..8192]);
        assert_eq!(seen[1].1.len(), SEGMENT_SIZE as usize);
        assert_eq!(seen[1].1[..20_000], vec![2u8; 20_000][..]);
    }

    #[tokio::test]
    async fn a_changed_partial_supersedes_the_old_one_and_a_flipped_byte_is_named() {
        let (dir, spool, store) = spool_and_store();
        let s1 = Segment {
            timeline: 1,
            number: 5,
        };
        let partial = spool.join(format!("{}.partial", s1.name()));
        std::fs::write(&partial, segment_bytes(3, 9000)).unwrap();
        let (mut shipper, status) = shipper(store.clone(), &spool, 1);
        shipper.tick().await.unwrap();
        // Unchanged: nothing new is shipped.
        shipper.tick().await.unwrap();
        assert_eq!(status.lock().unwrap().files_shipped, 1);
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&partial, segment_bytes(3, 30_000)).unwrap();
        shipper.tick().await.unwrap();
        let all = wal::list(store.as_ref(), "s").await.unwrap();
        assert_eq!(all.len(), 1, "{all:?}");
        // The segment completes: its partial object goes once the segment is stored.
        std::fs::rename(&partial, spool.join(s1.name())).unwrap();
        std::fs::write(
            spool.join(format!("{}.partial", s1.next().name())),
            segment_bytes(4, 100),
        )
        .unwrap();
        shipper.tick().await.unwrap();
        let all = wal::list(store.as_ref(), "s").await.unwrap();
        let kinds: Vec<WalKind> = all.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            vec![WalKind::Segment(s1), WalKind::Partial(s1.next())]
        );

        // Flip one stored byte of the segment.
        let path = dir.path().join("store").join(&all[0].key);
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&path, bytes).unwrap();
        let err = fetch_raw(store.as_ref(), &all[0], None).await.unwrap_err();
        assert!(err.to_string().contains(&all[0].key), "{err}");
    }

    /// After an in-place restore the stack writes a new timeline; the old timeline's last
    /// partial is the only copy of its tail, so a new shipper (the daemon restarted, the
    /// spool emptied) must not delete it when it ships the new timeline's WAL.
    #[tokio::test]
    async fn a_partial_of_a_left_timeline_outlives_the_new_timelines_uploads() {
        let (_dir, spool, store) = spool_and_store();
        let old = Segment {
            timeline: 1,
            number: 4,
        };
        let old_partial = spool.join(format!("{}.partial", old.name()));
        std::fs::write(&old_partial, segment_bytes(5, 12_000)).unwrap();
        let (mut first, _) = shipper(store.clone(), &spool, u64::MAX);
        first.tick().await.unwrap();
        // The restore empties the spool; timeline 2 starts in the same segment number.
        std::fs::remove_file(&old_partial).unwrap();
        let new = Segment {
            timeline: 2,
            number: 4,
        };
        std::fs::write(
            spool.join(new.name()),
            segment_bytes(6, SEGMENT_SIZE as usize),
        )
        .unwrap();
        std::fs::write(
            spool.join(format!("{}.partial", new.next().name())),
            segment_bytes(7, 100),
        )
        .unwrap();
        let (mut second, _) = shipper(store.clone(), &spool, u64::MAX);
        second.tick().await.unwrap();
        let kinds = stored_kinds(&store).await;
        assert!(kinds.contains(&WalKind::Partial(old)), "{kinds:?}");
        let all = wal::list(store.as_ref(), "s").await.unwrap();
        let (chain, gap) = wal::chain(&all, old);
        assert_eq!((chain.len(), gap), (1, None));
    }

    /// A segment that completes in a pass that ships no new partial: its old partial goes
    /// when the next partial is shipped, not never.
    #[tokio::test]
    async fn a_completed_segments_partial_goes_even_when_the_next_partial_comes_later() {
        let (_dir, spool, store) = spool_and_store();
        let s1 = Segment {
            timeline: 1,
            number: 2,
        };
        let partial = spool.join(format!("{}.partial", s1.name()));
        std::fs::write(&partial, segment_bytes(3, 9000)).unwrap();
        let (mut shipper, _) = shipper(store.clone(), &spool, u64::MAX);
        shipper.tick().await.unwrap();
        // The segment completes; pg_receivewal has not opened the next one yet.
        std::fs::rename(&partial, spool.join(s1.name())).unwrap();
        shipper.tick().await.unwrap();
        std::fs::write(
            spool.join(format!("{}.partial", s1.next().name())),
            segment_bytes(4, 100),
        )
        .unwrap();
        shipper.tick().await.unwrap();
        let kinds = stored_kinds(&store).await;
        assert_eq!(
            kinds,
            vec![WalKind::Segment(s1), WalKind::Partial(s1.next())]
        );
    }
}
