//! The daemon's background tasks (backup schedules, WAL shipping, the database heartbeat,
//! drills) outlive a bug: a panic in one is caught, logged with its message, counted in
//! `appstack_task_panics_total{stack,task}` (an alert's input) and the task starts afresh
//! after a pause, instead of that kind of work stopping silently for good.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::task::JoinHandle;
use tracing::error;

use crate::telemetry::metrics::{Metrics, TaskLabels};

/// The pause before a panicked task starts again: a task that panics at once does not spin.
const RESTART_PAUSE: Duration = Duration::from_secs(5);

/// Spawns `make()`'s task and restarts it after every panic. It ends when a run ends by
/// itself; aborting the handle stops the current run too.
pub fn supervised<F, Fut>(stack: &str, task: &str, metrics: Arc<Metrics>, make: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    supervised_with_pause(stack, task, metrics, make, RESTART_PAUSE)
}

fn supervised_with_pause<F, Fut>(
    stack: &str,
    task: &str,
    metrics: Arc<Metrics>,
    make: F,
    pause: Duration,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let labels = TaskLabels {
        stack: stack.to_string(),
        task: task.to_string(),
    };
    tokio::spawn(restarting(labels, metrics, make, pause))
}

/// [`supervised`] inside a task that is already running (one that first waits for
/// something, like the WAL spool).
pub async fn supervise<F, Fut>(stack: &str, task: &str, metrics: Arc<Metrics>, make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    let labels = TaskLabels {
        stack: stack.to_string(),
        task: task.to_string(),
    };
    restarting(labels, metrics, make, RESTART_PAUSE).await
}

async fn restarting<F, Fut>(labels: TaskLabels, metrics: Arc<Metrics>, make: F, pause: Duration)
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        // The run's state is dropped with the panic; nothing of it is reused.
        let Err(payload) = AssertUnwindSafe(make()).catch_unwind().await else {
            return;
        };
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-text panic".into());
        metrics.task_panics.get_or_create(&labels).inc();
        error!(
            stack = %labels.stack,
            task = %labels.task,
            "task panicked: {message}; restarting it in {}s",
            pause.as_secs()
        );
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A panic injected into the first run: counted, logged, and the task runs again.
    #[tokio::test]
    async fn a_panicking_task_is_counted_and_restarted() {
        let metrics = Arc::new(Metrics::new());
        let runs = Arc::new(AtomicU32::new(0));
        let counter = runs.clone();
        let handle = supervised_with_pause(
            "shop",
            "backup-base",
            metrics.clone(),
            move || {
                let counter = counter.clone();
                async move {
                    if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                        let v: Vec<u32> = Vec::new();
                        let _ = v[usize::from(v.is_empty())];
                    }
                }
            },
            Duration::from_millis(10),
        );
        tokio::time::timeout(Duration::from_secs(5), handle)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        let text = metrics.encode();
        assert!(
            text.contains("appstack_task_panics_total{stack=\"shop\",task=\"backup-base\"} 1"),
            "{text}"
        );
    }

    /// Aborting the handle stops the run it supervises.
    #[tokio::test]
    async fn aborting_stops_the_current_run() {
        let metrics = Arc::new(Metrics::new());
        let alive = Arc::new(AtomicU32::new(0));
        let seen = alive.clone();
        let handle = supervised("shop", "wal", metrics, move || {
            let seen = seen.clone();
            async move {
                loop {
                    seen.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        handle.abort();
        let _ = handle.await;
        let at_abort = alive.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(alive.load(Ordering::SeqCst), at_abort);
    }
}
