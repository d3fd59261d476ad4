//! The audit in Kubernetes mode, all through the cluster's API: the routes timed through
//! port-forwards to the components' pods, psql and redis-cli through `pods/exec`, headroom
//! from the resource metrics API. Nothing needs a route into the cluster's network.

use std::time::Instant;

use kube::Client;

use super::exec::InPod;
use super::forward::{self, Forward};
use super::http::RouteTarget;
use super::recommend::HostShare;
use super::routes::{wanted, Base};
use super::{
    assemble, check_auditable, kube_usage, measure, AuditError, AuditReport, AuditRequest, Headroom,
};
use crate::api::ValidatedStack;
use crate::kube::runner::KubeRunner;
use crate::load::Endpoint;
use crate::plan::Plan;

/// Why the capacity test does not run in this mode.
pub const NO_CAPACITY: &str = "not run in Kubernetes mode: its steps are sampled every few \
seconds, finer than the resource metrics API's window (metrics-server averages over 15 s or \
more), and load sent through the API server's port-forward would measure the tunnel, not \
the stack. Measure from a machine near the cluster with `appstack load` against the \
Ingress host";

/// Audits AppStack `stack` in namespace `ns`.
pub async fn run(
    client: Client,
    ns: &str,
    stack: &ValidatedStack,
    plan: &Plan,
    req: &AuditRequest,
) -> Result<AuditReport, AuditError> {
    let started = Instant::now();
    check_auditable(stack, plan)?;
    let (components, nodes, unmeasured) = kube_usage::measure(&client, ns, &stack.name).await;
    let runner = KubeRunner {
        client,
        namespace: ns.to_string(),
        stack: stack.name.clone(),
        pod: None,
        local: Vec::new(),
    };
    let (targets, _forwards) = targets(&runner, stack, plan).await?;
    let exec = InPod { runner };
    let measured = measure(&exec, stack, &targets, req, started).await?;
    let capacity_error = req.capacity.as_ref().map(|_| NO_CAPACITY.to_string());
    let share = share(&nodes, &components);
    let headroom = Headroom {
        runtime: format!("kubernetes (namespace {ns})"),
        host: None,
        nodes,
        components,
        unmeasured,
    };
    Ok(assemble(
        stack,
        req,
        measured,
        headroom,
        (None, capacity_error),
        &share,
    ))
}

/// Each route through a port-forward to a running pod of its component; the forwards
/// live as long as the returned handles.
async fn targets(
    runner: &KubeRunner,
    stack: &ValidatedStack,
    plan: &Plan,
) -> Result<(Vec<RouteTarget>, Vec<Forward>), AuditError> {
    let mut out = Vec::new();
    let mut forwards = Vec::new();
    for w in wanted(stack, plan) {
        let pod = runner
            .pod(w.component)
            .await
            .map_err(|e| AuditError::Unreachable(e.to_string()))?;
        let fwd = forward::start(runner.client.clone(), &runner.namespace, &pod, w.port)
            .await
            .map_err(|e| AuditError::Unreachable(format!("a port-forward to {pod}: {e}")))?;
        let base = Base {
            scheme: "http",
            public: None,
            endpoint: Endpoint {
                addr: fwd.addr,
                host: format!("localhost:{}", w.port),
                server_name: "localhost".into(),
                tls: None,
            },
            shown: format!("{pod}:{}", w.port),
        };
        out.extend(base.targets(&w));
        forwards.push(fwd);
    }
    Ok((out, forwards))
}

/// What the database's node offers it, for sizing its parameters when it has no limits.
fn share(nodes: &[kube_usage::NodeUsage], idle: &[super::usage::ComponentUsage]) -> HostShare {
    let db_pod = idle
        .iter()
        .find(|c| c.component == "database")
        .and_then(|c| c.container.split('/').next());
    let node = nodes
        .iter()
        .find(|n| db_pod.is_some_and(|p| n.pods.iter().any(|x| x == p)))
        .or(nodes.first());
    let on_node = |c: &&super::usage::ComponentUsage| {
        node.is_some_and(|n| {
            n.pods
                .iter()
                .any(|p| c.container.split('/').next() == Some(p))
        })
    };
    HostShare {
        ram: node.map_or(0, |n| n.memory_allocatable),
        cpus: node.map_or(1, |n| n.cpu_allocatable.floor().max(1.0) as u32),
        others_memory: idle
            .iter()
            .filter(on_node)
            .filter(|c| c.component != "database")
            .map(|c| c.memory_bytes)
            .sum(),
    }
}
