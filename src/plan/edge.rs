//! Docker mode's edge: Caddy terminating HTTPS for the stack's host names, redirecting HTTP,
//! adding security headers and proxying to the frontend and the CMS by their names on the
//! app network. Kubernetes renders the same routes as an Ingress (`Plan::without_edge`).

use std::collections::BTreeMap;

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
        content: caddyfile(stack, e, &routes),
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

pub(super) fn caddyfile(
    stack: &ValidatedStack,
    e: &v::Edge,
    routes: &[(String, String, u16)],
) -> String {
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
    for (name, component, port) in routes {
        out.push_str(&format!(
            "{scheme}://{name} {{\n\timport security_headers\n"
        ));
        out.push_str(&format!(
            "\treverse_proxy {}:{port}\n}}\n\n",
            host(stack, component)
        ));
    }
    out.push_str(&format!(
        "http://127.0.0.1:{HEALTH_PORT} {{\n\tbind 127.0.0.1\n\trespond /healthz 200\n}}\n"
    ));
    out
}
