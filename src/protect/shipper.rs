//! Continuous WAL shipping: drains the spool `pg_receivewal` writes into (complete
//! segments, history files, and the partial segment every interval) into the store.
//!
//! Never skips: files go in WAL order and a spool file is deleted only after its object is
//! stored; a failed tick leaves everything in place and is retried with backoff. The
//! partial segment is shipped whenever it changed, so the data-loss window is one interval
//! plus one upload. Independent of Docker: it only needs the spool directory.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::crypto::Key;
use super::error::ProtectError;
use super::pipeline::{self, Compression, CHUNK};
use super::store::ObjectStore;
use super::wal::{self, Segment, WalKind};

/// WAL pages are 8 KiB: a partial segment is trimmed to its last non-zero page.
const WAL_PAGE: usize = 8192;
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What the shipper needs.
#[derive(Debug, Clone)]
pub struct ShipperConfig {
    pub stack: String,
    pub spool: PathBuf,
    pub interval: Duration,
    pub compression_level: i32,
    pub key: Option<Key>,
    /// Raise the spool alert when waiting WAL passes this many bytes.
    pub alert_bytes: u64,
    /// Segments uploaded at once while draining a backlog.
    pub parallel: usize,
}

/// The shipper's view, shared with status and metrics.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ShipStatus {
    /// Last time the store held everything the spool had (all WAL before it is safe).
    pub synced_at: Option<DateTime<Utc>>,
    /// Newest WAL file shipped (segment name, `.partial` for the open segment).
    pub newest_shipped: Option<String>,
    /// Modification time of the newest WAL shipped: the newest write known to be safe.
    pub newest_wal_at: Option<DateTime<Utc>>,
    /// WAL bytes in the spool waiting for the store.
    pub spool_bytes: u64,
    /// The spool has passed the alert threshold.
    pub spool_alert: bool,
    /// Since when shipping fails (None while it works).
    pub failing_since: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub files_shipped: u64,
    pub bytes_shipped: u64,
    pub failures: u64,
}

impl ShipStatus {
    /// Current data-loss window estimate: time since the store last held all WAL.
    pub fn rpo_estimate(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.synced_at
            .map(|t| (now - t).to_std().unwrap_or_default())
    }
}

/// A WAL file in the spool.
#[derive(Debug, Clone)]
struct SpoolFile {
    kind: WalKind,
    path: PathBuf,
    size: u64,
    modified: SystemTime,
    /// The cluster that wrote it (a segment's first page says; a history file takes the
    /// spool's newest segment's).
    system: Option<u64>,
}

/// Ships one stack's spool into a store.
pub struct Shipper<S: ObjectStore> {
    store: Arc<S>,
    cfg: ShipperConfig,
    status: Arc<Mutex<ShipStatus>>,
    /// The partial last shipped: (kind, size, mtime) and its key.
    last_partial: Option<(WalKind, u64, SystemTime, String)>,
    /// Partials in the store that a newer object may supersede: deleted once the store holds
    /// the same segment complete or a newer partial of it, never before (a partial of a
    /// timeline an in-place restore left is the only copy of that timeline's tail).
    stale_partials: Vec<(Segment, String)>,
    /// Segments the store holds complete that a stale partial may still name: those found
    /// at start and shipped since, trimmed to the open segment's after each pass.
    complete: Vec<Segment>,
    seeded: bool,
    /// The cluster whose WAL the spool holds, once a segment said.
    system: Option<u64>,
}

impl<S: ObjectStore> Shipper<S> {
    pub fn new(store: Arc<S>, cfg: ShipperConfig, status: Arc<Mutex<ShipStatus>>) -> Self {
        Self {
            store,
            cfg,
            status,
            last_partial: None,
            stale_partials: Vec::new(),
            complete: Vec::new(),
            seeded: false,
            system: None,
        }
    }

