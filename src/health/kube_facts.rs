//! The facts of an AppStack in the cluster: its object (spec and the status the operator,
//! the WAL shipper and the backup jobs report), its pods (state, readiness, restarts,
//! environment), the Services that select them, the passwords in its Secrets; commands run
//! through `pods/exec` and HTTP goes through a port-forward, so nothing needs a route into
//! the cluster's network.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, Secret};
use kube::api::{Api, ListParams};
use kube::Client;

use super::facts::{ExecFn, Facts, HttpFn, Mode, Seen};
use super::HealthError;
use crate::api::status::RecoverabilityStatus;
use crate::api::AppStack;
use crate::docker::engine::{ExecOutput, Health};
use crate::kube::runner::KubeRunner;
use crate::plan::{Plan, Role, LABEL_COMPONENT, LABEL_STACK};
use crate::protect::runner::Runner;
use crate::protect::shipper::ShipStatus;
use crate::protect::verdicts::{parse_time, wal_shipping, Protection};

const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

fn cluster(what: &str, e: kube::Error) -> HealthError {
    HealthError::Cluster(format!("{what}: {e}"))
}

pub async fn gather(client: Client, ns: &str, name: &str) -> Result<Facts, HealthError> {
    let api: Api<AppStack> = Api::namespaced(client.clone(), ns);
    let object = api
        .get_opt(name)
        .await
        .map_err(|e| cluster(&format!("reading AppStack {ns}/{name}"), e))?
        .ok_or_else(|| {
            HealthError::NoStack(format!(
                "--stack {name}: there is no AppStack {name} in namespace {ns}"
            ))
        })?;
    let stack = crate::api::validate::validate(&object, &format!("AppStack {ns}/{name}"))
        .map_err(|e| HealthError::Invalid(e.to_string()))?;
    let plan = crate::plan::build(&stack).without_edge();
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let listed = pods
        .list(&ListParams::default().labels(&format!("{LABEL_STACK}={name}")))
        .await
        .map_err(|e| cluster(&format!("listing the pods of {ns}/{name}"), e))?;
    let listed: Vec<Pod> = listed
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let services = super::kube_exposure::gather(&client, ns, &plan, &listed).await?;
    let mut components = BTreeMap::new();
    for c in &plan.components {
        let of: Vec<&Pod> = listed
            .iter()
            .filter(|p| pod_component(p) == Some(pod_of(&plan, &c.name)))
            .collect();
        if let Some(mut seen) = seen(&of, &c.name, c.health.is_some()) {
            seen.exposed = services.get(&c.name).cloned().unwrap_or_default();
            components.insert(c.name.clone(), seen);
        }
    }
    let status = object.status.clone().unwrap_or_default();
    let recoverability = status.recoverability.clone();
    let created = object.metadata.creation_timestamp.as_ref().and_then(|t| {
        chrono::DateTime::parse_from_rfc3339(&t.0.to_string())
            .ok()
            .map(|d| d.with_timezone(&chrono::Utc))
    });
    let protection = Protection::of(&stack, &plan, created);
    let (daemon_silence, daemon_beat) = daemon(
        &object,
        recoverability.as_ref(),
        &protection,
        stack.name.as_str(),
    );
    Ok(Facts {
        passwords: passwords(&client, ns, &plan).await?,
        wal: recoverability.as_ref().and_then(ship_status),
        recoverability,
        daemon_silence,
        daemon_beat,
        exec: exec(client.clone(), ns, &plan),
        http: http(client, ns, &plan),
        mode: Mode::Kubernetes {
            namespace: ns.into(),
        },
        components,
        stack,
        plan,
    })
}

/// The pods a component's container runs in: the WAL receiver and the backup sidecars live
/// in the database's pod.
pub(super) fn pod_of<'a>(plan: &Plan, component: &'a str) -> &'a str {
    match plan.component(component).map(|c| c.role) {
        Some(Role::Backup) => "database",
        _ => component,
    }
}

fn pod_component(p: &Pod) -> Option<&str> {
    p.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_COMPONENT))
        .map(String::as_str)
}

