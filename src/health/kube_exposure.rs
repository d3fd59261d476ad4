//! How a component is reached from outside the cluster: any Service of the namespace — the
//! operator's or one added by hand — that selects its pods and is a NodePort or a
//! LoadBalancer or carries external IPs. A load balancer's or external address is tried
//! with a real connection.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Pod, Service, ServicePort};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use kube::Client;

use super::facts::Exposure;
use super::kube_facts::pod_of;
use super::HealthError;
use crate::plan::{Component, Plan, LABEL_COMPONENT};

pub async fn gather(
    client: &Client,
    ns: &str,
    plan: &Plan,
    pods: &[Pod],
) -> Result<BTreeMap<String, Vec<Exposure>>, HealthError> {
    let api: Api<Service> = Api::namespaced(client.clone(), ns);
    let services = api
        .list(&ListParams::default())
        .await
        .map_err(|e| HealthError::Cluster(format!("listing the Services of {ns}: {e}")))?;
    let mut out = BTreeMap::new();
    for c in &plan.components {
        let labels = labels_of(plan, &c.name, pods);
        let exposed: Vec<Exposure> = services
            .items
            .iter()
            .filter(|s| selects(s, &labels))
            .flat_map(|s| exposures(s, c))
            .collect();
        if !exposed.is_empty() {
            out.insert(c.name.clone(), exposed);
        }
    }
    Ok(out)
}

/// The labels of the component's pods (of a running one when there is one, else the
/// operator's selector labels).
fn labels_of(plan: &Plan, component: &str, pods: &[Pod]) -> BTreeMap<String, String> {
    let wanted = pod_of(plan, component);
    pods.iter()
        .filter_map(|p| p.metadata.labels.as_ref())
        .find(|l| l.get(LABEL_COMPONENT).map(String::as_str) == Some(wanted))
        .cloned()
        .unwrap_or_else(|| crate::kube::meta::selector_labels(plan, wanted))
}

fn selects(s: &Service, labels: &BTreeMap<String, String>) -> bool {
    let Some(selector) = s.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Whether a Service port leads to one of the component's ports.
fn leads_to(p: &ServicePort, c: &Component) -> bool {
    c.ports.iter().any(|cp| match &p.target_port {
        Some(IntOrString::Int(n)) => *n == i32::from(cp.container_port),
        Some(IntOrString::String(name)) => *name == cp.name,
        None => p.port == i32::from(cp.container_port),
    })
}

fn exposures(s: &Service, c: &Component) -> Vec<Exposure> {
    let Some(spec) = &s.spec else {
        return Vec::new();
    };
    let name = s.metadata.name.clone().unwrap_or_default();
    let kind = spec.type_.clone().unwrap_or_else(|| "ClusterIP".into());
    let balancers: Vec<IpAddr> = s
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|all| {
            all.iter()
                .filter_map(|i| i.ip.as_deref()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let external: Vec<IpAddr> = spec
        .external_ips
        .iter()
        .flatten()
        .filter_map(|ip| ip.parse().ok())
        .collect();
    let mut out = Vec::new();
    for p in spec.ports.iter().flatten().filter(|p| leads_to(p, c)) {
        let port = u16::try_from(p.port).unwrap_or(0);
        if let (true, Some(node_port)) = (
            matches!(kind.as_str(), "NodePort" | "LoadBalancer"),
            p.node_port,
        ) {
            out.push(Exposure {
                shown: format!("Service {name}: {kind}, node port {node_port} on every node"),
                loopback_only: false,
                probe: None,
            });
        }
        let addresses = if kind == "LoadBalancer" {
            balancers.iter().chain(&external)
        } else {
            [].iter().chain(&external)
        };
        for ip in addresses {
            let addr = SocketAddr::new(*ip, port);
            out.push(Exposure {
                shown: format!("Service {name}: {addr}"),
                loopback_only: false,
                probe: Some(addr),
            });
        }
        if kind == "LoadBalancer" && balancers.is_empty() && p.node_port.is_none() {
            out.push(Exposure {
                shown: format!("Service {name}: LoadBalancer (address pending)"),
                loopback_only: false,
                probe: None,
            });
        }
    }
    out
}
