//! The spool `pg_receivewal` writes into, and how one WAL file of it is stored: its files
//! in WAL order (each knowing the cluster that wrote it), a complete segment or history file
//! streamed through the compress-(encrypt-)and-digest pipeline, the open segment's partial
//! trimmed to its last non-zero page.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::error::ProtectError;
use super::pipeline::{self, Compression, CHUNK};
use super::shipper::ShipperConfig;
use super::store::ObjectStore;
use super::wal::{self, WalKind};

/// WAL pages are 8 KiB: a partial segment is trimmed to its last non-zero page.
const WAL_PAGE: usize = 8192;

/// A WAL file in the spool.
#[derive(Debug, Clone)]
pub(super) struct SpoolFile {
    pub kind: WalKind,
    pub path: PathBuf,
    pub size: u64,
    pub modified: SystemTime,
    /// The cluster that wrote it (a segment's first page says; a history file takes the
    /// spool's newest segment's).
    pub system: Option<u64>,
}

/// The system identifier in a spooled segment's first page (None when unreadable yet).
async fn first_page_system(path: &Path) -> Option<u64> {
    use tokio::io::AsyncReadExt;
    let mut head = [0u8; 32];
    let mut f = tokio::fs::File::open(path).await.ok()?;
    f.read_exact(&mut head).await.ok()?;
    wal::system_of_segment(&head)
}

/// WAL files in the spool, in WAL order; anything else (temporary files) is ignored.
pub(super) async fn scan(spool: &Path) -> Result<Vec<SpoolFile>, ProtectError> {
    let io = |e: std::io::Error| ProtectError::Io(format!("WAL spool {}: {e}", spool.display()));
    let mut out = Vec::new();
    let mut rd = tokio::fs::read_dir(spool).await.map_err(io)?;
    while let Some(entry) = rd.next_entry().await.map_err(io)? {
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(kind) = WalKind::from_file_name(&name) else {
            continue;
        };
        let meta = entry.metadata().await.map_err(io)?;
        if !meta.is_file() {
            continue;
        }
        let system = match kind {
            WalKind::History(_) => None,
            _ => first_page_system(&entry.path()).await,
        };
        out.push(SpoolFile {
            kind,
            path: entry.path(),
            size: meta.len(),
            modified: meta.modified().map_err(io)?,
            system,
        });
    }
    out.sort_by_key(|f| f.kind);
    // A history file is written by the cluster whose segments are beside it.
    let newest = out.iter().rev().find_map(|f| f.system);
    for f in out
        .iter_mut()
        .filter(|f| matches!(f.kind, WalKind::History(_)))
    {
        f.system = newest;
    }
    Ok(out)
}

/// The compress-(encrypt-)and-digest pipeline every stored WAL file goes through.
fn wal_pipeline(
    cfg: &ShipperConfig,
) -> (
    mpsc::Sender<Bytes>,
    mpsc::Receiver<Bytes>,
    tokio::task::JoinHandle<Result<pipeline::Encoded, ProtectError>>,
) {
    pipeline::spawn(
        Compression::ZstdDigest(cfg.compression_level),
        pipeline::Inspect::Nothing,
        cfg.key.clone(),
        None,
    )
}

/// Stores a WAL file held in memory (a timeline history written by a restore's promotion,
/// before any shipper has seen it) under the same key the shipper would give it.
pub async fn put_wal_file<S: ObjectStore>(
    store: &S,
    cfg: &ShipperConfig,
    kind: WalKind,
    system: Option<u64>,
    raw: Vec<u8>,
) -> Result<String, ProtectError> {
    let sha = hex::encode(Sha256::digest(&raw));
    let key = wal::object_key(&cfg.stack, kind, system, &sha, cfg.key.is_some());
    let (raw_tx, out_rx, encoder) = wal_pipeline(cfg);
    let feed = async move {
        let _ = raw_tx.send(Bytes::from(raw)).await;
    };
    let ((), put) = tokio::join!(feed, store.put(&key, out_rx));
    encoder
        .await
        .map_err(|e| ProtectError::Io(e.to_string()))??;
    put?;
    Ok(key)
}

/// Stores a complete segment or history file: hashed in one pass, then streamed through
/// the pipeline (the file no longer changes).
pub(super) async fn ship_complete<S: ObjectStore>(
    store: &S,
    cfg: &ShipperConfig,
    f: &SpoolFile,
) -> Result<String, ProtectError> {
    let io = |e: std::io::Error| ProtectError::Io(format!("{}: {e}", f.path.display()));
    let mut file = tokio::fs::File::open(&f.path).await.map_err(io)?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    let sha = hex::encode(hash.finalize());
    let key = wal::object_key(&cfg.stack, f.kind, f.system, &sha, cfg.key.is_some());
    let mut file = tokio::fs::File::open(&f.path).await.map_err(io)?;
    let (raw_tx, out_rx, encoder) = wal_pipeline(cfg);
    let feed = async move {
        loop {
            let mut chunk = vec![0u8; CHUNK];
            let n = file.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                return Ok::<(), ProtectError>(());
            }
            chunk.truncate(n);
            if raw_tx.send(Bytes::from(chunk)).await.is_err() {
                return Ok(());
            }
        }
    };
    let (fed, put) = tokio::join!(feed, store.put(&key, out_rx));
    let encoded = encoder
        .await
        .map_err(|e| ProtectError::Io(e.to_string()))??;
    fed?;
    put?;
    if encoded.raw_size != f.size {
        let _ = store.delete(&key).await;
        return Err(ProtectError::Io(format!(
            "{} changed while it was shipped",
            f.path.display()
        )));
    }
    Ok(key)
}

/// Stores the valid prefix of the open segment: read once into memory (it keeps changing),
/// trailing zero pages dropped; restore pads it back to a whole segment. None when the
/// file was completed (renamed) since the scan.
pub(super) async fn ship_partial<S: ObjectStore>(
    store: &S,
    cfg: &ShipperConfig,
    f: &SpoolFile,
) -> Result<Option<String>, ProtectError> {
    let io = |e: std::io::Error| ProtectError::Io(format!("{}: {e}", f.path.display()));
    let mut file = match tokio::fs::File::open(&f.path).await {
        Ok(file) => file,
        // pg_receivewal completed the segment since the scan: the next tick ships it.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io(e)),
    };
    let mut data = Vec::new();
    let mut zeros = 0usize;
    let mut page = vec![0u8; WAL_PAGE];
    loop {
        let n = read_full(&mut file, &mut page).await.map_err(io)?;
        if n == 0 {
            break;
        }
        if page[..n].iter().all(|b| *b == 0) {
            // Held back: only pages followed by data are kept.
            zeros += n;
            continue;
        }
        data.resize(data.len() + zeros, 0);
        zeros = 0;
        data.extend_from_slice(&page[..n]);
    }
    let sha = hex::encode(Sha256::digest(&data));
    let key = wal::object_key(&cfg.stack, f.kind, f.system, &sha, cfg.key.is_some());
    let (raw_tx, out_rx, encoder) = wal_pipeline(cfg);
    let data = Bytes::from(data);
    let feed = async move {
        let mut rest = data;
        while !rest.is_empty() {
            let chunk = rest.split_to(rest.len().min(CHUNK));
            if raw_tx.send(chunk).await.is_err() {
                break;
            }
        }
    };
    let (_, put) = tokio::join!(feed, store.put(&key, out_rx));
    encoder
        .await
        .map_err(|e| ProtectError::Io(e.to_string()))??;
    put?;
    Ok(Some(key))
}

async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}
