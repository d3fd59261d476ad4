//! Scheduled DR drills in `appstack run`. A drill runs as a child `appstack drill`
//! process: it restores gigabytes and boots a whole copy, none of which belongs in the
//! long-lived daemon's memory, and a drill cut short by a spec change finishes on its own
//! rather than leaving a half-made copy. The verdict is read back from the report in the
//! store and exported as metrics.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::api::ValidatedStack;
use crate::docker::VolumeIo;
use crate::drill::Report;
use crate::protect::schedule::Cadence;
use crate::protect::target::AnyStore;
use crate::telemetry::metrics::{Metrics, StackLabel};

/// How often a waiting schedule re-evaluates "missing".
const CHECK: Duration = Duration::from_secs(30);
/// How often the newest report is re-read, so drills run by hand show up too.
const REFRESH: Duration = Duration::from_secs(300);
/// Beyond the RTO, what a drill may take (markers, teardown) before it is stopped.
const SLACK: Duration = Duration::from_secs(crate::plan::DRILL_SLACK_SECS);

/// Starts the drill schedule of a stack, when it has one (and a database and backups).
pub fn spawn(
    stack: &ValidatedStack,
    file: &Path,
    state_dir: &Path,
    volume_io: VolumeIo,
    metrics: Arc<Metrics>,
) -> Option<JoinHandle<()>> {
    stack.database.as_ref()?;
    stack.backup.as_ref()?;
    let expr = stack.recovery.drill_schedule.as_deref()?;
    let cadence = Cadence::new(expr)?;
    let store = match crate::protect::store::open_store(stack) {
        Ok(s) => s,
        Err(e) => {
            error!(stack = %stack.name, "scheduled drills disabled: {e}");
            return None;
        }
    };
    let task = Drills {
        stack: stack.name.clone(),
        file: file.to_path_buf(),
        state_dir: state_dir.to_path_buf(),
        timeout: stack.recovery.rto + SLACK,
        volume_io,
        store,
        metrics,
    };
    let task = Arc::new(task);
    let stack_name = stack.name.clone();
    Some(super::supervise::supervised(
        &stack_name,
        "drill",
        task.metrics.clone(),
        move || task.clone().run(cadence.clone()),
    ))
}

struct Drills {
    stack: String,
    file: PathBuf,
    state_dir: PathBuf,
    timeout: Duration,
    /// The daemon's own `--volume-io`, which the child must follow too.
    volume_io: VolumeIo,
    store: AnyStore,
    metrics: Arc<Metrics>,
}

impl Drills {
    async fn run(self: Arc<Self>, cadence: Cadence) {
        let label = StackLabel {
            stack: self.stack.clone(),
        };
        info!(stack = self.stack, schedule = %cadence.expression, "drill schedule active");
        let mut last = self.publish().await;
        let mut published = tokio::time::Instant::now();
        let watching_since = Utc::now();
        loop {
            let Some(next) = cadence.next_after(Utc::now()) else {
                error!(stack = self.stack, schedule = %cadence.expression, "the drill schedule has no next time: no more scheduled drills");
                return;
            };
            while Utc::now() < next {
                if published.elapsed() >= REFRESH {
                    if let Some(t) = self.publish().await {
                        last = last.max(Some(t));
                    }
                    published = tokio::time::Instant::now();
                }
                let since = last.unwrap_or(watching_since);
                let missing = cadence.missing(since, Utc::now());
                self.metrics
                    .drill
                    .missing
                    .get_or_create(&label)
                    .set(i64::from(missing));
                let left = (next - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(left.min(CHECK)).await;
            }
            match self.once().await {
                Ok(()) => info!(stack = self.stack, "scheduled drill passed"),
                Err(message) => {
                    self.metrics.drill.failures.get_or_create(&label).inc();
                    error!(stack = self.stack, "scheduled drill FAILED: {message}");
                }
            }
            if let Some(t) = self.publish().await {
                last = last.max(Some(t));
            }
            published = tokio::time::Instant::now();
        }
    }

    /// Runs one drill as a child process; its last line of output says why it failed.
    async fn once(&self) -> Result<(), String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find appstack: {e}"))?;
        let mut child = tokio::process::Command::new(exe)
            .arg("--state-dir")
            .arg(&self.state_dir)
            .arg("--volume-io")
            .arg(match self.volume_io {
                VolumeIo::Auto => "auto",
                VolumeIo::Engine => "engine",
            })
            .arg("drill")
            .arg("-f")
            .arg(&self.file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(false)
            .spawn()
            .map_err(|e| format!("cannot start the drill: {e}"))?;
        let stderr = child.stderr.take();
        let tail = async {
            let mut last = String::new();
            if let Some(err) = stderr {
                let mut lines = BufReader::new(err).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    if !line.trim().is_empty() {
                        last = line;
                    }
                }
            }
            last
        };
        let waited = tokio::time::timeout(self.timeout, async {
            let (status, last) = tokio::join!(child.wait(), tail);
            (status, last)
        })
        .await;
        match waited {
            Ok((Ok(status), _)) if status.success() => Ok(()),
            Ok((Ok(status), last)) => Err(format!("{status}: {last}")),
            Ok((Err(e), _)) => Err(format!("waiting for the drill: {e}")),
            Err(_) => {
                let _ = child.kill().await;
                Err(format!(
                    "the drill did not finish within {}s (RTO plus {}s); stopped",
                    self.timeout.as_secs(),
                    SLACK.as_secs()
                ))
            }
        }
    }

    /// Exports the newest report's verdict; returns when that drill passed.
    async fn publish(&self) -> Option<chrono::DateTime<Utc>> {
        let report = match Report::latest(&self.store, &self.stack).await {
            Ok(r) => r?,
            Err(e) => {
                warn!(stack = self.stack, "cannot read drill reports: {e}");
                return None;
            }
        };
        let label = StackLabel {
            stack: self.stack.clone(),
        };
        let m = &self.metrics.drill;
        m.passed.get_or_create(&label).set(i64::from(report.passed));
        m.last_timestamp
            .get_or_create(&label)
            .set(report.finished_at.timestamp());
        if let Some(v) = report.rto_seconds {
            m.rto_seconds.get_or_create(&label).set(v);
        }
        if let Some(v) = report.rpo_seconds {
            m.rpo_seconds.get_or_create(&label).set(v);
        }
        report.passed.then_some(report.finished_at)
    }
}
