//! Security posture: debug off, cookie settings, security headers and CSP on the public
//! endpoint (a real request), no weak passwords, database and cache not reachable from
//! outside (the engine's bindings and a real connection attempt), TLS when a host is set.

use std::time::Duration;

use super::facts::Facts;
use super::{Check, Group, Level};

const G: Group = Group::Security;

/// Passwords nobody should be able to guess (the usual first tries).
const COMMON: &[&str] = &[
    "admin",
    "admin123",
    "administrator",
    "changeme",
    "directus",
    "letmein",
    "password",
    "password1",
    "password123",
    "postgres",
    "qwerty",
    "secret",
    "123456",
    "12345678",
    "123456789",
    "welcome",
];
const MIN_PASSWORD: usize = 12;

pub async fn checks(f: &Facts) -> Vec<Check> {
    let mut out = vec![debug_off(f), cookies(f), passwords(f)];
    out.extend(headers(f).await);
    for (component, what) in [("database", "PostgreSQL"), ("cache", "Redis")] {
        if f.plan.component(component).is_some() {
            out.push(not_public(f, component, what).await);
        }
    }
    out.push(tls(f));
    out.extend(super::app::admin_allowlist(f).await);
    out
}

fn env<'a>(f: &'a Facts, component: &str, key: &str) -> Option<&'a str> {
    f.env(component, key)
}

fn debug_off(f: &Facts) -> Check {
    let mut problems = Vec::new();
    for c in ["frontend", "cms"] {
        if f.plan.component(c).is_none() {
            continue;
        }
        if let Some(v) = env(f, c, "NODE_ENV").filter(|v| *v != "production") {
            problems.push(format!("{c}: NODE_ENV={v}"));
        }
        if let Some(v) = env(f, c, "LOG_LEVEL").filter(|v| matches!(*v, "debug" | "trace")) {
            problems.push(format!("{c}: LOG_LEVEL={v}"));
        }
    }
    Check::judge(
        "security.debug-off",
        G,
        Level::Error,
        problems.is_empty(),
        if problems.is_empty() {
            "no debug setting in the frontend's or the CMS's environment".into()
        } else {
            problems.join("; ")
        },
        "set spec.frontend.env.NODE_ENV: production (and drop LOG_LEVEL: debug from spec.cms.env)",
    )
}

fn cookies(f: &Facts) -> Check {
    if f.plan.component("cms").is_none() {
        return Check::pass("security.cookies", G, Level::Warning, "no CMS");
    }
    let mut problems = Vec::new();
    for prefix in ["REFRESH_TOKEN_COOKIE", "SESSION_COOKIE"] {
        let secure = env(f, "cms", &format!("{prefix}_SECURE"));
        if secure != Some("true") {
            problems.push(format!("{prefix}_SECURE={}", secure.unwrap_or("unset")));
        }
        let same = env(f, "cms", &format!("{prefix}_SAME_SITE"));
        if !matches!(same, Some("lax" | "strict")) {
            problems.push(format!("{prefix}_SAME_SITE={}", same.unwrap_or("unset")));
        }
    }
    Check::judge(
        "security.cookies",
        G,
        Level::Warning,
        problems.is_empty(),
        if problems.is_empty() {
            "Directus cookies are Secure, SameSite and (always, in Directus) HttpOnly".into()
        } else {
            problems.join(", ")
        },
        "remove the override from spec.cms.env (appstack sets *_COOKIE_SECURE: true and *_COOKIE_SAME_SITE: lax)",
    )
}

/// Why `password` is weak, if it is; never the password itself.
pub fn weakness(password: &str) -> Option<String> {
    let p = password.trim();
    if COMMON.contains(&p.to_ascii_lowercase().as_str()) {
        return Some("a common password".into());
    }
    if p.chars().count() < MIN_PASSWORD {
        return Some(format!(
            "{} characters (at least {MIN_PASSWORD} expected)",
            p.chars().count()
        ));
    }
    let distinct: std::collections::BTreeSet<char> = p.chars().collect();
    (distinct.len() < 5).then(|| format!("only {} distinct characters", distinct.len()))
}

fn passwords(f: &Facts) -> Check {
    let weak: Vec<String> = f
        .passwords
        .iter()
        .filter_map(|(name, value)| weakness(value).map(|why| format!("{name}: {why}")))
        .collect();
    Check::judge(
        "security.weak-passwords",
        G,
        Level::Error,
        weak.is_empty(),
        if weak.is_empty() {
            format!(
                "all {} passwords of the stack are long and not common ones",
                f.passwords.len()
            )
        } else {
            weak.join("; ")
        },
        f.password_fix(),
    )
}

