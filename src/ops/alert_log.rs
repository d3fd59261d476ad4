//! The alert log receiver: every notification Alertmanager sends (firing or resolved) as
//! one JSON line in `<state-dir>/alerts/ops-alerts.log`, rotated by size. It is the default
//! route, so no alert goes nowhere even without a webhook.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Rotate when the log passes this size; keep this many old files.
const ROTATE_BYTES: u64 = 10 << 20;
const KEEP_ROTATED: u32 = 3;
/// Alertmanager's notifications are small; anything larger is not one of them.
pub const MAX_BODY: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AlertLogError {
    #[error("not an Alertmanager webhook notification: {0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl AlertLogError {
    pub fn category(&self) -> &'static str {
        match self {
            AlertLogError::Invalid(_) => "alert_invalid",
            AlertLogError::Io { .. } => "alert_log_io",
        }
    }
}

/// One alert of a notification, as the log keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LoggedAlert {
    pub alertname: String,
    pub status: String,
    #[serde(default)]
    pub severity: String,
    #[serde(default)]
    pub instance: String,
    #[serde(default)]
    pub summary: String,
    #[serde(rename = "startsAt", default)]
    pub starts_at: String,
    #[serde(rename = "endsAt", default)]
    pub ends_at: String,
    /// Every label, for a test alert's id or a grep.
    #[serde(default)]
    pub labels: serde_json::Map<String, Value>,
}

/// One line of the log: one notification.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LogLine {
    /// When appstack received it (RFC 3339).
    pub received: String,
    pub stack: String,
    pub receiver: String,
    pub status: String,
    #[serde(rename = "groupKey", default)]
    pub group_key: String,
    pub alerts: Vec<LoggedAlert>,
}

/// The log file of a state directory.
pub fn log_path(state_dir: &Path) -> PathBuf {
    state_dir.join("alerts").join("ops-alerts.log")
}

/// Appends notifications to the log, one writer at a time.
pub struct AlertLog {
    path: PathBuf,
    lock: Mutex<()>,
}

fn label(labels: &serde_json::Map<String, Value>, key: &str) -> String {
    labels
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// Alertmanager's webhook body (version 4) → the log line.
pub fn parse(stack: &str, body: &[u8]) -> Result<LogLine, AlertLogError> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| AlertLogError::Invalid(e.to_string()))?;
    let alerts = v["alerts"]
        .as_array()
        .ok_or_else(|| AlertLogError::Invalid("no \"alerts\" list".into()))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let alerts = alerts
        .iter()
        .map(|a| {
            let labels = a["labels"].as_object().cloned().unwrap_or_default();
            LoggedAlert {
                alertname: label(&labels, "alertname"),
                status: text(&a["status"]),
                severity: label(&labels, "severity"),
                instance: label(&labels, "instance"),
                summary: text(&a["annotations"]["summary"]),
                starts_at: text(&a["startsAt"]),
                ends_at: text(&a["endsAt"]),
                labels,
            }
        })
        .collect();
    Ok(LogLine {
        received: Utc::now().to_rfc3339(),
        stack: stack.to_string(),
        receiver: text(&v["receiver"]),
        status: text(&v["status"]),
        group_key: text(&v["groupKey"]),
        alerts,
    })
}

impl AlertLog {
    pub fn new(state_dir: &Path) -> Self {
        AlertLog {
            path: log_path(state_dir),
            lock: Mutex::new(()),
        }
    }

    fn io(&self, source: std::io::Error) -> AlertLogError {
        AlertLogError::Io {
            path: self.path.clone(),
            source,
        }
    }

    /// Records one notification for `stack`; returns the line written.
    pub fn record(&self, stack: &str, body: &[u8]) -> Result<LogLine, AlertLogError> {
        let line = parse(stack, body)?;
        let mut text =
            serde_json::to_string(&line).map_err(|e| AlertLogError::Invalid(e.to_string()))?;
        text.push('\n');
        // A poisoned lock only means another write panicked; the file is still fine.
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(dir) = self.path.parent() {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| self.io(e))?;
        }
        self.rotate().map_err(|e| self.io(e))?;
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|e| self.io(e))?;
        f.write_all(text.as_bytes()).map_err(|e| self.io(e))?;
        Ok(line)
    }

    /// `ops-alerts.log` → `.1` → `.2` … once it passes the size limit.
    fn rotate(&self) -> std::io::Result<()> {
        match fs::metadata(&self.path) {
            Ok(m) if m.len() >= ROTATE_BYTES => {}
            _ => return Ok(()),
        }
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", self.path.display()));
        for n in (1..KEEP_ROTATED).rev() {
            if numbered(n).exists() {
                fs::rename(numbered(n), numbered(n + 1))?;
            }
        }
        fs::rename(&self.path, numbered(1))
    }
}

/// The log's lines (the current file only), oldest first; unreadable lines are skipped.
pub fn read(state_dir: &Path) -> Vec<LogLine> {
    fs::read_to_string(log_path(state_dir))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"version":"4","groupKey":"{}:{alertname=\"SiteDown\"}","status":"firing","receiver":"default","groupLabels":{},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093","alerts":[{"status":"firing","labels":{"alertname":"SiteDown","instance":"http://web:3000/","severity":"critical"},"annotations":{"summary":"web down"},"startsAt":"2026-12-02T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":"ab"}]}"#;

    #[test]
    fn a_notification_becomes_one_private_line() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::new(dir.path());
        log.record("shop", BODY.as_bytes()).unwrap();
        log.record("shop", BODY.as_bytes()).unwrap();
        let lines = read(dir.path());
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].stack, "shop");
        assert_eq!(lines[0].alerts[0].alertname, "SiteDown");
        assert_eq!(lines[0].alerts[0].summary, "web down");
        let mode = fs::metadata(log_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_body_that_is_not_a_notification_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::new(dir.path());
        assert!(log.record("shop", b"{\"x\":1}").is_err());
        assert!(log.record("shop", b"not json").is_err());
        assert!(read(dir.path()).is_empty());
    }

    #[test]
    fn a_full_log_is_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let log = AlertLog::new(dir.path());
        fs::create_dir_all(dir.path().join("alerts")).unwrap();
        fs::write(log_path(dir.path()), vec![b'x'; ROTATE_BYTES as usize]).unwrap();
        log.record("shop", BODY.as_bytes()).unwrap();
        assert_eq!(read(dir.path()).len(), 1);
        assert!(dir.path().join("alerts/ops-alerts.log.1").exists());
    }
}
