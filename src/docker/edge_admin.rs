//! Talks to the edge's Caddy through its admin API, a Unix socket inside the edge container
//! (never a port): a new config is loaded in place (listeners and certificates stay, so a
//! cutover drops no connection).
//! curl in the edge image carries the requests; every value travels as its own argument.

use std::collections::{BTreeMap, BTreeSet};

use super::engine::Engine;
use super::error::DockerError;
use crate::plan::edge::{EdgeSite, ADMIN_SOCKET, EDGE};
use crate::plan::names::network_name;
use crate::plan::{Plan, Tier};

/// curl against the admin socket. Caddy accepts only an empty Host on a socket listener
/// (`Host;` sends the header with no value; Go requires the header itself).
fn admin_curl(path: &str) -> Vec<String> {
    [
        "curl",
        "-sS",
        "--fail-with-body",
        "--max-time",
        "10",
        "-H",
        "Host;",
        "--unix-socket",
        ADMIN_SOCKET,
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("http://localhost{path}")])
    .collect()
}

/// The edge container of the plan, when the plan has one and it runs (its admin socket
/// answers from the start; the engine's health status lags by up to its interval).
pub async fn running_edge<E: Engine>(
    engine: &E,
    plan: &Plan,
) -> Result<Option<String>, DockerError> {
    if plan.edge.is_none() {
        return Ok(None);
    }
    let name = plan.object_name(EDGE);
    let observed = engine.list_containers(&plan.stack).await?;
    Ok(observed
        .iter()
        .any(|o| o.name == name && o.state == "running")
        .then_some(name))
}

/// Loads `caddyfile` into the running edge (Caddy adapts it and swaps the config
/// gracefully: requests under way finish on the old handlers).
pub async fn load<E: Engine>(engine: &E, edge: &str, caddyfile: &str) -> Result<(), DockerError> {
    let mut cmd = admin_curl("/load");
    // --data-raw: the text is never read as `@file`.
    cmd.splice(
        cmd.len() - 1..cmd.len() - 1,
        [
            "-H".to_string(),
            "Content-Type: text/caddyfile".to_string(),
            "--data-raw".to_string(),
            caddyfile.to_string(),
        ],
    );
    let out = engine.exec(edge, cmd).await?;
    if out.exit_code != 0 {
        return Err(DockerError::Edge(out.output.trim().to_string()));
    }
    Ok(())
}

/// The address the edge reaches `container` at: its address on the app network (the
/// edge's), with the component's port. Addresses, not names: a container renamed after
/// the switch keeps its address, and the old one's name never answers for the new.
pub async fn upstream_of<E: Engine>(
    engine: &E,
    plan: &Plan,
    container: &str,
    port: u16,
) -> Result<String, DockerError> {
    let network = network_name(&plan.stack, Tier::App);
    let ip = engine
        .network_ip(container, &network)
        .await?
        .ok_or_else(|| DockerError::Other(format!("{container} has no address on {network}")))?;
    Ok(std::net::SocketAddr::new(ip, port).to_string())
}

/// The edge's config with `component` (when it routes it) sent to `container`, every
/// other route to the container that serves it now, and `maintenance` routes answering 503.
pub async fn config_for<E: Engine>(
    engine: &E,
    plan: &Plan,
    site: &EdgeSite,
    targets: &BTreeMap<String, String>,
    maintenance: &BTreeSet<String>,
) -> Result<String, DockerError> {
    let mut upstreams = BTreeMap::new();
    for r in &site.routes {
        match targets.get(&r.component) {
            Some(container) => {
                let address = upstream_of(engine, plan, container, r.port).await?;
                upstreams.insert(r.component.clone(), address);
            }
            // A route whose container is not up keeps the name the Caddyfile on disk has.
            None => {
                let container = plan.object_name(&r.component);
                if let Ok(address) = upstream_of(engine, plan, &container, r.port).await {
                    upstreams.insert(r.component.clone(), address);
                }
            }
        }
    }
    Ok(site.render(&upstreams, maintenance))
}

/// Where Caddy keeps its internal CA's root certificate (in its data volume).
const CA_ROOT: &str = "/data/caddy/pki/authorities/local/root.crt";

/// The edge's internal CA root (PEM), read through the engine: what a client on this host
/// trusts to reach the stack's routes over HTTPS without ACME.
pub async fn root_ca<E: Engine>(engine: &E, plan: &Plan) -> Result<Vec<u8>, String> {
    let edge = plan.object_name(EDGE);
    let out = engine
        .exec(&edge, vec!["cat".into(), CA_ROOT.into()])
        .await
        .map_err(|e| e.to_string())?;
    if out.exit_code != 0 {
        return Err(format!(
            "the edge's CA root is not readable yet ({})",
            out.output.trim()
        ));
    }
    Ok(out.output.into_bytes())
}
