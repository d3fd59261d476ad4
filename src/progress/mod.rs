//! Progress bars for the long steps (backups, restores): drawn on stderr only when it is a
//! terminal, so logs and tests see just the summary lines each step prints when it ends.

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub mod meter;

use meter::Meter;

/// A bar following a meter until `done`.
pub struct Bar {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl Bar {
    /// Bytes moved by `meter`, against `total` when it is known (else a spinner with the
    /// count and rate).
    pub fn bytes(label: &str, meter: &Meter, total: Option<u64>) -> Bar {
        let bar = new_bar(total);
        let style = match total {
            Some(_) => ProgressStyle::with_template(
                "{spinner} {msg:<24} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            ),
            None => ProgressStyle::with_template(
                "{spinner} {msg:<24} {bytes} {bytes_per_sec} {elapsed}",
            ),
        };
        if let Ok(style) = style {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(label.to_string());
        let ticker = {
            let (bar, meter) = (bar.clone(), meter.clone());
            tokio::spawn(async move {
                loop {
                    bar.set_position(meter.get());
                    tokio::time::sleep(Duration::from_millis(150)).await;
                }
            })
        };
        Bar { bar, ticker }
    }

    /// A step whose size is unknown: a spinner with the elapsed time.
    pub fn spinner(label: &str) -> Bar {
        let bar = new_bar(None);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
            bar.set_style(style);
        }
        bar.set_message(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(150));
        Bar {
            bar,
            ticker: tokio::spawn(async {}),
        }
    }

    pub fn set_message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    /// Removes the bar (the caller prints the step's summary line).
    pub fn done(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.ticker.abort();
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

fn new_bar(total: Option<u64>) -> ProgressBar {
    let bar = match total {
        Some(t) => ProgressBar::new(t),
        None => ProgressBar::new_spinner(),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar
}

/// Counts what flows through a byte stream.
pub fn metered<S, E>(stream: S, meter: &Meter) -> impl Stream<Item = Result<Bytes, E>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send,
{
    let meter = meter.clone();
    stream.inspect(move |chunk| {
        if let Ok(c) = chunk {
            meter.add(c.len() as u64);
        }
    })
}

/// Counts what flows through a channel (one extra hop; for streams fed by a task).
pub fn metered_channel(mut rx: mpsc::Receiver<Bytes>, meter: &Meter) -> mpsc::Receiver<Bytes> {
    let (tx, out) = mpsc::channel(2);
    let meter = meter.clone();
    tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            meter.add(chunk.len() as u64);
            if tx.send(chunk).await.is_err() {
                break;
            }
        }
    });
    out
}
