//! The stack's alert rules: the users' four (exact thresholds from their operations
//! documents), the data-protection ones from appstack's own metrics, target down and the
//! always-firing `Watchdog`. Each rule carries the scenario its `promtool test rules` test
//! is generated from (`rule_tests`), so a rule cannot exist without its test.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::api::validated::{ValidatedStack, WalMode};

/// How an input series moves in a rule's test: one value (gauge) or one increase
/// (counter) per minute, for each of the three phases — healthy, at the threshold, healthy.
#[derive(Debug, Clone, PartialEq)]
pub enum Series {
    Gauge {
        healthy: f64,
        bad: f64,
    },
    Counter {
        healthy: f64,
        bad: f64,
    },
    /// Healthy but for one bad sample where the bad phase starts: shorter than any `for`.
    Blip {
        healthy: f64,
        bad: f64,
    },
}

/// One input series of a rule's test: its selector text and how it moves.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub series: String,
    pub firing: Series,
    /// The same series just on the safe side of the threshold (for the "stays silent" case).
    pub below: Series,
}

/// A rule and the scenario that tests it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub name: &'static str,
    pub expr: String,
    /// Minutes the expression must hold before the alert fires.
    pub for_minutes: u32,
    pub severity: &'static str,
    /// `{{ $labels.x }}` placeholders only, so the test can render it exactly.
    pub summary: String,
    pub inputs: Vec<Input>,
    /// Minutes the expression needs to turn true once the inputs go bad (a rate's window).
    pub lag_minutes: u32,
    /// The labels the firing alert carries (besides `alertname` and `severity`).
    pub labels: BTreeMap<String, String>,
}

const NODE: &str = "node:9100";
const PROBED: &str = "http://web:3000/api/health";
const PG: &str = "pg:9187";
const REAL_FS: &str = r#"fstype!~"tmpfs|overlay|squashfs|nsfs|proc|sysfs|ramfs|devtmpfs""#;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn gauge(healthy: f64, bad: f64) -> Series {
    Series::Gauge { healthy, bad }
}

fn input(series: String, firing: Series, below: Series) -> Input {
    Input {
        series,
        firing,
        below,
    }
}

/// Every rule of `stack`, by what it runs: node rules with node-exporter, `SiteDown` with
/// the blackbox exporter, the database's with the PostgreSQL exporter, the backup, WAL and
/// drill rules with the protection they watch.
pub fn rules(stack: &ValidatedStack) -> Vec<AlertRule> {
    let m = &stack.monitoring;
    let mut out = Vec::new();
    if m.node_exporter_image.is_some() {
        out.extend(node_rules());
    }
    if m.blackbox_image.is_some() {
        out.push(site_down());
    }
    if m.postgres_exporter_image.is_some() {
        out.push(connections_high());
    }
    if let Some(b) = &stack.backup {
        out.extend(backup_rules());
        if let Some(w) = b.wal.as_ref().filter(|w| w.mode == WalMode::Stream) {
            out.extend(wal_rules(stack.recovery.rpo.as_secs(), w.spool_alert_bytes));
            if m.postgres_exporter_image.is_some() {
                out.push(slot_retention(w.spool_alert_bytes));
            }
        }
    }
    if stack.recovery.drill_schedule.is_some() && stack.backup.is_some() {
        out.extend(drill_rules());
    }
    out.push(target_down());
    out.push(task_panicked());
    out.push(watchdog());
    out
}

/// A background task of appstack panicked (it was restarted, but a bug is loose).
fn task_panicked() -> AlertRule {
    AlertRule {
        name: "AppstackTaskPanicked",
        expr: "increase(appstack_task_panics_total[5m]) > 0".into(),
        for_minutes: 1,
        severity: "warning",
        summary: "appstack's {{ $labels.task }} task of {{ $labels.stack }} panicked and was restarted: see the daemon's log".into(),
        inputs: vec![input(
            r#"appstack_task_panics_total{stack="s",task="backup-base"}"#.into(),
            Series::Counter {
                healthy: 0.0,
                bad: 1.0,
            },
            Series::Counter {
                healthy: 0.0,
                bad: 0.0,
            },
        )],
        // The 5-minute window keeps a panic in view that long after the last one.
        lag_minutes: 5,
        labels: labels(&[("stack", "s"), ("task", "backup-base")]),
    }
}

