//! Docker mode's edge: Caddy terminating HTTPS for the stack's host names, redirecting HTTP,
//! adding security headers and proxying to the frontend and the CMS by their names on the
//! app network. Kubernetes renders the same routes as an Ingress (`Plan::without_edge`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::build::{component, host, http_health, port, Parts};
use super::*;
use crate::api::validated::{self as v, EdgeTls, ValidatedStack};

pub const EDGE: &str = "edge";
pub const CADDYFILE: &str = "/etc/caddy/Caddyfile";
/// Caddy's admin API: a Unix socket inside the container, never a port.
pub const ADMIN_SOCKET: &str = "/run/caddy/admin.sock";
/// Certificates and the internal CA (kept across restarts: ACME has rate limits).
pub const DATA_DIR: &str = "/data";
pub const DATA_VOLUME: &str = "edge-data";
/// Loopback-only listener the health probe asks.
const HEALTH_PORT: u16 = 8081;

/// No connection to an upstream is reused: Node closes an idle keep-alive socket after
/// 5 s, and when its event loop is busy that timer fires before it reads a request Caddy has
/// already sent on the socket (measured: bursts of 502 "connection reset" and "EOF" under
/// load). A fresh connection on the stack's bridge costs well under a millisecond. A dial
/// that fails is retried for a moment instead of answering 502.
const UPSTREAM_OPTIONS: &str =
    "\t\ttransport http {\n\t\t\tkeepalive off\n\t\t}\n\t\tlb_try_duration 3s\n\t\tlb_try_interval 100ms\n";

/// The headers every routed response gets unless the spec replaces or removes them.
fn default_headers(tls: bool) -> BTreeMap<String, String> {
    let mut h: BTreeMap<String, String> = [
        ("X-Content-Type-Options", "nosniff"),
        ("X-Frame-Options", "SAMEORIGIN"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        (
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=()",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if tls {
        h.insert(
            "Strict-Transport-Security".into(),
            "max-age=31536000; includeSubDomains".into(),
        );
    }
    h
}

/// Same origin only, with the inline scripts and styles Next.js emits; no plugins, no
/// framing by other sites.
pub const DEFAULT_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: https:; font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

/// The routes the edge serves: host → (component, port).
fn routes(stack: &ValidatedStack) -> Vec<(String, String, u16)> {
    let Some(ing) = &stack.ingress else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let (Some(h), Some(f)) = (&ing.host, &stack.frontend) {
        out.push((h.clone(), "frontend".to_string(), f.port));
    }
    if let (Some(h), Some(c)) = (&ing.cms_host, &stack.cms) {
        out.push((h.clone(), "cms".to_string(), c.app.port));
    }
    out
}

pub(super) fn edge(stack: &ValidatedStack, parts: &mut Parts) {
    let Some(e) = stack.ingress.as_ref().and_then(|i| i.edge.as_ref()) else {
        return;
    };
    let routes = routes(stack);
    if routes.is_empty() {
        return;
    }
    parts.volumes.push(Volume {
        name: DATA_VOLUME.into(),
        size_bytes: 1 << 30,
    });
    let mut c = component(stack, EDGE, Role::Edge, &e.image, v::Resources::default());
    c.args = Some(
        [
            "caddy",
            "run",
            "--config",
            CADDYFILE,
            "--adapter",
            "caddyfile",
        ]
        .map(String::from)
        .to_vec(),
    );
    c.env = BTreeMap::from([
        ("XDG_DATA_HOME".to_string(), DATA_DIR.to_string()),
        ("XDG_CONFIG_HOME".to_string(), "/config".to_string()),
    ]);
    c.files = vec![ConfigFile {
        name: "Caddyfile".into(),
        path: CADDYFILE.into(),
        content: edge_site(stack, e, &routes).render(&BTreeMap::new(), &BTreeSet::new()),
    }];
    let publish = |host_port| {
        Some(Publish {
            host_ip: e.bind.to_string(),
            host_port,
        })
    };
    c.ports = vec![
        Port {
            publish: publish(e.http_port),
            ..port("http", 80)
        },
        Port {
            publish: publish(e.https_port),
            ..port("https", 443)
        },
    ];
    c.mounts = vec![
        Mount::Volume {
            volume: DATA_VOLUME.into(),
            path: DATA_DIR.into(),
        },
        Mount::Scratch {
            name: "edge-config".into(),
            path: "/config".into(),
        },
        Mount::Scratch {
            name: "edge-admin".into(),
            path: "/run/caddy".into(),
        },
    ];
    c.health = Some(http_health(HEALTH_PORT, "/healthz"));
    // Traffic reaches an upstream only once it is healthy: no 502 while the stack starts.
    c.depends_on = routes
        .iter()
        .map(|(_, name, _)| Dependency {
            component: name.clone(),
            condition: Condition::Healthy,
        })
        .collect();
    parts.comps.push(c);
}

/// A Caddyfile value: double-quoted, with quotes escaped (validation keeps values on one
/// line and free of placeholders' braces).
fn quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The edge's whole configuration, kept in the plan so the Docker driver can load it again
/// with other upstreams (a cutover) or a maintenance page, through Caddy's admin API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeSite {
    /// Global options and the security-header snippet.
    pub preamble: String,
    pub routes: Vec<EdgeRoute>,
    /// The loopback health listener.
    pub health: String,
    /// Seconds a replaced upstream keeps its in-flight requests.
    pub drain_secs: u32,
    /// The 503 page while a deploy migrates.
    pub maintenance_page: String,
}

/// One host name the edge serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeRoute {
    /// `https://app.example.com` (or `http://` without TLS).
    pub site: String,
    /// The host name alone.
    pub host: String,
    pub component: String,
    /// `<stack>-<component>:<port>`: the address the Caddyfile on disk names.
    pub upstream: String,
    pub port: u16,
}

