//! The facts of a stack on this Docker engine: its containers (environment, bindings,
//! restarts), the secrets in the state directory, the shipper's state file and the daemon's
//! heartbeat.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::facts::{ExecFn, Exposure, Facts, HttpFn, Mode, Seen};
use super::HealthError;
use crate::api::ValidatedStack;
use crate::docker::engine::RuntimeFacts;
use crate::docker::Engine;
use crate::plan::Plan;

/// Each component's published ports: (host address, host port, container port).
type Bindings = BTreeMap<String, Vec<(String, u16, u16)>>;

pub async fn gather<E: Engine>(
    engine: Arc<E>,
    stack: &ValidatedStack,
    plan: &Plan,
    state_dir: &Path,
) -> Result<Facts, HealthError> {
    let observed = crate::docker::status::observe(engine.as_ref(), plan)
        .await
        .map_err(|e| HealthError::Engine(e.to_string()))?;
    if observed.is_empty() {
        return Err(HealthError::NoStack(format!(
            "stack {} does not run on this engine (no container): `appstack up -f` it first",
            stack.name
        )));
    }
    let outside = outside_address();
    let mut components = BTreeMap::new();
    let mut addresses = BTreeMap::new();
    let mut bindings = Bindings::new();
    for o in &observed {
        let runtime = engine.inspect_runtime(&o.name).await.unwrap_or_default();
        if let Ok(Some(ip)) = engine.container_ip(&o.name).await {
            addresses.insert(o.component.clone(), ip);
        }
        let seen = Seen {
            state: o.state.clone(),
            health: o.health,
            restarts: u32::try_from(runtime.restart_count.max(0)).unwrap_or(u32::MAX),
            env: environment(&runtime),
            exposed: exposures(&runtime, outside),
        };
        bindings.insert(o.component.clone(), runtime.bindings.clone());
        components.insert(o.component.clone(), seen);
    }
    let recoverability = match &stack.backup {
        Some(_) => crate::daemon::status::recoverability(stack).await,
        None => None,
    };
    let http = http(bindings, addresses);
    Ok(Facts {
        stack: stack.clone(),
        plan: plan.clone(),
        mode: Mode::Docker,
        components,
        recoverability,
        wal: crate::daemon::status::wal_status(stack, state_dir),
        daemon_silence: crate::daemon::liveness::silence(
            state_dir,
            &stack.name,
            chrono::Utc::now(),
        ),
        daemon_beat: "`appstack run` reports every 5 s".into(),
        passwords: passwords(plan, state_dir),
        exec: exec(engine, plan),
        http,
    })
}

fn environment(r: &RuntimeFacts) -> BTreeMap<String, String> {
    r.env
        .iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// This host's address as others on its network see it (no packet is sent).
fn outside_address() -> Option<IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Each published port; every one is tried on the host's outside address, so a binding that
/// claims loopback is proved too.
fn exposures(r: &RuntimeFacts, outside: Option<IpAddr>) -> Vec<Exposure> {
    r.bindings
        .iter()
        .map(|(ip, port, _)| {
            let shown = if ip.is_empty() { "0.0.0.0" } else { ip };
            Exposure {
                shown: format!("{shown}:{port}"),
                loopback_only: ip.parse::<IpAddr>().is_ok_and(|a| a.is_loopback()),
                probe: outside.map(|host| SocketAddr::new(host, *port)),
            }
        })
        .collect()
}

/// The stack's password files in the state directory.
fn passwords(plan: &Plan, state_dir: &Path) -> Vec<(String, String)> {
    let dir = state_dir.join("stacks").join(&plan.stack).join("secrets");
    let mut out = Vec::new();
    for s in &plan.secrets {
        for k in s.keys.iter().filter(|k| k.key.contains("password")) {
            if let Ok(value) = std::fs::read_to_string(dir.join(&s.name).join(&k.key)) {
                out.push((format!("{}/{}", s.name, k.key), value));
            }
        }
    }
    out
}

fn exec<E: Engine>(engine: Arc<E>, plan: &Plan) -> ExecFn {
    let plan = plan.clone();
    Arc::new(move |component, argv| {
        let e = engine.clone();
        let container = plan.object_name(&component);
        Box::pin(async move { e.exec(&container, argv).await.ok() })
    })
}

/// A request to the published port on this host when there is one (what a visitor meets),
/// else to the container's address on the stack's network.
fn http(bindings: Bindings, addresses: BTreeMap<String, IpAddr>) -> HttpFn {
    let bindings = Arc::new(bindings);
    Arc::new(move |component, port, path| {
        let published = bindings
            .get(&component)
            .and_then(|b| b.iter().find(|(_, _, inside)| *inside == port))
            .map(|(ip, host_port, _)| {
                let ip = match ip.parse::<IpAddr>() {
                    Ok(a) if !a.is_unspecified() => a,
                    _ => IpAddr::from([127, 0, 0, 1]),
                };
                (SocketAddr::new(ip, *host_port), "")
            });
        let inside = addresses
            .get(&component)
            .map(|ip| (SocketAddr::new(*ip, port), " (not published)"));
        Box::pin(async move {
            let Some((addr, note)) = published.or(inside) else {
                return (component, Err("it has no address to ask".into()));
            };
            let shown = format!("http://{addr}{path}{note}");
            let r = crate::ops::http::request(
                addr,
                "localhost",
                "GET",
                &path,
                None,
                Duration::from_secs(10),
            )
            .await
            .map_err(|e| e.to_string());
            (shown, r)
        })
    })
}
