//! The heartbeat: `appstack run` commits a row with its time into the stack's database
//! every [`INTERVAL`] (`appstack.heartbeat`, a week kept). An idle database then still has
//! a commit every few seconds for WAL to carry, and the history has reference points: a
//! restore to any time T must hold the heartbeats up to T and none after it, which is how
//! `appstack drill --to random` checks a random point in time.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::api::ValidatedStack;
use crate::docker::Engine;
use crate::protect::backup::psql_argv;
use crate::protect::runner::{capture, DockerRunner};
use crate::telemetry::metrics::Metrics;

use super::supervise::supervised;

/// How often a heartbeat row is committed.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Creates the table once; the row's time is the commit's (near enough: its insert).
const PREPARE: [&str; 2] = [
    "CREATE SCHEMA IF NOT EXISTS appstack",
    "CREATE TABLE IF NOT EXISTS appstack.heartbeat (at timestamptz PRIMARY KEY DEFAULT clock_timestamp())",
];
const BEAT: &str = "INSERT INTO appstack.heartbeat DEFAULT VALUES";
const TRIM: &str = "DELETE FROM appstack.heartbeat WHERE at < now() - interval '7 days'";
/// Beats between two trims (about an hour).
const TRIM_EVERY: u32 = 360;

/// Starts the heartbeat of a stack with a database and backups (restarted after a panic).
pub fn spawn<E: Engine>(
    engine: Arc<E>,
    stack: &ValidatedStack,
    state_dir: &std::path::Path,
    metrics: Arc<Metrics>,
) -> Option<JoinHandle<()>> {
    let db = stack.database.as_ref()?;
    stack.backup.as_ref()?;
    let beat = Arc::new(Beat {
        runner: DockerRunner {
            engine,
            stack: stack.name.clone(),
        },
        user: db.user.clone(),
        database: db.name.clone(),
        stack: stack.name.clone(),
        state_dir: state_dir.to_path_buf(),
    });
    Some(supervised(&stack.name, "heartbeat", metrics, move || {
        beat.clone().run()
    }))
}

struct Beat<E: Engine> {
    runner: DockerRunner<E>,
    user: String,
    database: String,
    stack: String,
    state_dir: std::path::PathBuf,
}

impl<E: Engine> Beat<E> {
    async fn run(self: Arc<Self>) {
        let psql = |sql: &str| psql_argv(&self.user, &self.database, &[sql]);
        let stack = &self.stack;
        let mut ready = false;
        let mut beats = 0u32;
        loop {
            tokio::time::sleep(INTERVAL).await;
            // An in-place restore owns the database until it finishes.
            if crate::maintenance::active(&self.state_dir, stack) {
                continue;
            }
            if !ready {
                ready = prepare(&self.runner, &psql).await;
                if !ready {
                    continue;
                }
            }
            match capture(&self.runner, "database", psql(BEAT)).await {
                Ok(_) => debug!(stack, "heartbeat"),
                // A restarting database: the next beat tries again.
                Err(e) => warn!(stack, "heartbeat not written: {e}"),
            }
            beats += 1;
            if beats.is_multiple_of(TRIM_EVERY) {
                let _ = capture(&self.runner, "database", psql(TRIM)).await;
            }
        }
    }
}

async fn prepare<E: Engine>(
    runner: &DockerRunner<E>,
    psql: &(dyn Fn(&str) -> Vec<String> + Sync),
) -> bool {
    for sql in PREPARE {
        if capture(runner, "database", psql(sql)).await.is_err() {
            return false;
        }
    }
    true
}
