//! Headroom in Kubernetes mode, from the resource metrics API (`metrics.k8s.io`, served by
//! metrics-server): each container of the stack's pods against the limits of its pod spec,
//! and each node's use against what it can allocate. The metrics are the kubelet's recent
//! averages (a window of seconds), not counters: right for headroom, too coarse for the
//! capacity test's steps.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kube::Client;
use serde::Serialize;
use serde_json::Value;

use super::usage::ComponentUsage;
use crate::plan::LABEL_STACK;

const METRICS: &str = "/apis/metrics.k8s.io/v1beta1";

/// One node's use against what it can allocate.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeUsage {
    pub name: String,
    pub cpu_cores: f64,
    pub cpu_allocatable: f64,
    pub memory_bytes: u64,
    pub memory_allocatable: u64,
    /// The stack's pods on it.
    pub pods: Vec<String>,
}

/// The stack's containers and the nodes under them; what could not be read, and why.
pub async fn measure(
    client: &Client,
    ns: &str,
    stack: &str,
) -> (Vec<ComponentUsage>, Vec<NodeUsage>, Vec<String>) {
    let mut unmeasured = Vec::new();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = format!("{LABEL_STACK}={stack}");
    let pods = match pods.list(&ListParams::default().labels(&selector)).await {
        Ok(list) => list.items,
        Err(e) => return (vec![], vec![], vec![format!("pods of {ns}/{stack}: {e}")]),
    };
    let path = format!("{METRICS}/namespaces/{ns}/pods?labelSelector={selector}");
    let components = match get(client, &path).await {
        Ok(metrics) => containers(&pods, &metrics),
        Err(e) => {
            unmeasured.push(format!("containers' CPU and memory ({path}): {e}"));
            Vec::new()
        }
    };
    let nodes = match nodes(client, &pods).await {
        Ok(n) => n,
        Err(e) => {
            unmeasured.push(format!("nodes: {e}"));
            Vec::new()
        }
    };
    (components, nodes, unmeasured)
}

async fn get(client: &Client, path: &str) -> Result<Value, String> {
    let req = http::Request::get(path)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    client.request::<Value>(req).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 404 => {
            "not served: is metrics-server installed?".to_string()
        }
        e => e.to_string(),
    })
}

/// Each running container with a reading, against its pod spec's limits.
pub fn containers(pods: &[Pod], metrics: &Value) -> Vec<ComponentUsage> {
    let mut out = Vec::new();
    let items = metrics["items"].as_array().cloned().unwrap_or_default();
    for item in &items {
        let pod_name = item["metadata"]["name"].as_str().unwrap_or_default();
        let Some(pod) = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pod_name))
        else {
            continue;
        };
        let specs = pod.spec.as_ref().map_or(&[][..], |s| &s.containers[..]);
        for c in item["containers"].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or_default();
            let limits = specs
                .iter()
                .find(|s| s.name == name)
                .and_then(|s| s.resources.as_ref())
                .and_then(|r| r.limits.clone())
                .unwrap_or_default();
            out.push(ComponentUsage {
                component: name.to_string(),
                container: format!("{pod_name}/{name}"),
                cpu_cores: cpu(c["usage"]["cpu"].as_str()).unwrap_or(0.0),
                cpu_limit: limits.get("cpu").and_then(|q| cpu(Some(&q.0))),
                memory_bytes: bytes(c["usage"]["memory"].as_str()).unwrap_or(0),
                memory_limit: limits.get("memory").and_then(|q| bytes(Some(&q.0))),
            });
        }
    }
    out.sort_by(|a, b| a.container.cmp(&b.container));
    out
}

/// The nodes the stack's pods run on, with their use.
async fn nodes(client: &Client, pods: &[Pod]) -> Result<Vec<NodeUsage>, String> {
    let mut on: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in pods {
        if let (Some(node), Some(name)) = (
            p.spec.as_ref().and_then(|s| s.node_name.clone()),
            p.metadata.name.clone(),
        ) {
            on.entry(node).or_default().push(name);
        }
    }
    let metrics = get(client, &format!("{METRICS}/nodes")).await?;
    let api: Api<Node> = Api::all(client.clone());
    let mut out = Vec::new();
    for (name, pods) in on {
        let node = api
            .get(&name)
            .await
            .map_err(|e| format!("node {name}: {e}"))?;
        let alloc = node.status.and_then(|s| s.allocatable).unwrap_or_default();
        let usage = metrics["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["metadata"]["name"].as_str() == Some(&name))
            .map(|i| i["usage"].clone())
            .unwrap_or(Value::Null);
        out.push(NodeUsage {
            cpu_cores: cpu(usage["cpu"].as_str()).unwrap_or(0.0),
            cpu_allocatable: alloc
                .get("cpu")
                .and_then(|q| cpu(Some(&q.0)))
                .unwrap_or(0.0),
            memory_bytes: bytes(usage["memory"].as_str()).unwrap_or(0),
            memory_allocatable: alloc
                .get("memory")
                .and_then(|q| bytes(Some(&q.0)))
                .unwrap_or(0),
            name,
            pods,
        });
    }
    Ok(out)
}

/// A CPU quantity in cores: `2`, `250m`, `1500u`, `12345678n`.
pub fn cpu(q: Option<&str>) -> Option<f64> {
    let q = q?.trim();
    let (digits, scale) = match q.char_indices().last()? {
        (i, 'n') => (&q[..i], 1e-9),
        (i, 'u') => (&q[..i], 1e-6),
        (i, 'm') => (&q[..i], 1e-3),
        _ => (q, 1.0),
    };
    digits.parse::<f64>().ok().map(|n| n * scale)
}

/// A memory quantity in bytes: `123456`, `512Ki`, `1Gi`, `1G`, `1e9`.
pub fn bytes(q: Option<&str>) -> Option<u64> {
    let q = q?.trim();
    const UNITS: [(&str, f64); 12] = [
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (digits, scale) = UNITS
        .iter()
        .find_map(|(u, s)| q.strip_suffix(u).map(|d| (d, *s)))
        .unwrap_or((q, 1.0));
    digits.parse::<f64>().ok().map(|n| (n * scale) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_the_api_writes_them() {
        assert_eq!(cpu(Some("250m")), Some(0.25));
        assert_eq!(cpu(Some("2")), Some(2.0));
        assert!((cpu(Some("12345678n")).unwrap() - 0.012345678).abs() < 1e-12);
        assert_eq!(cpu(Some("x")), None);
        assert_eq!(bytes(Some("512Ki")), Some(524288));
        assert_eq!(bytes(Some("1Gi")), Some(1 << 30));
        assert_eq!(bytes(Some("1G")), Some(1_000_000_000));
        assert_eq!(bytes(Some("1e9")), Some(1_000_000_000));
        assert_eq!(bytes(Some("300")), Some(300));
    }

    #[test]
    fn containers_meet_their_limits() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "shop-database-0"},
            "spec": {"containers": [{"name": "database",
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}
        }))
        .unwrap();
        let metrics = serde_json::json!({"items": [{"metadata": {"name": "shop-database-0"},
            "containers": [{"name": "database", "usage": {"cpu": "500m", "memory": "256Mi"}}]}]});
        let c = containers(&[pod], &metrics);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].container, "shop-database-0/database");
        assert_eq!(c[0].cpu_percent(), Some(50.0));
        assert_eq!(c[0].memory_percent(), Some(25.0));
    }
}
