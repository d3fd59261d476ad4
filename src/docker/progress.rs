//! Progress of an apply, for a person at a terminal or for the daemon's log.

use std::io::IsTerminal;
use std::time::Instant;

/// Receives progress lines of an apply.
pub trait Reporter: Send + Sync {
    fn report(&self, component: &str, message: &str);
}

/// One line per event on stderr, with the time since the start.
pub struct Lines {
    start: Instant,
    color: bool,
}

impl Lines {
    pub fn new() -> Self {
        Self {
            start: Instant::now(),
            color: std::io::stderr().is_terminal(),
        }
    }
}

impl Default for Lines {
    fn default() -> Self {
        Self::new()
    }
}

impl Reporter for Lines {
    fn report(&self, component: &str, message: &str) {
        let t = self.start.elapsed().as_secs_f64();
        if self.color {
            eprintln!("\x1b[2m[{t:6.2}s]\x1b[0m \x1b[1m{component:<14}\x1b[0m {message}");
        } else {
            eprintln!("[{t:6.2}s] {component:<14} {message}");
        }
    }
}

/// Progress into the tracing log (daemon mode).
pub struct Log;

impl Reporter for Log {
    fn report(&self, component: &str, message: &str) {
        tracing::info!(component, "{message}");
    }
}

/// No progress at all.
pub struct Silent;

impl Reporter for Silent {
    fn report(&self, _component: &str, _message: &str) {}
}