fn node_rules() -> Vec<AlertRule> {
    let idle = format!(r#"node_cpu_seconds_total{{mode="idle",cpu="0",instance="{NODE}"}}"#);
    let mem = |m: &str| format!(r#"node_memory_{m}_bytes{{instance="{NODE}"}}"#);
    let fs = |m: &str| {
        format!(
            r#"node_filesystem_{m}_bytes{{instance="{NODE}",device="/dev/vda1",fstype="ext4",mountpoint="/"}}"#
        )
    };
    vec![
        AlertRule {
            name: "HighCpu",
            expr: r#"100 * (1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))) > 80"#.into(),
            for_minutes: 5,
            severity: "warning",
            summary: "CPU above 80% for 5 minutes on {{ $labels.instance }}".into(),
            // Idle seconds per minute: 9 of 60 is 85% busy, 12.6 is 79%.
            inputs: vec![input(
                idle,
                Series::Counter { healthy: 60.0, bad: 9.0 },
                Series::Counter { healthy: 60.0, bad: 12.6 },
            )],
            lag_minutes: 5,
            labels: labels(&[("instance", NODE)]),
        },
        AlertRule {
            name: "HighMemory",
            expr: "100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes) > 80".into(),
            for_minutes: 5,
            severity: "warning",
            summary: "Memory above 80% for 5 minutes on {{ $labels.instance }}".into(),
            inputs: vec![
                input(mem("MemTotal"), gauge(1000.0, 1000.0), gauge(1000.0, 1000.0)),
                input(mem("MemAvailable"), gauge(500.0, 150.0), gauge(500.0, 210.0)),
            ],
            lag_minutes: 0,
            labels: labels(&[("instance", NODE)]),
        },
        AlertRule {
            name: "DiskAlmostFull",
            expr: format!("100 * node_filesystem_avail_bytes{{{REAL_FS}}} / node_filesystem_size_bytes{{{REAL_FS}}} < 10"),
            for_minutes: 5,
            severity: "critical",
            summary: "Less than 10% disk free on {{ $labels.instance }} {{ $labels.mountpoint }}".into(),
            inputs: vec![
                input(fs("size"), gauge(1000.0, 1000.0), gauge(1000.0, 1000.0)),
                input(fs("avail"), gauge(500.0, 90.0), gauge(500.0, 100.0)),
            ],
            lag_minutes: 0,
            labels: labels(&[
                ("instance", NODE),
                ("device", "/dev/vda1"),
                ("fstype", "ext4"),
                ("mountpoint", "/"),
            ]),
        },
    ]
}

fn site_down() -> AlertRule {
    AlertRule {
        name: "SiteDown",
        expr: r#"probe_success{job="blackbox"} == 0"#.into(),
        for_minutes: 1,
        severity: "critical",
        summary: "{{ $labels.instance }} fails its health check".into(),
        // Below the threshold: failing for less than the `for` (one probe), then fine.
        inputs: vec![input(
            format!(r#"probe_success{{job="blackbox",instance="{PROBED}"}}"#),
            gauge(1.0, 0.0),
            Series::Blip {
                healthy: 1.0,
                bad: 0.0,
            },
        )],
        lag_minutes: 0,
        labels: labels(&[("job", "blackbox"), ("instance", PROBED)]),
    }
}

fn connections_high() -> AlertRule {
    AlertRule {
        name: "DatabaseConnectionsHigh",
        expr: "sum by (instance) (pg_stat_activity_count) > 0.9 * max by (instance) (pg_settings_max_connections)".into(),
        for_minutes: 1,
        severity: "warning",
        summary: "Database connections above 90% of max_connections on {{ $labels.instance }}".into(),
        inputs: vec![
            input(
                format!(r#"pg_settings_max_connections{{instance="{PG}"}}"#),
                gauge(100.0, 100.0),
                gauge(100.0, 100.0),
            ),
            input(
                format!(r#"pg_stat_activity_count{{instance="{PG}",datname="app",state="idle"}}"#),
                gauge(10.0, 91.0),
                gauge(10.0, 90.0),
            ),
        ],
        lag_minutes: 0,
        labels: labels(&[("instance", PG)]),
    }
}

/// A rule on one of appstack's own 0/1 gauges.
fn flag(
    name: &'static str,
    metric: &str,
    bad: f64,
    summary: &str,
    extra: &[(&str, &str)],
) -> AlertRule {
    let mut l = labels(&[("stack", "s")]);
    l.extend(labels(extra));
    let selector = l
        .iter()
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect::<Vec<_>>()
        .join(",");
    let healthy = 1.0 - bad;
    AlertRule {
        name,
        expr: format!("{metric} == {bad}"),
        for_minutes: 1,
        severity: "critical",
        summary: summary.into(),
        inputs: vec![input(
            format!("{metric}{{{selector}}}"),
            gauge(healthy, bad),
            gauge(healthy, healthy),
        )],
        lag_minutes: 0,
        labels: l,
    }
}

fn backup_rules() -> Vec<AlertRule> {
    vec![
        flag(
            "BackupMissing",
            "appstack_backup_missing",
            1.0,
            "No successful {{ $labels.kind }} backup of {{ $labels.stack }} within 1.5 schedule periods",
            &[("kind", "base")],
        ),
        flag(
            "BackupFailed",
            "appstack_backup_last_failed",
            1.0,
            "The last {{ $labels.kind }} backup of {{ $labels.stack }} failed",
            &[("kind", "base")],
        ),
    ]
}

/// A rule on one of appstack's own gauges crossing `limit`.
fn above(
    name: &'static str,
    metric: &str,
    limit: u64,
    for_minutes: u32,
    summary: String,
) -> AlertRule {
    let limit_f = limit as f64;
    AlertRule {
        name,
        expr: format!("{metric} > {limit}"),
        for_minutes,
        severity: "critical",
        summary,
        inputs: vec![input(
            format!(r#"{metric}{{stack="s"}}"#),
            gauge(0.0, limit_f + 1.0),
            gauge(0.0, limit_f),
        )],
        lag_minutes: 0,
        labels: labels(&[("stack", "s")]),
    }
}

fn wal_rules(rpo_secs: u64, spool_bytes: u64) -> Vec<AlertRule> {
    vec![
        above(
            "WalShippingLag",
            "appstack_wal_rpo_seconds",
            rpo_secs,
            1,
            format!("WAL of {{{{ $labels.stack }}}} not in the store for longer than the RPO objective ({rpo_secs}s)"),
        ),
        above(
            "WalSpoolHigh",
            "appstack_wal_spool_bytes",
            spool_bytes,
            1,
            format!("More than {spool_bytes} bytes of WAL of {{{{ $labels.stack }}}} wait in the local spool"),
        ),
    ]
}

fn slot_retention(limit: u64) -> AlertRule {
    let series =
        format!(r#"pg_replication_slot_retained_bytes{{instance="{PG}",slot_name="appstack"}}"#);
    AlertRule {
        name: "ReplicationSlotRetention",
        expr: format!("pg_replication_slot_retained_bytes > {limit}"),
        for_minutes: 5,
        severity: "warning",
        summary: format!(
            "Replication slot {{{{ $labels.slot_name }}}} holds more than {limit} bytes of WAL"
        ),
        inputs: vec![input(
            series,
            gauge(0.0, limit as f64 + 1.0),
            gauge(0.0, limit as f64),
        )],
        lag_minutes: 0,
        labels: labels(&[("instance", PG), ("slot_name", "appstack")]),
    }
}

fn drill_rules() -> Vec<AlertRule> {
    vec![
        flag(
            "DrillFailed",
            "appstack_drill_passed",
            0.0,
            "The last DR drill of {{ $labels.stack }} failed or missed an objective",
            &[],
        ),
        flag(
            "DrillStale",
            "appstack_drill_missing",
            1.0,
            "No passing DR drill of {{ $labels.stack }} within 1.5 schedule periods",
            &[],
        ),
    ]
}

fn target_down() -> AlertRule {
    AlertRule {
        name: "TargetDown",
        expr: "up == 0".into(),
        for_minutes: 2,
        severity: "warning",
        summary: "{{ $labels.job }} ({{ $labels.instance }}) cannot be scraped".into(),
        inputs: vec![input(
            r#"up{job="redis",instance="cache-exporter:9121"}"#.into(),
            gauge(1.0, 0.0),
            Series::Blip {
                healthy: 1.0,
                bad: 0.0,
            },
        )],
        lag_minutes: 0,
        labels: labels(&[("job", "redis"), ("instance", "cache-exporter:9121")]),
    }
}

/// Always firing: proves the whole path (Prometheus, Alertmanager, the log) is alive.
fn watchdog() -> AlertRule {
    AlertRule {
        name: "Watchdog",
        expr: "vector(1)".into(),
        for_minutes: 0,
        severity: "none",
        summary: "Always firing: the alerting pipeline works".into(),
        inputs: Vec::new(),
        lag_minutes: 0,
        labels: BTreeMap::new(),
    }
}

/// rules.yml for Prometheus.
pub fn rules_yml(rules: &[AlertRule]) -> String {
    let list: Vec<Value> = rules
        .iter()
        .map(|r| {
            json!({
                "alert": r.name,
                "expr": r.expr,
                "for": format!("{}m", r.for_minutes),
                "labels": {"severity": r.severity},
                "annotations": {"summary": r.summary},
            })
        })
        .collect();
    let doc = json!({"groups": [{"name": "appstack", "rules": list}]});
    format!(
        "# Rendered by appstack; edit the AppStack spec instead. Tests: rules_test.yml.\n{}",
        serde_norway::to_string(&doc).unwrap_or_default()
    )
}
