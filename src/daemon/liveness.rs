//! `appstack run`'s heartbeat per stack: `<state>/stacks/<name>/daemon.json`, rewritten every
//! BEAT. `status` reads it, so a daemon that died cannot leave "WAL shipping: ok" behind: a
//! heartbeat older than two beats (and a margin) makes the stack `DaemonSilent`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How often the daemon says it is alive.
pub const BEAT: Duration = Duration::from_secs(5);
/// Silent after two missed beats (and a second's margin for a busy host).
pub const SILENT_AFTER: Duration = Duration::from_secs(11);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    pub at: DateTime<Utc>,
    pub pid: u32,
    pub version: String,
}

pub fn path(state_dir: &Path, stack: &str) -> PathBuf {
    state_dir.join("stacks").join(stack).join("daemon.json")
}

pub fn read(state_dir: &Path, stack: &str) -> Option<Heartbeat> {
    serde_json::from_slice(&std::fs::read(path(state_dir, stack)).ok()?).ok()
}

/// Writes one beat atomically (a reader never sees half a file).
pub fn beat(state_dir: &Path, stack: &str) -> std::io::Result<()> {
    let p = path(state_dir, stack);
    if let Some(dir) = p.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let hb = Heartbeat {
        at: Utc::now(),
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let tmp = p.with_extension("json.tmp");
    std::fs::write(
        &tmp,
        serde_json::to_vec(&hb).map_err(std::io::Error::other)?,
    )?;
    std::fs::rename(tmp, p)
}

/// Beats for `stacks` until the process ends.
pub async fn run(state_dir: PathBuf, stacks: Vec<String>) {
    let mut tick = tokio::time::interval(BEAT);
    loop {
        tick.tick().await;
        for s in &stacks {
            if let Err(e) = beat(&state_dir, s) {
                tracing::warn!(stack = %s, error = %e, "could not write the daemon heartbeat");
            }
        }
    }
}

/// How long the daemon of `stack` has been silent; None while it beats.
pub fn silence(state_dir: &Path, stack: &str, now: DateTime<Utc>) -> Option<String> {
    match read(state_dir, stack) {
        None => Some("no `appstack run` has reported for this stack".into()),
        Some(hb) => {
            let age = (now - hb.at).to_std().unwrap_or_default();
            (age > SILENT_AFTER).then(|| {
                format!(
                    "`appstack run` (pid {}) last reported {}s ago, at {}",
                    hb.pid,
                    age.as_secs(),
                    hb.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_once_two_beats_are_missed() {
        let dir = tempfile::tempdir().unwrap();
        assert!(silence(dir.path(), "s", Utc::now()).is_some(), "never beat");
        beat(dir.path(), "s").unwrap();
        let at = read(dir.path(), "s").unwrap().at;
        let after = |s: i64| at + chrono::Duration::seconds(s);
        assert_eq!(silence(dir.path(), "s", after(9)), None, "one beat late");
        let two_missed = after(2 * BEAT.as_secs() as i64 + 2);
        let why = silence(dir.path(), "s", two_missed).unwrap();
        assert!(why.contains("last reported 12s ago"), "{why}");
    }
}