async fn headers(f: &Facts) -> Vec<Check> {
    let Some(app) = &f.stack.frontend else {
        return Vec::new();
    };
    let (shown, answer) = (f.http)("frontend".into(), app.port, "/".into()).await;
    let r = match answer {
        Ok(r) => r,
        Err(e) => {
            return vec![Check::fail(
                "security.csp",
                G,
                Level::Error,
                format!("GET {shown}: {e}"),
                "the frontend must answer its public endpoint",
            )]
        }
    };
    let csp = r
        .header("content-security-policy")
        .unwrap_or_default()
        .to_string();
    let mut missing = Vec::new();
    if r.header("x-content-type-options") != Some("nosniff") {
        missing.push("X-Content-Type-Options: nosniff");
    }
    if r.header("referrer-policy").is_none() {
        missing.push("Referrer-Policy");
    }
    if r.header("x-frame-options").is_none() && !csp.contains("frame-ancestors") {
        missing.push("X-Frame-Options (or CSP frame-ancestors)");
    }
    vec![
        Check::judge(
            "security.csp",
            G,
            Level::Error,
            !csp.trim().is_empty(),
            if csp.trim().is_empty() {
                format!("GET {shown}: HTTP {}, no Content-Security-Policy header", r.status)
            } else {
                format!("GET {shown}: Content-Security-Policy: {csp}")
            },
            "send a Content-Security-Policy from the frontend (the example app: spec.frontend.env.CONTENT_SECURITY_POLICY)",
        ),
        Check::judge(
            "security.headers",
            G,
            Level::Warning,
            missing.is_empty(),
            if missing.is_empty() {
                format!("GET {shown}: nosniff, Referrer-Policy and frame protection present")
            } else {
                format!("GET {shown}: missing {}", missing.join(", "))
            },
            "send the missing security headers from the frontend (next.config.js headers())",
        ),
    ]
}

async fn not_public(f: &Facts, component: &str, what: &str) -> Check {
    let id = if component == "database" {
        "security.database-not-public"
    } else {
        "security.cache-not-public"
    };
    let exposed = f
        .seen(component)
        .map(|s| s.exposed.clone())
        .unwrap_or_default();
    let open = exposed.iter().any(|e| !e.loopback_only);
    let mut evidence = if exposed.is_empty() {
        format!("{what} is not published outside its network")
    } else {
        let shown: Vec<&str> = exposed.iter().map(|e| e.shown.as_str()).collect();
        format!("{what} published on {}", shown.join(", "))
    };
    let mut reached = false;
    for addr in exposed.iter().filter_map(|e| e.probe) {
        let ok = tokio::time::timeout(Duration::from_secs(2), tokio::net::TcpStream::connect(addr))
            .await
            .is_ok_and(|r| r.is_ok());
        reached |= ok;
        evidence.push_str(&format!(
            "; a connection to {addr} {}",
            if ok { "was accepted" } else { "failed" }
        ));
    }
    Check::judge(
        id,
        G,
        Level::Error,
        !open && !reached,
        evidence,
        format!("publish {component} on 127.0.0.1 only (spec.ingress.publishedPorts: bind 127.0.0.1) or not at all (no NodePort or LoadBalancer Service selecting its pods)"),
    )
}

fn tls(f: &Facts) -> Check {
    // Docker mode's edge serves HTTPS unless told not to; a cluster's Ingress needs `tls`.
    let edge_tls = |i: &crate::api::validated::Ingress| {
        f.plan.component(crate::plan::edge::EDGE).is_some()
            && i.edge.as_ref().is_some_and(|e| e.serves_https())
    };
    match f
        .stack
        .ingress
        .as_ref()
        .and_then(|i| i.host.clone().map(|h| (h, i.tls.is_some() || edge_tls(i))))
    {
        None => Check::pass(
            "security.tls",
            G,
            Level::Warning,
            "no ingress host set: nothing public to encrypt",
        ),
        Some((host, tls)) => Check::judge(
            "security.tls",
            G,
            Level::Warning,
            tls,
            format!(
                "ingress host {host}: TLS {}",
                if tls { "configured" } else { "not configured" }
            ),
            "set spec.ingress.tls",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_passwords_are_named_without_their_value() {
        assert_eq!(weakness("admin123").as_deref(), Some("a common password"));
        assert!(weakness("short1").unwrap().contains("6 characters"));
        assert!(weakness("aaaaaaaaaaaaaaaa").unwrap().contains("distinct"));
        assert_eq!(weakness("Zq8vN2kLp4xWm7rT"), None);
    }
}
