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

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::crypto::Key;
use super::error::ProtectError;
use super::spool::{scan, ship_complete, ship_partial, SpoolFile};
use super::store::ObjectStore;
use super::wal::{self, Segment, WalKind};

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