fn running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

/// The component's container across its pods: the worst state, the summed restarts.
fn seen(pods: &[&Pod], container: &str, probed: bool) -> Option<Seen> {
    let mut out: Option<Seen> = None;
    for p in pods {
        let spec: Option<&Container> = p
            .spec
            .as_ref()
            .and_then(|s| s.containers.iter().find(|c| c.name == container));
        let status: Option<&ContainerStatus> = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .and_then(|all| all.iter().find(|c| c.name == container));
        let phase = p
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_else(|| "Pending".into());
        let this = Seen {
            state: state(status, &phase),
            health: match status {
                _ if !probed => Health::None,
                Some(s) if s.ready => Health::Healthy,
                Some(s) if s.started == Some(false) => Health::Starting,
                _ => Health::Unhealthy,
            },
            restarts: status
                .map(|s| u32::try_from(s.restart_count.max(0)).unwrap_or(u32::MAX))
                .unwrap_or(0),
            env: spec
                .and_then(|c| c.env.as_ref())
                .map(|env| {
                    env.iter()
                        .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                        .collect()
                })
                .unwrap_or_default(),
            exposed: Vec::new(),
        };
        out = Some(match out {
            None => this,
            Some(prev) => worse(prev, this),
        });
    }
    out
}

fn state(status: Option<&ContainerStatus>, phase: &str) -> String {
    let Some(state) = status.and_then(|s| s.state.as_ref()) else {
        return phase.to_string();
    };
    if state.running.is_some() {
        return "running".into();
    }
    if let Some(w) = &state.waiting {
        return w.reason.clone().unwrap_or_else(|| "waiting".into());
    }
    match &state.terminated {
        Some(t) => format!(
            "terminated ({})",
            t.reason.clone().unwrap_or_else(|| t.exit_code.to_string())
        ),
        None => phase.to_string(),
    }
}

fn worse(a: Seen, b: Seen) -> Seen {
    let restarts = a.restarts.saturating_add(b.restarts);
    let rank = |s: &Seen| (s.state != "running", s.health != Health::Healthy);
    let mut pick = if rank(&b) > rank(&a) { b } else { a };
    pick.restarts = restarts;
    pick
}

/// The passwords in the stack's Secrets; a Secret not created yet is skipped, one that
/// cannot be read is an error (a check that cannot look must not pass).
async fn passwords(
    client: &Client,
    ns: &str,
    plan: &Plan,
) -> Result<Vec<(String, String)>, HealthError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let mut out = Vec::new();
    for s in &plan.secrets {
        let keys: Vec<&str> = s
            .keys
            .iter()
            .map(|k| k.key.as_str())
            .filter(|k| k.contains("password"))
            .collect();
        if keys.is_empty() {
            continue;
        }
        let object_name = crate::kube::pod::secret_name(plan, &s.name);
        let Some(secret) = api
            .get_opt(&object_name)
            .await
            .map_err(|e| cluster(&format!("reading Secret {ns}/{object_name}"), e))?
        else {
            continue;
        };
        let data = secret.data.unwrap_or_default();
        for k in keys {
            if let Some(v) = data.get(k) {
                let value = String::from_utf8_lossy(&v.0).into_owned();
                out.push((format!("{}/{k}", s.name), value));
            }
        }
    }
    Ok(out)
}

/// The shipper's state as it reported it into the status.
fn ship_status(r: &RecoverabilityStatus) -> Option<ShipStatus> {
    let synced_at = parse_time(&r.wal_synced_at);
    let newest_wal_at = parse_time(&r.last_wal_shipped);
    (synced_at.is_some() || newest_wal_at.is_some()).then(|| ShipStatus {
        synced_at,
        newest_wal_at,
        spool_bytes: r.spool_bytes.unwrap_or(0),
        last_error: r.wal_error.clone(),
        ..Default::default()
    })
}

