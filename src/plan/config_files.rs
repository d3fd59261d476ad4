//! Configuration files rendered from the spec: redis.conf, prometheus.yml, the users' alert
//! rules (exact thresholds from their operations documents) and alertmanager.yml.

use std::fmt::Write;
use std::time::Duration;

use crate::api::validated::{Alertmanager, Cache, Persistence, Prometheus};

pub const CACHE_AUTH_PATH: &str = "/run/secrets/cache-auth.conf";

pub fn redis_conf(cache: &Cache) -> String {
    let persistence = match cache.persistence {
        Persistence::None => "save \"\"\nappendonly no\n",
        Persistence::Rdb => "save 3600 1 300 100 60 10000\nappendonly no\n",
        Persistence::Aof => "save \"\"\nappendonly yes\nappendfsync everysec\n",
    };
    format!(
        "# Rendered by appstack; edit the AppStack spec instead.\nbind 0.0.0.0\nprotected-mode no\nport 6379\ndir /data\nmaxmemory {}\nmaxmemory-policy {}\n{persistence}include {CACHE_AUTH_PATH}\n",
        cache.maxmemory_bytes, cache.maxmemory_policy
    )
}

/// Scrape targets: (job, host:port, metrics path).
pub type Target = (String, String, String);

pub fn prometheus_yml(p: &Prometheus, targets: &[Target], alertmanager: Option<&str>) -> String {
    let mut out = String::from("# Rendered by appstack; edit the AppStack spec instead.\n");
    let _ = writeln!(
        out,
        "global:\n  scrape_interval: {}\n  evaluation_interval: {}",
        secs(p.scrape_interval),
        secs(p.scrape_interval)
    );
    out.push_str("rule_files:\n  - /etc/prometheus/rules.yml\n");
    if let Some(am) = alertmanager {
        let _ = writeln!(
            out,
            "alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am}']"
        );
    }
    out.push_str("scrape_configs:\n");
    for (job, target, path) in targets {
        let _ = writeln!(out, "  - job_name: {job}\n    metrics_path: {path}\n    static_configs:\n      - targets: ['{target}']");
    }
    out
}

/// The alert rules the users asked for, with their exact thresholds.
pub fn alert_rules(max_connections: Option<u32>) -> String {
    let mut out = String::from(
        r#"# Rendered by appstack; thresholds from the users' operations documents.
groups:
  - name: appstack
    rules:
      - alert: HighCpu
        expr: 100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) > 80
        for: 5m
        labels: {severity: warning}
        annotations: {summary: "CPU above 80% for 5 minutes on {{ $labels.instance }}"}
      - alert: HighMemory
        expr: 100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) > 80
        for: 5m
        labels: {severity: warning}
        annotations: {summary: "Memory above 80% for 5 minutes on {{ $labels.instance }}"}
      - alert: DiskAlmostFull
        expr: 100 * node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs"} < 10
        for: 1m
        labels: {severity: critical}
        annotations: {summary: "Less than 10% disk free on {{ $labels.instance }} {{ $labels.mountpoint }}"}
      - alert: SiteDown
        expr: up{job=~"frontend|cms"} == 0
        for: 1m
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.job }} fails its health check"}
"#,
    );
    if let Some(max) = max_connections {
        let limit = u64::from(max) * 9 / 10;
        let _ = write!(
            out,
            "      - alert: DatabaseConnectionsHigh\n        expr: sum(pg_stat_activity_count) > {limit}\n        for: 5m\n        labels: {{severity: warning}}\n        annotations: {{summary: \"Database connections above 90% of max_connections ({max})\"}}\n"
        );
    }
    out
}

pub fn alertmanager_yml(a: &Alertmanager) -> String {
    let mut out = format!(
        "# Rendered by appstack; edit the AppStack spec instead.\nroute:\n  receiver: default\n  group_by: [alertname, instance]\n  group_wait: 30s\n  group_interval: 5m\n  repeat_interval: {}\nreceivers:\n  - name: default\n",
        secs(a.dedup_window)
    );
    if let Some(url) = &a.webhook_url {
        let _ = writeln!(
            out,
            "    webhook_configs:\n      - url: '{url}'\n        send_resolved: true"
        );
    }
    out
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs().max(1))
}
