//! `appstack alert-test`: a synthetic alert posted to the stack's running Alertmanager,
//! followed to every receiver it is configured with — the alert log (read back from
//! appstack's own file) and the webhook (Alertmanager's notification counters and, on
//! failure, its own error line). Alertmanager has no such command (prometheus/alertmanager#2845).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::StreamExt;

use super::alert_log;
use super::http::request;
use crate::api::defaults::ALERTMANAGER_PORT;
use crate::api::validated::ValidatedStack;
use crate::docker::Engine;
use crate::plan::monitoring_config::WebhookKind;
use crate::plan::Plan;

/// The test alert's name: its own route delivers it at once (no group wait).
pub const TEST_ALERT: &str = "AppstackAlertTest";
const ANSWER: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AlertTestError {
    /// The stack has no Alertmanager to test.
    #[error("{0}")]
    NotConfigured(String),
    /// Alertmanager is not running, or does not answer.
    #[error("{0}")]
    Unreachable(String),
}

impl AlertTestError {
    pub fn category(&self) -> &'static str {
        match self {
            AlertTestError::NotConfigured(_) => "not_configured",
            AlertTestError::Unreachable(_) => "alertmanager_unreachable",
        }
    }
}

/// What one receiver did with the test alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub receiver: String,
    pub delivered: bool,
    pub detail: String,
    pub latency: Option<Duration>,
}

/// The test alert's id and where it went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: String,
    pub deliveries: Vec<Delivery>,
}

impl Outcome {
    /// Every configured receiver got it.
    pub fn all_delivered(&self) -> bool {
        !self.deliveries.is_empty() && self.deliveries.iter().all(|d| d.delivered)
    }
}

/// Alertmanager's notification *requests* (each attempt; `notifications_total` counts a
/// notification before its retries) and failed requests, by integration.
fn counters(metrics: &str) -> BTreeMap<(String, bool), f64> {
    let mut out = BTreeMap::new();
    for line in metrics.lines().filter(|l| !l.starts_with('#')) {
        let failed = line.starts_with("alertmanager_notification_requests_failed_total{");
        if !failed && !line.starts_with("alertmanager_notification_requests_total{") {
            continue;
        }
        let integration = line
            .split("integration=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default();
        let value = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        *out.entry((integration.to_string(), failed)).or_default() += value;
    }
    out
}

async fn metrics(addr: SocketAddr) -> Result<BTreeMap<(String, bool), f64>, AlertTestError> {
    let r = request(addr, "alertmanager", "GET", "/metrics", None, ANSWER)
        .await
        .map_err(|e| AlertTestError::Unreachable(format!("Alertmanager at {addr}: {e}")))?;
    Ok(counters(&r.body))
}

/// Alertmanager's last failed attempt mentioning `needle` since `since` (its reason, e.g. a
/// status code or a refused connection).
async fn last_error<E: Engine>(
    engine: &E,
    container: &str,
    needle: &str,
    since: chrono::DateTime<Utc>,
) -> Option<String> {
    let mut logs = engine.logs(container, false, Some(200));
    let mut found = None;
    while let Some(Ok(chunk)) = logs.next().await {
        for line in chunk.lines() {
            let at = line
                .strip_prefix("ts=")
                .and_then(|r| r.split_whitespace().next())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
            let recent = at.is_some_and(|t| t >= since);
            let failed =
                line.contains("Notify attempt failed") || line.contains("Notify for alerts failed");
            if recent && failed && line.contains(needle) {
                found = Some(
                    line.split("err=")
                        .nth(1)
                        .unwrap_or(line)
                        .trim_matches('"')
                        .replace("\\\"", "\""),
                );
            }
        }
    }
    found
}

/// Posts the test alert and follows it until every receiver reported or `wait` passed.
pub async fn run<E: Engine>(
    engine: &E,
    stack: &ValidatedStack,
    plan: &Plan,
    state_dir: &Path,
    wait: Duration,
) -> Result<Outcome, AlertTestError> {
    let Some(am) = &stack.monitoring.alertmanager else {
        return Err(AlertTestError::NotConfigured(format!(
            "stack {}: spec.monitoring.alertmanager is off: there is nothing to test",
            stack.name
        )));
    };
    let container = plan.object_name("alertmanager");
    let ip = engine
        .container_ip(&container)
        .await
        .ok()
        .flatten()
        .ok_or_else(|| {
            AlertTestError::Unreachable(format!(
                "{container} is not running: `appstack up -f` the stack first"
            ))
        })?;
    let addr = SocketAddr::new(ip, ALERTMANAGER_PORT);
    let before = metrics(addr).await?;
    let id = format!("{:016x}", rand::random::<u64>());
    let now = Utc::now();
    let alert = serde_json::json!([{
        "labels": {"alertname": TEST_ALERT, "severity": "info", "stack": stack.name, "test_id": id},
        "annotations": {"summary": format!("appstack alert-test {id}: a test, nothing is wrong")},
        "startsAt": now.to_rfc3339(),
        "endsAt": (now + chrono::Duration::minutes(2)).to_rfc3339(),
    }]);
    let started = Instant::now();
    let r = request(
        addr,
        "alertmanager",
        "POST",
        "/api/v2/alerts",
        Some(&alert.to_string()),
        ANSWER,
    )
    .await
    .map_err(|e| AlertTestError::Unreachable(format!("Alertmanager at {addr}: {e}")))?;
    if r.status / 100 != 2 {
        return Err(AlertTestError::Unreachable(format!(
            "Alertmanager refused the test alert: HTTP {} {}",
            r.status,
            r.body.trim()
        )));
    }
    let hook = am
        .webhook_url
        .as_ref()
        .map(|u| (u.clone(), WebhookKind::of(u)));
    let mut log: Option<Duration> = None;
    let mut hook_result: Option<Delivery> = None;
    while started.elapsed() < wait && (log.is_none() || (hook.is_some() && hook_result.is_none())) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if log.is_none()
            && alert_log::read(state_dir).iter().any(|l| {
                l.alerts
                    .iter()
                    .any(|a| a.labels.get("test_id").and_then(|v| v.as_str()) == Some(id.as_str()))
            })
        {
            log = Some(started.elapsed());
        }
        if let (Some((url, kind)), None) = (&hook, &hook_result) {
            hook_result =
                webhook_state(engine, &container, addr, &before, url, *kind, started, now).await;
        }
    }
    let mut deliveries = vec![Delivery {
        receiver: format!("alert log {}", alert_log::log_path(state_dir).display()),
        delivered: log.is_some(),
        detail: match log {
            Some(_) => "written by appstack run".into(),
            None => format!("not written within {}s: is `appstack run -f` running for this stack (it serves the log on the engine's host gateway)?", wait.as_secs()),
        },
        latency: log,
    }];
    if let Some((url, kind)) = &hook {
        deliveries.push(hook_result.unwrap_or_else(|| Delivery {
            receiver: receiver_name(url, *kind),
            delivered: false,
            detail: format!(
                "no answer from Alertmanager's {} integration within {}s",
                kind.integration(),
                wait.as_secs()
            ),
            latency: None,
        }));
    }
    Ok(Outcome { id, deliveries })
}

