//! The stack's routes as the audit reaches them from this host: through the edge when it
//! has one (the public names, the edge's port on this host), else a published port, else
//! the component's address on its Docker network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use super::http::RouteTarget;
use super::AuditError;
use crate::api::validated::{EdgeTls, ValidatedStack};
use crate::docker::Engine;
use crate::load::Endpoint;
use crate::plan::{Plan, Role, Tier};

pub use crate::api::defaults::CMS_PING;

/// A component and the paths the audit sends it.
pub struct Wanted<'a> {
    pub component: &'a str,
    pub port: u16,
    pub paths: Vec<String>,
}

/// The routes of the audit: the frontend's pages (spec.audit.routes), its health path, the
/// CMS's API paths (spec.audit.apiRoutes) and its ping; each as one target.
pub async fn targets<E: Engine>(
    engine: &E,
    stack: &ValidatedStack,
    plan: &Plan,
) -> Result<Vec<RouteTarget>, AuditError> {
    let tls = edge_tls(engine, stack, plan).await?;
    let mut out = Vec::new();
    for w in wanted(stack, plan) {
        let base = base_for(engine, stack, plan, &w, tls.clone()).await?;
        out.extend(base.targets(&w));
    }
    Ok(out)
}

/// What the audit asks of each component that serves HTTP.
pub fn wanted<'a>(stack: &ValidatedStack, plan: &'a Plan) -> Vec<Wanted<'a>> {
    let mut wanted = Vec::new();
    for c in &plan.components {
        let Some(port) = c.ports.first().map(|p| p.container_port) else {
            continue;
        };
        let health = c
            .health
            .as_ref()
            .and_then(|h| h.http.as_ref())
            .map(|h| h.path.clone());
        let mut paths = match c.role {
            Role::Frontend => stack.audit.routes.clone(),
            Role::Cms => {
                let mut p = stack.audit.api_routes.clone();
                if !p.iter().any(|x| x == CMS_PING) {
                    p.push(CMS_PING.to_string());
                }
                p
            }
            _ => continue,
        };
        if let Some(h) = health.filter(|h| !paths.contains(h)) {
            paths.push(h);
        }
        wanted.push(Wanted {
            component: &c.name,
            port,
            paths,
        });
    }
    wanted
}

/// The TLS client for the edge's HTTPS (its internal CA, or the system's roots for ACME).
async fn edge_tls<E: Engine>(
    engine: &E,
    stack: &ValidatedStack,
    plan: &Plan,
) -> Result<Option<Arc<rustls::ClientConfig>>, AuditError> {
    let Some(edge) = stack.ingress.as_ref().and_then(|i| i.edge.as_ref()) else {
        return Ok(None);
    };
    let pem = match &edge.tls {
        EdgeTls::Off => return Ok(None),
        EdgeTls::Internal => crate::docker::edge_admin::root_ca(engine, plan)
            .await
            .map_err(AuditError::Unreachable)?,
        EdgeTls::Acme { .. } => std::fs::read(crate::load::target::SYSTEM_ROOTS).map_err(|e| {
            AuditError::Unreachable(format!("{}: {e}", crate::load::target::SYSTEM_ROOTS))
        })?,
    };
    crate::load::tls_config(&pem)
        .map(Some)
        .map_err(AuditError::Unreachable)
}

/// How one component is reached.
pub struct Base {
    pub scheme: &'static str,
    /// The public name and port, for the DNS phase.
    pub public: Option<(String, u16)>,
    pub endpoint: Endpoint,
    /// The host (and port) as the report shows it.
    pub shown: String,
}

impl Base {
    /// A target per path of the component.
    pub fn targets(&self, w: &Wanted<'_>) -> Vec<RouteTarget> {
        w.paths
            .iter()
            .map(|path| RouteTarget {
                name: format!("{} {path}", w.component),
                component: w.component.to_string(),
                url: format!("{}://{}{path}", self.scheme, self.shown),
                endpoint: self.endpoint.clone(),
                path: path.clone(),
                public: self.public.clone(),
            })
            .collect()
    }
}

/// How the audit reaches a component from this host.
async fn base_for<E: Engine>(
    engine: &E,
    stack: &ValidatedStack,
    plan: &Plan,
    w: &Wanted<'_>,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Base, AuditError> {
    let edge = stack.ingress.as_ref().and_then(|i| i.edge.as_ref());
    let route = plan.edge.as_ref().and_then(|s| s.route(w.component));
    if let (Some(e), Some(r)) = (edge, route) {
        let ip = e.local_ip();
        let (scheme, port) = if tls.is_some() {
            ("https", e.https_port)
        } else {
            ("http", e.http_port)
        };
        let default_port = if tls.is_some() { 443 } else { 80 };
        let shown = if port == default_port {
            r.host.clone()
        } else {
            format!("{}:{port}", r.host)
        };
        let endpoint = Endpoint {
            addr: SocketAddr::new(ip, port),
            host: r.host.clone(),
            server_name: r.host.clone(),
            tls,
        };
        return Ok(Base {
            scheme,
            public: Some((r.host.clone(), default_port)),
            endpoint,
            shown,
        });
    }
    let addr = match stack.published.iter().find(|p| p.component == w.component) {
        Some(p) => {
            let ip = if p.bind.is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                p.bind
            };
            SocketAddr::new(ip, p.host_port)
        }
        None => {
            let container = plan.object_name(w.component);
            let network = crate::plan::names::network_name(&plan.stack, Tier::App);
            let ip = engine
                .network_ip(&container, &network)
                .await
                .map_err(|e| AuditError::Unreachable(e.to_string()))?
                .ok_or_else(|| {
                    AuditError::Unreachable(format!(
                        "{container} has no address on {network}: is the stack up?"
                    ))
                })?;
            SocketAddr::new(ip, w.port)
        }
    };
    let endpoint = Endpoint {
        addr,
        host: addr.to_string(),
        server_name: addr.ip().to_string(),
        tls: None,
    };
    Ok(Base {
        scheme: "http",
        public: None,
        endpoint,
        shown: addr.to_string(),
    })
}
