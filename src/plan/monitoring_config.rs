//! The monitoring components' configuration files: prometheus.yml (what is scraped and
//! probed), blackbox.yml, the PostgreSQL exporter's extra query and alertmanager.yml (where
//! notifications go, and how often).

use serde_json::{json, Value};

use crate::api::validated::{Alertmanager, Prometheus};

/// A scrape job of prometheus.yml.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// `host:port` scraped at `path`.
    Metrics {
        job: String,
        target: String,
        path: String,
    },
    /// HTTP health URLs probed through the blackbox exporter at `exporter` (`host:port`):
    /// each URL becomes the `instance` of its `probe_success`.
    Probe { exporter: String, urls: Vec<String> },
    /// appstack's own endpoint, keeping only this stack's series (one daemon may serve
    /// several stacks).
    Appstack { target: String, stack: String },
}

fn job_yaml(j: &Job) -> Value {
    match j {
        Job::Metrics { job, target, path } => json!({
            "job_name": job,
            "metrics_path": path,
            "static_configs": [{"targets": [target]}],
        }),
        Job::Probe { exporter, urls } => json!({
            "job_name": "blackbox",
            "metrics_path": "/probe",
            "params": {"module": ["http_2xx"]},
            "static_configs": [{"targets": urls}],
            "relabel_configs": [
                {"source_labels": ["__address__"], "target_label": "__param_target"},
                {"source_labels": ["__param_target"], "target_label": "instance"},
                {"target_label": "__address__", "replacement": exporter},
            ],
        }),
        Job::Appstack { target, stack } => json!({
            "job_name": "appstack",
            "metrics_path": "/metrics",
            "static_configs": [{"targets": [target]}],
            "metric_relabel_configs": [
                {"source_labels": ["stack"], "regex": format!("|{}", regex_escape(stack)), "action": "keep"},
            ],
        }),
    }
}

/// Stack names are DNS labels; a dot or dash needs no escape, but keep it exact anyway.
fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                vec![c]
            } else {
                vec!['\\', c]
            }
        })
        .collect()
}

fn yaml(doc: &Value, note: &str) -> String {
    format!(
        "# Rendered by appstack; edit the AppStack spec instead.{note}\n{}",
        serde_norway::to_string(doc).unwrap_or_default()
    )
}

fn secs(d: std::time::Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}

/// prometheus.yml: every alert carries the stack's name (`stack` label).
pub fn prometheus_yml(
    stack: &str,
    p: &Prometheus,
    jobs: &[Job],
    alertmanager: Option<&str>,
) -> String {
    let mut doc = json!({
        "global": {
            "scrape_interval": secs(p.scrape_interval),
            "evaluation_interval": secs(p.scrape_interval),
            "external_labels": {"stack": stack},
        },
        "rule_files": ["/etc/prometheus/rules.yml"],
        "scrape_configs": jobs.iter().map(job_yaml).collect::<Vec<_>>(),
    });
    if let Some(am) = alertmanager {
        doc["alerting"] = json!({"alertmanagers": [{"static_configs": [{"targets": [am]}]}]});
    }
    yaml(&doc, "")
}

/// blackbox.yml: one module, any 2xx within 5 s is up.
pub fn blackbox_yml() -> String {
    let doc = json!({
        "modules": {"http_2xx": {"prober": "http", "timeout": "5s",
            "http": {"preferred_ip_protocol": "ip4", "follow_redirects": true}}},
    });
    yaml(&doc, "")
}

/// The PostgreSQL exporter's extra query: WAL each replication slot keeps from recycling.
pub fn postgres_exporter_queries() -> String {
    let doc = json!({
        "pg_replication_slot": {
            "query": "SELECT slot_name, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) AS retained_bytes FROM pg_replication_slots WHERE restart_lsn IS NOT NULL",
            "master": true,
            "metrics": [
                {"slot_name": {"usage": "LABEL", "description": "Replication slot"}},
                {"retained_bytes": {"usage": "GAUGE", "description": "WAL bytes the slot keeps from being recycled"}},
            ],
        },
    });
    yaml(&doc, "")
}

/// Where a webhook URL's notifications go, by its host: Slack and Discord take their own
/// message format (Alertmanager's native integrations), anything else the webhook JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookKind {
    Slack,
    Discord,
    Generic,
}

impl WebhookKind {
    pub fn of(url: &str) -> Self {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host = rest.split(['/', ':']).next().unwrap_or_default();
        if host == "hooks.slack.com" {
            WebhookKind::Slack
        } else if matches!(host, "discord.com" | "discordapp.com")
            && rest.contains("/api/webhooks/")
        {
            WebhookKind::Discord
        } else {
            WebhookKind::Generic
        }
    }

    /// The integration's name in Alertmanager's metrics and logs.
    pub fn integration(self) -> &'static str {
        match self {
            WebhookKind::Slack => "slack",
            WebhookKind::Discord => "discord",
            WebhookKind::Generic => "webhook",
        }
    }
}

/// alertmanager.yml. One incident gives one notification per `dedupWindow` and one when it
/// resolves: groups by alert and instance, a short group interval (so a resolution is told
/// within a minute) and the window as the repeat interval. Every notification reaches the
/// log receiver at `log_url`; the webhook too when set. `Watchdog` goes to the log only,
/// hourly: a heartbeat of the pipeline, not a page.
pub fn alertmanager_yml(a: &Alertmanager, log_url: &str) -> String {
    let log = json!([{"url": log_url, "send_resolved": true}]);
    let mut default = json!({"name": "default", "webhook_configs": log});
    if let Some(url) = &a.webhook_url {
        match WebhookKind::of(url) {
            WebhookKind::Slack => {
                default["slack_configs"] = json!([{"api_url": url, "send_resolved": true}])
            }
            WebhookKind::Discord => {
                default["discord_configs"] = json!([{"webhook_url": url, "send_resolved": true}])
            }
            WebhookKind::Generic => {
                default["webhook_configs"] = json!([
                    {"url": log_url, "send_resolved": true},
                    {"url": url, "send_resolved": true},
                ])
            }
        }
    }
    let doc = json!({
        "route": {
            "receiver": "default",
            "group_by": ["alertname", "instance"],
            "group_wait": "30s",
            "group_interval": "1m",
            "repeat_interval": secs(a.dedup_window),
            "routes": [
                {
                    "matchers": ["alertname=\"Watchdog\""],
                    "receiver": "log",
                    "repeat_interval": "1h",
                },
                {
                    // `appstack alert-test`: delivered at once, to every receiver.
                    "matchers": ["alertname=\"AppstackAlertTest\""],
                    "receiver": "default",
                    "group_by": ["test_id"],
                    "group_wait": "0s",
                    "group_interval": "10s",
                    "repeat_interval": "1h",
                },
            ],
        },
        "receivers": [default, {"name": "log", "webhook_configs": log}],
    });
    yaml(&doc, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_are_told_apart_by_host() {
        assert_eq!(
            WebhookKind::of("https://hooks.slack.com/services/T/B/X"),
            WebhookKind::Slack
        );
        assert_eq!(
            WebhookKind::of("https://discord.com/api/webhooks/1/abc"),
            WebhookKind::Discord
        );
        assert_eq!(
            WebhookKind::of("https://discord.com.evil.example/api/webhooks/1"),
            WebhookKind::Generic
        );
        assert_eq!(
            WebhookKind::of("http://10.0.0.5:9000/hook"),
            WebhookKind::Generic
        );
    }
}