impl EdgeRoute {
    /// The upstream's host name, without the port.
    pub fn upstream_host(&self) -> &str {
        self.upstream
            .rsplit_once(':')
            .map_or(self.upstream.as_str(), |(host, _)| host)
    }
}

impl EdgeSite {
    /// The Caddyfile with `upstreams` (component → `ip:port`) in place of the names on
    /// disk (resolved through the engine's DNS once a second), and the components in
    /// `maintenance` answering with the maintenance page.
    pub fn render(
        &self,
        upstreams: &BTreeMap<String, String>,
        maintenance: &BTreeSet<String>,
    ) -> String {
        let mut out = self.preamble.clone();
        for r in &self.routes {
            out.push_str(&format!("{} {{\n\timport security_headers\n", r.site));
            if maintenance.contains(&r.component) {
                out.push_str("\theader Content-Type \"text/html; charset=utf-8\"\n");
                out.push_str("\theader Retry-After 30\n\theader Cache-Control no-store\n");
                // What the deploy probe tells apart from a failure.
                out.push_str("\theader X-Appstack-Maintenance 1\n");
                out.push_str(&format!(
                    "\trespond {} 503\n}}\n\n",
                    quoted(&self.maintenance_page)
                ));
                continue;
            }
            match upstreams.get(&r.component) {
                Some(to) => out.push_str(&format!("\treverse_proxy {to} {{\n")),
                // By name, resolved once a second rather than for every request.
                None => out.push_str(&format!(
                    "\treverse_proxy {{\n\t\tdynamic a {} {} {{\n\t\t\trefresh 1s\n\t\t}}\n",
                    r.upstream_host(),
                    r.port
                )),
            }
            out.push_str(&format!("{UPSTREAM_OPTIONS}\t}}\n}}\n\n"));
        }
        out.push_str(&self.health);
        out
    }

    /// The route of `component`, if the edge serves it.
    pub fn route(&self, component: &str) -> Option<&EdgeRoute> {
        self.routes.iter().find(|r| r.component == component)
    }
}

/// The edge of a stack (None without one).
pub(super) fn site(stack: &ValidatedStack) -> Option<EdgeSite> {
    let e = stack.ingress.as_ref().and_then(|i| i.edge.as_ref())?;
    let routes = routes(stack);
    (!routes.is_empty()).then(|| edge_site(stack, e, &routes))
}

fn edge_site(stack: &ValidatedStack, e: &v::Edge, routes: &[(String, String, u16)]) -> EdgeSite {
    let tls = e.serves_https();
    let mut out = String::from("{\n");
    // Caddy autosaves the running config under XDG_CONFIG_HOME, a tmpfs here: the
    // Caddyfile stays the only source of truth across restarts.
    out.push_str(&format!("\tadmin unix/{ADMIN_SOCKET}\n"));
    match &e.tls {
        // The CA stays in the edge: nothing is installed into a system trust store.
        EdgeTls::Internal => out.push_str("\tlocal_certs\n\tskip_install_trust\n"),
        EdgeTls::Acme { email: Some(m) } => out.push_str(&format!("\temail {}\n", quoted(m))),
        EdgeTls::Acme { email: None } => {}
        EdgeTls::Off => out.push_str("\tauto_https off\n"),
    }
    out.push_str("\tservers {\n\t\tprotocols h1 h2\n\t}\n}\n\n");
    let mut headers = default_headers(tls);
    for (k, v) in &e.headers {
        if v.is_empty() {
            headers.remove(k);
        } else {
            headers.insert(k.clone(), v.clone());
        }
    }
    out.push_str("(security_headers) {\n\theader {\n");
    for (k, v) in &headers {
        out.push_str(&format!("\t\t{k} {}\n", quoted(v)));
    }
    let csp = e.content_security_policy.as_deref().unwrap_or(DEFAULT_CSP);
    // `?`: the application's own policy (Directus sends one) wins over the default.
    out.push_str(&format!("\t\t?Content-Security-Policy {}\n", quoted(csp)));
    out.push_str("\t\t-Server\n\t}\n}\n\n");
    let scheme = if tls { "https" } else { "http" };
    EdgeSite {
        preamble: out,
        routes: routes
            .iter()
            .map(|(name, component, port)| EdgeRoute {
                site: format!("{scheme}://{name}"),
                host: name.clone(),
                component: component.clone(),
                upstream: format!("{}:{port}", host(stack, component)),
                port: *port,
            })
            .collect(),
        health: format!(
            "http://127.0.0.1:{HEALTH_PORT} {{\n\tbind 127.0.0.1\n\trespond /healthz 200\n}}\n"
        ),
        drain_secs: e.drain_secs,
        maintenance_page: e.maintenance_page.clone().unwrap_or_else(|| {
            format!(
                "<!doctype html><html lang=en><meta charset=utf-8><title>Maintenance</title><h1>Back in a moment</h1><p>{} is being updated. Please try again in a minute.</p></html>",
                stack.name
            )
        }),
    }
}
