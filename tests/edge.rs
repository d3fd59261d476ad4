//! The edge on a real engine: `examples/edge.yaml` comes up with Caddy in front, HTTPS from
//! the edge's own CA (trusted by the client from the edge's volume, not skipped) serves the
//! frontend and the CMS on their host names with the security headers, HTTP redirects, and
//! nothing but the edge is published on the host.

mod common;

use std::process::Command;

use common::*;

const HTTPS: &str = "18443";
const HTTP: &str = "18080";

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
    let spec = edge_spec(HTTP, HTTPS);
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
}
