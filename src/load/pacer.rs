//! The open model's pacer: requests released at fixed intervals to the workers of one
//! thread, each stamped with when it went out.
//!
//! It runs on a blocking thread, not as a task: the runtime's timer fires on millisecond
//! ticks, which at several hundred requests/s releases requests in pairs on one tick and
//! the second waits behind the first; a thread's sleep is precise to tens of microseconds.
//! Its clock starts once every worker has said it is ready (its connections open), so
//! neither the connects nor the runtime's start count as the server's latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Mutex;

/// The longest the pacer sleeps before it looks whether the run is still on.
const SLICE: Duration = Duration::from_millis(50);

/// What the workers of one thread share: the releases, and how each says it is ready.
#[derive(Clone)]
pub struct Feed {
    releases: Arc<Mutex<UnboundedReceiver<Instant>>>,
    ready: std::sync::mpsc::Sender<()>,
    stop_at: Instant,
}

impl Feed {
    /// Starts a pacer releasing `rate` requests/s once `workers` workers are ready, until
    /// `stop_at` or until `claim` (which takes one request from the run's bound) says the
    /// bound is spent.
    pub fn start(
        rate: f64,
        workers: u32,
        stop_at: Instant,
        claim: impl Fn() -> bool + Send + 'static,
    ) -> Feed {
        let (tx, rx) = unbounded_channel();
        let (ready, readies) = std::sync::mpsc::channel();
        tokio::task::spawn_blocking(move || {
            // A worker that cannot say so (a connect that hangs) holds the run up no longer
            // than the run lasts.
            for _ in 0..workers {
                let left = stop_at.saturating_duration_since(Instant::now());
                if readies.recv_timeout(left).is_err() {
                    break;
                }
            }
            release(&tx, rate, stop_at, claim);
        });
        Feed {
            releases: Arc::new(Mutex::new(rx)),
            ready,
            stop_at,
        }
    }

    /// Tells the pacer this worker can take requests.
    pub fn ready(&self) {
        // The pacer gone (the run over) leaves nothing to tell.
        let _ = self.ready.send(());
    }

    /// The next release's stamp; None when the run is over.
    pub async fn next(&self) -> Option<Instant> {
        let stamp = self.releases.lock().await.recv().await?;
        (Instant::now() < self.stop_at).then_some(stamp)
    }
}

/// Releases requests at `rate`, each stamped with when it was released: a wake-up later
/// than due is the generator's own scheduling, neither the server's latency nor queueing,
/// so the stamp is the later of when it was due and when it went out.
fn release(tx: &UnboundedSender<Instant>, rate: f64, stop_at: Instant, claim: impl Fn() -> bool) {
    let start = Instant::now();
    for i in 0u64.. {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due >= stop_at || !claim() {
            return;
        }
        // Slept in slices, so a run whose workers are done (request bound) does not keep
        // this thread through a long interval of a slow rate.
        loop {
            let now = Instant::now();
            if due <= now || tx.is_closed() {
                break;
            }
            std::thread::sleep((due - now).min(SLICE));
        }
        if tx.send(Instant::now().max(due)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[tokio::test]
    async fn releases_wait_for_every_worker_and_stop_at_the_bound() {
        let left = Arc::new(AtomicU64::new(5));
        let l = left.clone();
        let claim = move || {
            l.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        };
        let stop_at = Instant::now() + Duration::from_secs(5);
        let feed = Feed::start(1000.0, 2, stop_at, claim);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // One of two workers ready: nothing is released yet.
        feed.ready();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(left.load(Ordering::Relaxed), 5);
        let clock = Instant::now();
        feed.ready();
        let mut stamps = Vec::new();
        while let Some(s) = feed.next().await {
            stamps.push(s);
        }
        assert_eq!(stamps.len(), 5);
        assert!(stamps[0] >= clock, "released before the workers were ready");
        assert!(stamps.windows(2).all(|w| w[1] > w[0]));
    }
}
