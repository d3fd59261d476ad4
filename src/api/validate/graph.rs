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
            edge: super::edge::edge(c, spec, ing),
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
    // Depth-first search with an explicit stack (a 40,000-link chain must not exhaust the
    // thread's stack); a back edge is a cycle, reported once with its members.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    let mut cycles: Vec<Vec<&str>> = Vec::new();
    for root in graph.keys() {
        if state.contains_key(root.as_str()) {
            continue;
        }
        // (node, index of its next dependency to look at); `path` mirrors the open nodes.
        let mut frames: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        let mut path: Vec<&str> = vec![root.as_str()];
        state.insert(root.as_str(), 1);
        while let Some((node, next)) = frames.last_mut() {
            let deps = graph.get(*node).map(|(_, d)| d.as_slice()).unwrap_or(&[]);
            let Some(dep) = deps.get(*next) else {
                state.insert(node, 2);
                frames.pop();
                path.pop();
                continue;
            };
            *next += 1;
            match state.get(dep.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|n| *n == dep).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(dep.as_str());
                    cycles.push(cycle);
                }
                None if graph.contains_key(dep) => {
                    state.insert(dep.as_str(), 1);
                    frames.push((dep.as_str(), 0));
                    path.push(dep.as_str());
                }
                _ => {}
            }
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
            let shown = if cycle.len() > 12 {
                format!(
                    "{} -> … ({} more) … -> {}",
                    cycle[..5].join(" -> "),
                    cycle.len() - 10,
                    cycle[cycle.len() - 5..].join(" -> ")
                )
            } else {
                cycle.join(" -> ")
            };
            c.push(path, format!("dependency cycle: {shown}"));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40,000-link chain closed into a cycle: found without recursion, reported once,
    /// abbreviated.
    #[test]
    fn a_long_chain_is_checked_without_recursion() {
        let n = 40_000;
        let graph: Graph = (0..n)
            .map(|i| {
                let dep = format!("s{}", (i + n - 1) % n);
                (
                    format!("s{i}"),
                    (format!("spec.services[{i}].dependsOn"), vec![dep]),
                )
            })
            .collect();
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || {
                let mut c = Collector::default();
                dependencies(&mut c, &graph);
                c.errors
            })
            .unwrap();
        let errors = handle.join().unwrap();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("more)"), "{}", errors[0].message);
        assert!(errors[0].message.len() < 200);
    }
}
