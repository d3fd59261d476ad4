//! Monitoring in the plan: Prometheus (scrape jobs, alert rules and their tests as config
//! files), the exporters (`exporters`) and Alertmanager.

use super::build::{component, host, http_health, port, Parts};
use super::monitoring_config as mc;
use super::names::daemon_host;
use super::*;
use crate::api::defaults as d;
use crate::api::validated::ValidatedStack;

/// The monitoring components the spec asks for.
pub(super) fn monitoring(stack: &ValidatedStack, parts: &mut Parts) {
    prometheus(stack, parts);
    super::exporters::exporters(stack, parts);
    alertmanager(stack, parts);
}

/// Prometheus, scraping the stack and evaluating its alert rules.
fn prometheus(stack: &ValidatedStack, parts: &mut Parts) {
    let m = &stack.monitoring;
    let Some(p) = &m.prometheus else { return };
    let mut jobs = vec![mc::Job::Metrics {
        job: "prometheus".into(),
        target: format!("127.0.0.1:{}", d::PROMETHEUS_PORT),
        path: "/metrics".into(),
    }];
    if m.alertmanager.is_some() {
        jobs.push(mc::Job::Metrics {
            job: "alertmanager".into(),
            target: format!("{}:{}", host(stack, "alertmanager"), d::ALERTMANAGER_PORT),
            path: "/metrics".into(),
        });
    }
    jobs.extend(super::exporters::jobs(stack));
    jobs.push(mc::Job::Appstack {
        target: format!("{}:{}", daemon_host(&stack.name), m.daemon_port),
        stack: stack.name.clone(),
    });
    let am = m
        .alertmanager
        .as_ref()
        .map(|_| format!("{}:{}", host(stack, "alertmanager"), d::ALERTMANAGER_PORT));
    parts.volumes.push(Volume {
        name: "prometheus-data".into(),
        size_bytes: 10 << 30,
    });
    let mut c = component(stack, "prometheus", Role::Monitoring, &p.image, p.resources);
    c.args = Some(vec![
        "--config.file=/etc/prometheus/prometheus.yml".into(),
        "--storage.tsdb.path=/prometheus".into(),
        format!("--storage.tsdb.retention.time={}", p.retention_text),
        format!("--web.listen-address=:{}", d::PROMETHEUS_PORT),
    ]);
    let rules = super::alert_rules::rules(stack);
    c.files = vec![
        ConfigFile {
            name: "prometheus.yml".into(),
            path: "/etc/prometheus/prometheus.yml".into(),
            content: mc::prometheus_yml(&stack.name, p, &jobs, am.as_deref()),
        },
        ConfigFile {
            name: "rules.yml".into(),
            path: "/etc/prometheus/rules.yml".into(),
            content: super::alert_rules::rules_yml(&rules),
        },
        ConfigFile {
            name: "rules_test.yml".into(),
            path: "/etc/prometheus/rules_test.yml".into(),
            content: super::rule_tests::rules_test_yml(&rules),
        },
    ];
    c.ports = vec![port("http", d::PROMETHEUS_PORT)];
    c.mounts = vec![Mount::Volume {
        volume: "prometheus-data".into(),
        path: "/prometheus".into(),
    }];
    c.health = Some(http_health(d::PROMETHEUS_PORT, "/-/ready"));
    c.reaches_daemon = true;
    parts.comps.push(c);
}

/// Alertmanager, routing the alerts.
fn alertmanager(stack: &ValidatedStack, parts: &mut Parts) {
    let m = &stack.monitoring;
    let Some(a) = &m.alertmanager else { return };
    parts.volumes.push(Volume {
        name: "alertmanager-data".into(),
        size_bytes: 1 << 30,
    });
    let mut c = component(
        stack,
        "alertmanager",
        Role::Monitoring,
        &a.image,
        a.resources,
    );
    c.args = Some(vec![
        "--config.file=/etc/alertmanager/alertmanager.yml".into(),
        "--storage.path=/alertmanager".into(),
        format!("--web.listen-address=:{}", d::ALERTMANAGER_PORT),
        "--cluster.listen-address=".into(),
    ]);
    c.files = vec![ConfigFile {
        name: "alertmanager.yml".into(),
        path: "/etc/alertmanager/alertmanager.yml".into(),
        content: mc::alertmanager_yml(a, &alert_log_url(stack)),
    }];
    c.ports = vec![port("http", d::ALERTMANAGER_PORT)];
    c.mounts = vec![Mount::Volume {
        volume: "alertmanager-data".into(),
        path: "/alertmanager".into(),
    }];
    c.health = Some(http_health(d::ALERTMANAGER_PORT, "/-/ready"));
    c.reaches_daemon = true;
    parts.comps.push(c);
}

/// Where Alertmanager delivers the alert log: appstack's endpoint, per stack.
pub fn alert_log_url(stack: &ValidatedStack) -> String {
    format!(
        "http://{}:{}/alerts/{}",
        daemon_host(&stack.name),
        stack.monitoring.daemon_port,
        stack.name
    )
}
