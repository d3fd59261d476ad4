//! Monitoring in the plan: Prometheus (scrape targets and alert rules as config files),
//! node-exporter and Alertmanager.

use super::build::{component, host, http_health, port, Parts};
use super::config_files as cf;
use super::*;
use crate::api::defaults as d;
use crate::api::validated::{self as v, ValidatedStack};

/// The monitoring components the spec asks for.
pub(super) fn monitoring(stack: &ValidatedStack, parts: &mut Parts) {
    prometheus(stack, parts);
    node_exporter(stack, parts);
    alertmanager(stack, parts);
}

/// Prometheus, scraping the stack and evaluating its alert rules.
fn prometheus(stack: &ValidatedStack, parts: &mut Parts) {
    let m = &stack.monitoring;
    let Some(p) = &m.prometheus else { return };
    let mut targets: Vec<cf::Target> = vec![(
        "prometheus".into(),
        format!("127.0.0.1:{}", d::PROMETHEUS_PORT),
        "/metrics".into(),
    )];
    if m.node_exporter_image.is_some() {
        targets.push((
            "node".into(),
            format!("{}:{}", host(stack, "node-exporter"), d::NODE_EXPORTER_PORT),
            "/metrics".into(),
        ));
    }
    if m.alertmanager.is_some() {
        targets.push((
            "alertmanager".into(),
            format!("{}:{}", host(stack, "alertmanager"), d::ALERTMANAGER_PORT),
            "/metrics".into(),
        ));
    }
    if let Some(cms) = &stack.cms {
        targets.push((
            "cms".into(),
            format!("{}:{}", host(stack, "cms"), cms.app.port),
            "/metrics".into(),
        ));
    }
    if let Some(f) = &stack.frontend {
        targets.push((
            "frontend".into(),
            format!("{}:{}", host(stack, "frontend"), f.port),
            f.health_path.clone(),
        ));
    }
    let am = m
        .alertmanager
        .as_ref()
        .map(|_| format!("{}:{}", host(stack, "alertmanager"), d::ALERTMANAGER_PORT));
    parts.volumes.push(Volume {
        name: "prometheus-data".into(),
        size_bytes: 10 << 30,
    });
    let mut c = component(
        stack,
        "prometheus",
        Role::Monitoring,
        &p.image,
        v::Resources::default(),
    );
    c.args = Some(vec![
        "--config.file=/etc/prometheus/prometheus.yml".into(),
        "--storage.tsdb.path=/prometheus".into(),
        format!("--storage.tsdb.retention.time={}", p.retention_text),
        format!("--web.listen-address=:{}", d::PROMETHEUS_PORT),
    ]);
    c.files = vec![
        ConfigFile {
            name: "prometheus.yml".into(),
            path: "/etc/prometheus/prometheus.yml".into(),
            content: cf::prometheus_yml(p, &targets, am.as_deref()),
        },
        ConfigFile {
            name: "rules.yml".into(),
            path: "/etc/prometheus/rules.yml".into(),
            content: cf::alert_rules(stack.database.as_ref().map(|db| db.max_connections)),
        },
    ];
    c.ports = vec![port("http", d::PROMETHEUS_PORT)];
    c.mounts = vec![Mount::Volume {
        volume: "prometheus-data".into(),
        path: "/prometheus".into(),
    }];
    c.health = Some(http_health(d::PROMETHEUS_PORT, "/-/ready"));
    parts.comps.push(c);
}

/// node-exporter, reading the host's /proc and /sys.
fn node_exporter(stack: &ValidatedStack, parts: &mut Parts) {
    let m = &stack.monitoring;
    let Some(image) = &m.node_exporter_image else {
        return;
    };
    let mut c = component(
        stack,
        "node-exporter",
        Role::Monitoring,
        image,
        v::Resources::default(),
    );
    c.args = Some(vec![
        "--path.procfs=/host/proc".into(),
        "--path.sysfs=/host/sys".into(),
        format!("--web.listen-address=:{}", d::NODE_EXPORTER_PORT),
    ]);
    c.mounts = vec![
        Mount::Host {
            host_path: "/proc".into(),
            path: "/host/proc".into(),
        },
        Mount::Host {
            host_path: "/sys".into(),
            path: "/host/sys".into(),
        },
    ];
    c.ports = vec![port("metrics", d::NODE_EXPORTER_PORT)];
    c.health = Some(http_health(d::NODE_EXPORTER_PORT, "/metrics"));
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
        v::Resources::default(),
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
        content: cf::alertmanager_yml(a),
    }];
    c.ports = vec![port("http", d::ALERTMANAGER_PORT)];
    c.mounts = vec![Mount::Volume {
        volume: "alertmanager-data".into(),
        path: "/alertmanager".into(),
    }];
    c.health = Some(http_health(d::ALERTMANAGER_PORT, "/-/ready"));
    parts.comps.push(c);
}
