//! Checks of `spec.ingress.edge` and the TLS settings Docker mode's edge proxy uses.

use std::net::IpAddr;
use std::str::FromStr;

use super::fields::{image, port_nonzero};
use crate::api::errors::Collector;
use crate::api::spec::{AppStackSpec, EdgeSpec, IngressSpec};
use crate::api::validated::{Edge, EdgeTls};

const P: &str = "spec.ingress.edge";

/// The edge, when a host name is set and the edge is not turned off.
pub(super) fn edge(c: &mut Collector, spec: &AppStackSpec, ing: &IngressSpec) -> Option<Edge> {
    let e = ing.edge.clone().unwrap_or_default();
    if !e.enabled || (ing.host.is_none() && ing.cms_host.is_none()) {
        return None;
    }
    for (field, host, present, target) in [
        (
            "host",
            &ing.host,
            spec.frontend.as_ref().is_some_and(|f| f.enabled),
            "frontend",
        ),
        ("cmsHost", &ing.cms_host, spec.cms.is_some(), "CMS"),
    ] {
        if host.is_some() && !present {
            c.push(
                format!("spec.ingress.{field}"),
                format!("routes to the {target}, which the stack does not run"),
            );
        }
    }
    image(c, &format!("{P}.image"), &e.image);
    let bind = IpAddr::from_str(&e.bind).unwrap_or_else(|_| {
        c.push(
            format!("{P}.bind"),
            format!(
                "{:?} is not an IP address (e.g. 0.0.0.0 or 127.0.0.1)",
                e.bind
            ),
        );
        IpAddr::from([0, 0, 0, 0])
    });
    ports(c, ing, &e);
    headers(c, &e);
    if e.drain_seconds > 3600 {
        c.push(
            format!("{P}.drainSeconds"),
            format!("{} is more than 3600 (an hour)", e.drain_seconds),
        );
    }
    if let Some(page) = &e.maintenance_page {
        if page.len() > 64 * 1024 || page.contains(['{', '}', '\n', '\r', '\0']) {
            c.push(
                format!("{P}.maintenancePage"),
                "must be one line of HTML of at most 64 KiB without braces",
            );
        }
    }
    let tls = match &ing.tls {
        Some(t) if !t.enabled => EdgeTls::Off,
        Some(t) if t.internal => EdgeTls::Internal,
        Some(t) => {
            if let Some(email) = &t.email {
                let ok = email
                    .split_once('@')
                    .is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'))
                    && !email
                        .chars()
                        .any(|ch| ch.is_whitespace() || ch.is_control());
                if !ok {
                    c.push(
                        "spec.ingress.tls.email",
                        format!("{email:?} is not an e-mail address"),
                    );
                }
            }
            EdgeTls::Acme {
                email: t.email.clone(),
            }
        }
        None => EdgeTls::Acme { email: None },
    };
    Some(Edge {
        image: e.image.clone(),
        http_port: e.http_port,
        https_port: e.https_port,
        bind,
        tls,
        headers: e.headers.clone(),
        content_security_policy: e.content_security_policy.clone(),
        drain_secs: e.drain_seconds,
        maintenance_page: e.maintenance_page.clone(),
    })
}

fn ports(c: &mut Collector, ing: &IngressSpec, e: &EdgeSpec) {
    port_nonzero(c, &format!("{P}.httpPort"), e.http_port);
    port_nonzero(c, &format!("{P}.httpsPort"), e.https_port);
    if e.http_port == e.https_port {
        c.push(
            format!("{P}.httpsPort"),
            format!("{} is also the httpPort", e.https_port),
        );
    }
    for (field, port) in [("httpPort", e.http_port), ("httpsPort", e.https_port)] {
        if let Some(i) = ing.published_ports.iter().position(|p| p.host_port == port) {
            c.push(
                format!("{P}.{field}"),
                format!("host port {port} is also spec.ingress.publishedPorts[{i}]"),
            );
        }
    }
}

/// Header names are HTTP tokens; values and the policy one line each, as Caddy's config
/// and HTTP both need.
fn headers(c: &mut Collector, e: &EdgeSpec) {
    for (name, value) in &e.headers {
        let token = !name.is_empty()
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_');
        if !token {
            c.push(
                format!("{P}.headers"),
                format!("{name:?} is not a header name (letters, digits and '-')"),
            );
        }
        if !one_line(value) {
            c.push(
                format!("{P}.headers.{name}"),
                "a header value is one line of at most 4096 printable characters, without braces",
            );
        }
    }
    if let Some(csp) = &e.content_security_policy {
        if csp.trim().is_empty() || !one_line(csp) {
            c.push(
                format!("{P}.contentSecurityPolicy"),
                "a policy is one non-empty line of at most 4096 printable characters, without braces",
            );
        }
    }
}

/// One line, and no braces: Caddy would read `{...}` as a placeholder to fill in.
fn one_line(text: &str) -> bool {
    text.len() <= 4096
        && !text
            .chars()
            .any(|ch| ch.is_control() || ch == '{' || ch == '}')
}