fn receiver_name(url: &str, kind: WebhookKind) -> String {
    // The URL's path of a Slack or Discord webhook is its secret: show the host only.
    let host = url
        .split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or(url);
    format!("{} webhook {host}", kind.integration())
}

/// The webhook's verdict once Alertmanager tried it: a failed attempt (with its reason;
/// Alertmanager keeps retrying) or a delivery (Alertmanager takes only 2xx as one).
#[allow(clippy::too_many_arguments)]
async fn webhook_state<E: Engine>(
    engine: &E,
    container: &str,
    addr: SocketAddr,
    before: &BTreeMap<(String, bool), f64>,
    url: &str,
    kind: WebhookKind,
    started: Instant,
    since: chrono::DateTime<Utc>,
) -> Option<Delivery> {
    let now = metrics(addr).await.ok()?;
    let integration = kind.integration().to_string();
    let delta = |failed: bool| {
        let key = (integration.clone(), failed);
        now.get(&key).copied().unwrap_or(0.0) - before.get(&key).copied().unwrap_or(0.0)
    };
    let receiver = receiver_name(url, kind);
    // The log receiver is a webhook too: the user's webhook is told apart by its address in
    // Alertmanager's error line, and a generic one is delivered once both requests were.
    let needle = match kind {
        WebhookKind::Generic => url
            .split("://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or(url)
            .to_string(),
        _ => format!("integration={integration}["),
    };
    if delta(true) > 0.0 {
        if let Some(why) = last_error(engine, container, &needle, since).await {
            return Some(Delivery {
                receiver,
                delivered: false,
                detail: why,
                latency: None,
            });
        }
    }
    let expected = if kind == WebhookKind::Generic {
        2.0
    } else {
        1.0
    };
    (delta(false) - delta(true) >= expected).then(|| Delivery {
        receiver,
        delivered: true,
        detail: "accepted (2xx)".into(),
        latency: Some(started.elapsed()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_counters_are_read_by_integration() {
        let m = "# HELP x\nalertmanager_notification_requests_total{integration=\"webhook\"} 3\nalertmanager_notification_requests_failed_total{integration=\"webhook\"} 1\nalertmanager_notification_requests_total{integration=\"slack\"} 0\nalertmanager_notifications_total{integration=\"webhook\"} 9\n";
        let c = counters(m);
        assert_eq!(c[&("webhook".to_string(), false)], 3.0);
        assert_eq!(c[&("webhook".to_string(), true)], 1.0);
        assert_eq!(c[&("slack".to_string(), false)], 0.0);
    }

    #[test]
    fn a_slack_url_is_shown_without_its_secret_path() {
        assert_eq!(
            receiver_name(
                "https://hooks.slack.com/services/T/B/secret",
                WebhookKind::Slack
            ),
            "slack webhook hooks.slack.com"
        );
    }
}