    /// Ships until the task is dropped; failures back off and are recorded in the status.
    pub async fn run(mut self) {
        let mut backoff = self.cfg.interval;
        loop {
            match self.tick().await {
                Ok(()) => {
                    backoff = self.cfg.interval;
                    tokio::time::sleep(self.cfg.interval).await;
                }
                Err(e) => {
                    tracing::warn!(stack = %self.cfg.stack, category = e.category(), error = %e, "WAL shipping failed; the spool keeps everything and will retry");
                    self.update(|s| {
                        s.failures += 1;
                        s.failing_since.get_or_insert_with(Utc::now);
                        s.last_error = Some(e.to_string());
                    });
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF.max(self.cfg.interval));
                }
            }
        }
    }

    fn update(&self, f: impl FnOnce(&mut ShipStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    /// Once per shipper: what the store holds already (partials that newer uploads may
    /// supersede, complete segments that supersede partials of theirs).
    async fn seed(&mut self) -> Result<(), ProtectError> {
        if self.seeded {
            return Ok(());
        }
        // Another cluster's WAL of the same names (the stack before `down --volumes`)
        // is that cluster's to keep: never retired by this one's.
        let system = self.system;
        for o in wal::list(self.store.as_ref(), &self.cfg.stack)
            .await?
            .into_iter()
            .filter(|o| o.of_system(system))
        {
            match o.kind {
                WalKind::Partial(seg) => self.stale_partials.push((seg, o.key)),
                WalKind::Segment(seg) => self.complete.push(seg),
                WalKind::History(_) => {}
            }
        }
        self.seeded = true;
        Ok(())
    }

    /// Deletes the stale partials of segments the store now holds complete, or of which it
    /// holds the newer partial `shipped`; the others wait.
    async fn retire_covered(&mut self, shipped: Option<Segment>) -> Result<(), ProtectError> {
        let covered = |seg: &Segment| self.complete.contains(seg) || shipped == Some(*seg);
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.stale_partials)
            .into_iter()
            .partition(|(seg, _)| covered(seg));
        self.stale_partials = kept;
        for (_, key) in gone {
            self.store.delete(&key).await?;
        }
        Ok(())
    }

    /// One pass: everything complete in WAL order, then the partial if it changed.
    pub async fn tick(&mut self) -> Result<(), ProtectError> {
        // The pass makes the store hold what the spool had when it was scanned, not at the
        // pass's end: WAL written during the uploads is not covered yet.
        let scanned_at = Utc::now();
        let files = scan(&self.cfg.spool).await?;
        if let Some(system) = files.iter().rev().find_map(|f| f.system) {
            self.system = Some(system);
        }
        // What the store holds is sorted by cluster: known once a segment has told.
        if self.system.is_some() {
            self.seed().await?;
        }
        let (complete, partial): (Vec<SpoolFile>, Vec<SpoolFile>) = files
            .into_iter()
            .partition(|f| !matches!(f.kind, WalKind::Partial(_)));
        let partial = partial.into_iter().max_by_key(|f| f.kind);
        let partial_changed = partial.as_ref().is_some_and(|p| {
            self.last_partial
                .as_ref()
                .is_none_or(|(k, size, m, _)| (*k, *size, *m) != (p.kind, p.size, p.modified))
        });
        let waiting: u64 = complete.iter().map(|f| f.size).sum::<u64>()
            + if partial_changed {
                partial.as_ref().map_or(0, |p| p.size)
            } else {
                0
            };
        let alert = waiting > self.cfg.alert_bytes;
        self.update(|s| {
            s.spool_bytes = waiting;
            s.spool_alert = alert;
        });
        if alert {
            tracing::warn!(stack = %self.cfg.stack, bytes = waiting, threshold = self.cfg.alert_bytes, "WAL spool above its alert threshold");
        }

        let (store, cfg) = (self.store.clone(), self.cfg.clone());
        let uploads = futures::stream::iter(complete.into_iter().map(|f| {
            let store = store.clone();
            let cfg = cfg.clone();
            async move {
                let key = ship_complete(store.as_ref(), &cfg, &f).await?;
                Ok::<_, ProtectError>((f, key))
            }
        }))
        .buffered(self.cfg.parallel.max(1));
        futures::pin_mut!(uploads);
        let mut shipped_any = false;
        // Segments the store now holds complete, or holds a newer partial of.
        let mut shipped_partial: Option<Segment> = None;
        while let Some(done) = uploads.next().await {
            let (f, _key) = done?;
            // Stored first, then removed: a crash in between only re-ships the same bytes.
            if let Err(e) = tokio::fs::remove_file(&f.path).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(ProtectError::Io(format!("{}: {e}", f.path.display())));
                }
            }
            shipped_any = true;
            if let WalKind::Segment(seg) = f.kind {
                self.complete.push(seg);
            }
            self.update(|s| {
                s.files_shipped += 1;
                s.bytes_shipped += f.size;
                s.newest_shipped = Some(f.kind.file_name());
                s.newest_wal_at = Some(f.modified.into());
            });
        }
        if let Some(p) = partial.filter(|_| partial_changed) {
            let Some(key) = ship_partial(self.store.as_ref(), &self.cfg, &p).await? else {
                return Ok(());
            };
            self.stale_partials.retain(|(_, k)| k != &key);
            if let Some((kind, _, _, old)) = self.last_partial.take() {
                if let (true, WalKind::Partial(seg)) = (old != key, kind) {
                    self.stale_partials.push((seg, old));
                }
            }
            if let WalKind::Partial(seg) = p.kind {
                shipped_partial = Some(seg);
            }
            self.last_partial = Some((p.kind, p.size, p.modified, key));
            self.update(|s| {
                s.files_shipped += 1;
                s.newest_shipped = Some(p.kind.file_name());
                s.newest_wal_at = Some(p.modified.into());
            });
            shipped_any = true;
        }
        if shipped_any {
            self.retire_covered(shipped_partial).await?;
            // Only the open segment's partial can still turn stale.
            let open = self.last_partial.as_ref().map(|(kind, ..)| *kind);
            self.complete
                .retain(|seg| open == Some(WalKind::Partial(*seg)));
        }
        self.update(|s| {
            s.synced_at = Some(scanned_at);
            s.failing_since = None;
            s.last_error = None;
            s.spool_bytes = 0;
            s.spool_alert = false;
        });
        Ok(())
    }
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
async fn scan(spool: &Path) -> Result<Vec<SpoolFile>, ProtectError> {
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
async fn ship_complete<S: ObjectStore>(
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
async fn ship_partial<S: ObjectStore>(
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

/// Spool status persisted for `appstack status` (written by the daemon).
pub fn status_path(state_dir: &Path, stack: &str) -> PathBuf {
    state_dir.join("stacks").join(stack).join("wal-status.json")
}

/// Writes the status atomically.
pub fn save_status(path: &Path, status: &ShipStatus) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    let json = serde_json::to_vec_pretty(status).map_err(std::io::Error::other)?;
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

/// Reads a saved status; absent when the daemon never shipped.
pub fn load_status(path: &Path) -> Option<ShipStatus> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}
