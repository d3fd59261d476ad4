//! The components as a graph: every dependency names a component, no cycle, and what is
//! published on the host; the ingress host names.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::str::FromStr;

use super::fields::{is_dns_name, port_nonzero};
use crate::api::defaults as d;
use crate::api::errors::Collector;
use crate::api::spec::AppStackSpec;
use crate::api::validated::*;

/// Component name → (the field naming its dependencies, the dependencies).
pub(super) type Graph = BTreeMap<String, (String, Vec<String>)>;

/// Every component and its dependencies, for reference and cycle checks.
pub(super) fn graph(
    database: &Option<Database>,
    cache: &Option<Cache>,
    cms: &Option<Cms>,
    frontend: &Option<HttpApp>,
    monitoring: &Monitoring,
    services: &[Service],
) -> Graph {
    let mut graph: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    if let Some(db) = &database {
        let _ = db;
        graph.insert("database".into(), ("spec.database".into(), vec![]));
    }
    if cache.is_some() {
        graph.insert("cache".into(), ("spec.cache".into(), vec![]));
    }
    if let Some(cms) = &cms {
        graph.insert(
            "cms".into(),
            ("spec.cms.dependsOn".into(), cms.app.depends_on.clone()),
        );
    }
    if let Some(f) = &frontend {
        graph.insert(
            "frontend".into(),
            ("spec.frontend.dependsOn".into(), f.depends_on.clone()),
        );
    }
    if monitoring.prometheus.is_some() {
        graph.insert("prometheus".into(), (String::new(), vec![]));
    }
    if monitoring.node_exporter_image.is_some() {
        graph.insert("node-exporter".into(), (String::new(), vec![]));
    }
    if monitoring.alertmanager.is_some() {
        graph.insert("alertmanager".into(), (String::new(), vec![]));
    }
    for (i, s) in services.iter().enumerate() {
        graph.insert(
            s.name.clone(),
            (
                format!("spec.services[{i}].dependsOn"),
                s.depends_on.clone(),
            ),
        );
    }
    graph
}

pub(super) fn ingress(c: &mut Collector, spec: &AppStackSpec, name: &str) -> Option<Ingress> {
    spec.ingress.as_ref().map(|ing| {
        for (field, host) in [("host", &ing.host), ("cmsHost", &ing.cms_host)] {
            if let Some(h) = host {
                if !is_dns_name(h) {
                    c.push(
                        format!("spec.ingress.{field}"),
                        format!("{h:?} is not a DNS host name"),
                    );
                }
            }
        }
        Ingress {
            host: ing.host.clone(),
            cms_host: ing.cms_host.clone(),
            class_name: ing.class_name.clone(),
            tls: ing.tls.as_ref().filter(|t| t.enabled).map(|t| Tls {
                secret_name: t
                    .secret_name
                    .clone()
                    .unwrap_or_else(|| format!("{name}-tls")),
                cluster_issuer: t.cluster_issuer.clone(),
            }),
        }
    })
}

pub(super) fn dependencies(c: &mut Collector, graph: &Graph) {
    for (name, (path, deps)) in graph {
        for (i, dep) in deps.iter().enumerate() {
            if dep == name {
                c.push(
                    format!("{path}[{i}]"),
                    format!("{name:?} cannot depend on itself"),
                );
            } else if !graph.contains_key(dep) {
                let known: Vec<&str> = graph.keys().map(String::as_str).collect();
                c.push(
                    format!("{path}[{i}]"),
                    format!(
                        "unknown or disabled component {dep:?} (expected one of: {})",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    // Depth-first search; a back edge is a cycle, reported once with its members.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, (String, Vec<String>)>,
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<&'a str>,
        found: &mut Vec<Vec<&'a str>>,
    ) {
        state.insert(node, 1);
        stack.push(node);
        if let Some((_, deps)) = graph.get(node) {
            for dep in deps {
                match state.get(dep.as_str()) {
                    Some(1) => {
                        let start = stack.iter().position(|n| *n == dep).unwrap_or(0);
                        let mut cycle = stack[start..].to_vec();
                        cycle.push(dep);
                        found.push(cycle);
                    }
                    None if graph.contains_key(dep) => visit(dep, graph, state, stack, found),
                    _ => {}
                }
            }
        }
        stack.pop();
        state.insert(node, 2);
    }
    let mut cycles = Vec::new();
    for name in graph.keys() {
        if !state.contains_key(name.as_str()) {
            visit(name, graph, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    for cycle in cycles {
        let mut members: Vec<&str> = cycle[..cycle.len() - 1].to_vec();
        members.sort_unstable();
        if reported.insert(members) {
            let path = graph
                .get(cycle[0])
                .map(|(p, _)| p.clone())
                .unwrap_or_default();
            c.push(path, format!("dependency cycle: {}", cycle.join(" -> ")));
        }
    }
}

pub(super) fn published_ports(
    c: &mut Collector,
    spec: &AppStackSpec,
    graph: &BTreeMap<String, (String, Vec<String>)>,
    frontend: &Option<HttpApp>,
    cms: &Option<Cms>,
    services: &[Service],
) -> Vec<Published> {
    let mut out = Vec::new();
    let mut used: BTreeMap<u16, usize> = BTreeMap::new();
    let Some(ing) = &spec.ingress else { return out };
    for (i, pp) in ing.published_ports.iter().enumerate() {
        let p = format!("spec.ingress.publishedPorts[{i}]");
        if !graph.contains_key(&pp.component) {
            c.push(
                format!("{p}.component"),
                format!("unknown or disabled component {:?}", pp.component),
            );
        } else if container_port(&pp.component, frontend, cms, services).is_none() {
            c.push(
                format!("{p}.component"),
                format!("component {:?} has no port to publish", pp.component),
            );
        }
        port_nonzero(c, &format!("{p}.hostPort"), pp.host_port);
        if let Some(first) = used.insert(pp.host_port, i) {
            c.push(
                format!("{p}.hostPort"),
                format!(
                    "duplicate host port {} (also used by spec.ingress.publishedPorts[{first}])",
                    pp.host_port
                ),
            );
        }
        let bind = IpAddr::from_str(&pp.bind).unwrap_or_else(|_| {
            c.push(
                format!("{p}.bind"),
                format!(
                    "{:?} is not an IP address (e.g. 127.0.0.1 or 0.0.0.0)",
                    pp.bind
                ),
            );
            IpAddr::from([127, 0, 0, 1])
        });
        out.push(Published {
            component: pp.component.clone(),
            host_port: pp.host_port,
            bind,
        });
    }
    out
}

/// The container port of a component, as the planner assigns it.
pub fn container_port(
    name: &str,
    frontend: &Option<HttpApp>,
    cms: &Option<Cms>,
    services: &[Service],
) -> Option<u16> {
    match name {
        "frontend" => frontend.as_ref().map(|f| f.port),
        "cms" => cms.as_ref().map(|c| c.app.port),
        "database" => Some(d::DATABASE_PORT),
        "cache" => Some(d::CACHE_PORT),
        "prometheus" => Some(d::PROMETHEUS_PORT),
        "node-exporter" => Some(d::NODE_EXPORTER_PORT),
        "alertmanager" => Some(d::ALERTMANAGER_PORT),
        other => services
            .iter()
            .find(|s| s.name == other)
            .and_then(|s| s.port),
    }
}