/// Whether the operator and the WAL shipper report: the operator has acted on the newest
/// spec, and (when WAL streams) the shipper's heartbeat is recent.
fn daemon(
    object: &AppStack,
    facts: Option<&RecoverabilityStatus>,
    protection: &Protection,
    stack: &str,
) -> (Option<String>, String) {
    let generation = object.metadata.generation.unwrap_or(0);
    let observed = object
        .status
        .as_ref()
        .and_then(|s| s.observed_generation)
        .unwrap_or(0);
    let mut silent = Vec::new();
    if observed < generation {
        silent.push(format!(
            "the operator has not acted on generation {generation} of {stack} (status is of generation {observed})"
        ));
    }
    let mut beat = format!("the operator acted on generation {generation}");
    if protection.ship_interval.is_some() {
        let empty = RecoverabilityStatus::default();
        let (ok, reason, message) =
            wal_shipping(facts.unwrap_or(&empty), protection, chrono::Utc::now());
        match (ok, reason) {
            (Some(false), "ShipperSilent") | (None, "NotReported") => silent.push(message),
            _ => beat.push_str(&format!(
                "; the WAL shipper reported at {}",
                facts
                    .and_then(|f| f.wal_synced_at.clone())
                    .unwrap_or_default()
            )),
        }
    }
    ((!silent.is_empty()).then(|| silent.join("; ")), beat)
}

/// A running pod of the component the container lives in.
async fn running_pod(client: &Client, ns: &str, plan: &Plan, component: &str) -> Option<String> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = format!(
        "{LABEL_STACK}={},{LABEL_COMPONENT}={}",
        plan.stack,
        pod_of(plan, component)
    );
    let pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .ok()?;
    pods.items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && running(p))
        .find_map(|p| p.metadata.name)
}

fn exec(client: Client, ns: &str, plan: &Plan) -> ExecFn {
    let ns = ns.to_string();
    let plan = plan.clone();
    Arc::new(move |component, argv| {
        let (client, ns, plan) = (client.clone(), ns.clone(), plan.clone());
        Box::pin(async move {
            let pod = running_pod(&client, &ns, &plan, &component).await?;
            let runner = KubeRunner {
                client,
                namespace: ns,
                stack: plan.stack.clone(),
                pod: Some(pod),
                local: Vec::new(),
            };
            let (tx, mut rx) = tokio::sync::mpsc::channel::<Bytes>(16);
            let collect = tokio::spawn(async move {
                let mut out = Vec::new();
                while let Some(c) = rx.recv().await {
                    out.extend_from_slice(&c);
                }
                out
            });
            let done = runner.run(&component, argv, tx).await.ok()?;
            let stdout = collect.await.ok()?;
            let mut output = String::from_utf8_lossy(&stdout).into_owned();
            output.push_str(&done.stderr);
            Some(ExecOutput {
                exit_code: done.exit_code,
                output,
            })
        })
    })
}

/// GETs through a port-forward to a running pod of the component.
fn http(client: Client, ns: &str, plan: &Plan) -> HttpFn {
    let ns = ns.to_string();
    let plan = plan.clone();
    Arc::new(move |component, port, path| {
        let (client, ns, plan) = (client.clone(), ns.clone(), plan.clone());
        Box::pin(async move {
            let Some(pod) = running_pod(&client, &ns, &plan, &component).await else {
                return (
                    format!("{component} (port-forward)"),
                    Err(format!("no running pod of {component}")),
                );
            };
            let shown = format!("http://127.0.0.1:{port}{path} in pod {ns}/{pod} (port-forward)");
            let api: Api<Pod> = Api::namespaced(client, &ns);
            let answer = async {
                let mut forward = api
                    .portforward(&pod, &[port])
                    .await
                    .map_err(|e| e.to_string())?;
                let stream = forward
                    .take_stream(port)
                    .ok_or_else(|| "the port-forward carries no stream".to_string())?;
                let r = crate::ops::http::request_over(
                    stream,
                    &shown,
                    "localhost",
                    "GET",
                    &path,
                    None,
                    HTTP_TIMEOUT,
                )
                .await
                .map_err(|e| e.to_string());
                forward.abort();
                r
            };
            let r = answer.await;
            (shown, r)
        })
    })
}
