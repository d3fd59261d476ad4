//! The edge on a real engine: `examples/edge.yaml` comes up with Caddy in front, HTTPS from
//! the edge's own CA (trusted by the client from the edge's volume, not skipped) serves the
//! frontend and the CMS on their host names with the security headers, HTTP redirects, and
//! nothing but the edge is published on the host. On the same stack, `appstack audit` times
//! the routes through the edge, reads every component's cgroup and finds a planted backlog.

mod common;

use std::process::Command;

use common::*;

const HTTPS: &str = "18443";
const HTTP: &str = "18080";
/// The audit's section: a Redis queue with a failed list, and a SQL-counted one.
const AUDIT: &str = r#"  audit:
    routes: ["/", "/api/health"]
    queues:
      - {name: emails, key: "queue:emails", failedKey: "queue:emails:failed"}
      - {name: sessions, pendingSql: "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"}
"#;

/// curl as a browser on this machine would ask: the host name resolved to loopback.
fn fetch(
    ca: &std::path::Path,
    host: &str,
    port: &str,
    scheme: &str,
    path: &str,
) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10", "-D", "-", "-o", "-"])
        .args(["--cacert", &ca.display().to_string()])
        .args(["--resolve", &format!("{host}:{port}:127.0.0.1")])
        .arg(format!("{scheme}://{host}:{port}{path}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {host}{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    (head.to_ascii_lowercase(), body.to_string())
}

#[test]
fn the_edge_serves_both_hosts_over_https_with_headers_and_alone_on_the_host() {
    if !engine_available() {
        return;
    }
    let spec = format!("{}{AUDIT}", edge_spec(HTTP, HTTPS));
    let s = TestStack::new("it-edge", &spec);
    let up = s.run_ok(&["up"]);
    let log = String::from_utf8_lossy(&up.stderr);
    assert!(log.contains("all healthy"), "{log}");

    // The client trusts the edge's own root, read from its volume.
    let ca = std::path::PathBuf::from(s.edge_root_ca());

    let (head, body) = fetch(&ca, "app.localtest", HTTPS, "https", "/");
    assert!(
        head.starts_with("http/2 200") || head.starts_with("http/1.1 200"),
        "{head}"
    );
    assert!(body.contains("appstack quickstart"), "{body}");
    for header in [
        "strict-transport-security: max-age=31536000",
        "content-security-policy: default-src 'self'",
        "x-content-type-options: nosniff",
        "x-frame-options: sameorigin",
        "referrer-policy: strict-origin-when-cross-origin",
    ] {
        assert!(head.contains(header), "{header} missing:\n{head}");
    }
    assert!(!head.contains("\nserver:"), "{head}");

    let (head, body) = fetch(&ca, "cms.localtest", HTTPS, "https", "/server/health");
    assert!(head.contains(" 200"), "{head}\n{body}");
    assert!(body.contains("\"status\":\"ok\""), "{body}");
    assert!(head.contains("strict-transport-security"), "{head}");

    // Plain HTTP is redirected to HTTPS.
    let (head, _) = fetch(&ca, "app.localtest", HTTP, "http", "/");
    assert!(head.contains(" 308") || head.contains(" 301"), "{head}");
    assert!(head.contains("location: https://app.localtest/"), "{head}");

    // Only the edge is on the host: not PostgreSQL, Redis, the frontend or the CMS.
    for (name, _, _, _) in s.containers() {
        let ports = docker_ok(&["port", &name]);
        if name == "it-edge-edge" {
            assert!(ports.contains(&format!("127.0.0.1:{HTTPS}")), "{ports}");
            assert!(ports.contains(&format!("127.0.0.1:{HTTP}")), "{ports}");
        } else {
            assert!(ports.is_empty(), "{name} is published: {ports}");
        }
    }
    let rootfs = docker_ok(&[
        "inspect",
        "-f",
        "{{.HostConfig.ReadonlyRootfs}} {{.Config.User}}",
        "it-edge-edge",
    ]);
    assert_eq!(rootfs, "true 65534:65534");

    audit_finds_the_routes_headroom_and_backlog(&s);
}

fn audit_finds_the_routes_headroom_and_backlog(s: &TestStack) {
    for (key, n) in [("queue:emails", 250), ("queue:emails:failed", 3)] {
        push_jobs("it-edge", key, n);
    }
    let out = s.run_ok(&["audit", "--samples", "5", "--no-load", "-o", "json"]);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let routes = r["routes"].as_array().unwrap();
    let names: Vec<&str> = routes.iter().map(|x| x["name"].as_str().unwrap()).collect();
    for want in [
        "frontend /",
        "frontend /api/health",
        "cms /server/ping",
        "cms /server/health",
    ] {
        assert!(names.contains(&want), "{want} not timed: {names:?}");
    }
    for route in routes {
        assert_eq!(route["status"], 200, "{route}");
        assert_eq!(route["failed"], 0, "{route}");
        assert!(
            route["url"].as_str().unwrap().starts_with("https://"),
            "{route}"
        );
        // Through the edge over TLS: every phase measured, in order.
        let tls = route["tls"]["p50"].as_f64().unwrap();
        let ttfb = route["ttfb"]["p50"].as_f64().unwrap();
        let total = route["total"]["p50"].as_f64().unwrap();
        assert!(tls > 0.0 && ttfb > tls && total >= ttfb, "{route}");
    }
    // Every running component's memory from its cgroup, with its limit.
    let components = r["components"].as_array().unwrap();
    for c in ["database", "cache", "cms", "frontend", "edge"] {
        let found = components.iter().find(|x| x["component"] == c);
        let found = found.unwrap_or_else(|| panic!("{c} not measured: {}", r["unmeasured"]));
        assert!(found["memoryBytes"].as_u64().unwrap() > 0, "{found}");
        assert!(found["memoryLimit"].as_u64().unwrap() > 0, "{found}");
    }
    assert!(r["host"]["memoryAvailableBytes"].as_u64().unwrap() > 0);
    // The planted backlog, and the failed jobs against the target of 0.
    let emails = &r["queues"][0];
    assert_eq!(
        (emails["pending"].as_u64(), emails["failed"].as_u64()),
        (Some(250), Some(3)),
        "{emails}"
    );
    assert!(
        r["queues"][1]["pending"].as_u64().unwrap() >= 1,
        "{}",
        r["queues"][1]
    );
    let failed_jobs = r["verdicts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["check"] == "failed jobs")
        .unwrap();
    assert_eq!(failed_jobs["pass"], false, "{failed_jobs}");
    assert_eq!(failed_jobs["measured"], "3");
}
