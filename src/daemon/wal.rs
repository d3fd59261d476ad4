//! Continuous WAL shipping in `appstack run`: finds the spool volume the WAL receiver
//! writes into, drains it into the store, and publishes the shipper's state as metrics, a
//! status file for `appstack status`, and log lines when the WalShipping condition changes.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::api::ValidatedStack;
use crate::docker::Engine;
use crate::plan::names::volume_name;
use crate::plan::wal::WAL_SPOOL_VOLUME;
use crate::protect::shipper::{save_status, status_path, ShipStatus, Shipper, ShipperConfig};
use crate::telemetry::metrics::{Metrics, StackLabel};

use super::supervise::{supervise, supervised};

/// Segments uploaded at once while a backlog drains.
const PARALLEL: usize = 4;

/// Starts shipping for a stack that streams WAL; abort the handles when the spec changes.
pub fn spawn<E: Engine>(
    engine: Arc<E>,
    stack: &ValidatedStack,
    metrics: Arc<Metrics>,
    state_dir: &Path,
) -> Vec<JoinHandle<()>> {
    let name = stack.name.clone();
    let file = status_path(state_dir, &name);
    let spool = async move { spool_dir(engine.as_ref(), &name).await };
    match start(stack, metrics, Some(file), spool) {
        Ok(shipping) => shipping.handles,
        Err(e) => {
            error!(stack = %stack.name, "WAL shipping disabled: {e}");
            Vec::new()
        }
    }
}

/// A running shipper: its tasks and the state it keeps current.
#[derive(Default)]
pub struct Shipping {
    pub handles: Vec<JoinHandle<()>>,
    pub status: Arc<Mutex<ShipStatus>>,
}

/// Drains the spool `spool` resolves to into the stack's store, publishing the state as
/// metrics, condition log lines and (when `file` is set) the status file. Nothing when the
/// stack does not stream WAL; an error when its store or key cannot be opened.
pub fn start(
    stack: &ValidatedStack,
    metrics: Arc<Metrics>,
    file: Option<PathBuf>,
    spool: impl Future<Output = PathBuf> + Send + 'static,
) -> Result<Shipping, String> {
    let (Some(b), Some(plan)) = (stack.backup.as_ref(), crate::plan::build(stack).wal_shipper)
    else {
        return Ok(Shipping::default());
    };
    let store = Arc::new(crate::protect::store::open_store(stack).map_err(|e| e.to_string())?);
    let key = crate::protect::store::spec_key(stack).map_err(|e| e.to_string())?;
    let name = stack.name.clone();
    let interval = plan.interval();
    let alert_bytes = plan.alert_bytes;
    let level = b.compression_level;
    let status = Arc::new(Mutex::new(ShipStatus::default()));
    let shipper = {
        let status = status.clone();
        let name = name.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let spool = spool.await;
            info!(stack = %name, spool = %spool.display(), "WAL shipping active");
            let cfg = ShipperConfig {
                stack: name.clone(),
                spool,
                interval,
                compression_level: level,
                key,
                alert_bytes,
                parallel: PARALLEL,
            };
            supervise(&name, "wal-shipper", metrics, || {
                Shipper::new(store.clone(), cfg.clone(), status.clone()).run()
            })
            .await;
        })
    };
    let publisher = {
        let (name, status) = (name.clone(), status.clone());
        supervised(&name.clone(), "wal-status", metrics.clone(), move || {
            publish(
                name.clone(),
                status.clone(),
                metrics.clone(),
                file.clone(),
                interval,
            )
        })
    };
    Ok(Shipping {
        handles: vec![shipper, publisher],
        status,
    })
}

/// The spool's directory on this host; waits until the volume exists (the first
/// reconcile creates it).
async fn spool_dir<E: Engine>(engine: &E, stack: &str) -> PathBuf {
    let volume = volume_name(stack, WAL_SPOOL_VOLUME);
    let mut logged = false;
    loop {
        match engine.volume_mountpoint(&volume).await {
            Ok(path) if Path::new(&path).is_dir() => return PathBuf::from(path),
            Ok(path) if !logged => {
                error!(stack, volume, path, "the WAL spool is not readable here: run appstack on the Docker host, as a user that can read the engine's volumes");
                logged = true;
            }
            Err(e) if !logged => {
                warn!(stack, volume, "waiting for the WAL spool volume: {e}");
                logged = true;
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Mirrors the shipper's status into metrics and the status file, once per interval.
async fn publish(
    stack: String,
    status: Arc<Mutex<ShipStatus>>,
    metrics: Arc<Metrics>,
    file: Option<PathBuf>,
    interval: Duration,
) {
    let label = StackLabel {
        stack: stack.clone(),
    };
    let (mut failures, mut files) = (0u64, 0u64);
    let mut was_ok: Option<bool> = None;
    let mut tick = tokio::time::interval(interval.min(Duration::from_secs(1)));
    loop {
        tick.tick().await;
        let s = match status.lock() {
            Ok(s) => s.clone(),
            Err(_) => return,
        };
        let m = &metrics.wal;
        if let Some(t) = s.synced_at {
            m.synced.get_or_create(&label).set(t.timestamp());
        }
        if let Some(rpo) = s.rpo_estimate(Utc::now()) {
            m.rpo_seconds
                .get_or_create(&label)
                .set(i64::try_from(rpo.as_secs()).unwrap_or(i64::MAX));
        }
        m.spool_bytes
            .get_or_create(&label)
            .set(i64::try_from(s.spool_bytes).unwrap_or(i64::MAX));
        m.spool_alert
            .get_or_create(&label)
            .set(i64::from(s.spool_alert));
        let ok = s.failing_since.is_none();
        m.shipping_ok.get_or_create(&label).set(i64::from(ok));
        m.failures
            .get_or_create(&label)
            .inc_by(s.failures.saturating_sub(failures));
        m.files
            .get_or_create(&label)
            .inc_by(s.files_shipped.saturating_sub(files));
        (failures, files) = (s.failures, s.files_shipped);
        if was_ok != Some(ok) && (was_ok.is_some() || !ok) {
            if ok {
                info!(
                    stack,
                    "condition WalShipping=True: the store holds all WAL again"
                );
            } else {
                error!(stack, since = ?s.failing_since, error = s.last_error.as_deref().unwrap_or(""), "condition WalShipping=False: WAL is spooled locally until the store answers");
            }
        }
        was_ok = Some(ok);
        if let Some(file) = &file {
            if let Err(e) = save_status(file, &s) {
                warn!(stack, "cannot write {}: {e}", file.display());
            }
        }
    }
}
