//! Deploys without an outage, on a real engine: `examples/edge.yaml` behind its edge, a
//! load loop of its own (bench/load_loop.py, not appstack's probe) at 25 requests/s through the edge
//! while `deploy` ships a new frontend image, while a deploy of an image that never
//! becomes healthy is refused, and while `rollback` switches back. Every request of the
//! loop must be answered 200.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

const HTTPS: &str = "28443";
const HTTP: &str = "28080";
const HOST: &str = "app.localtest";

/// One curl through the edge as a browser on this host would send it: (status, body).
fn get(ca: &str) -> (String, String) {
    let out = Command::new("curl")
        .args([
            "-sS",
            "--max-time",
            "10",
            "-w",
            "\n%{http_code}",
            "--cacert",
            ca,
        ])
        .args(["--resolve", &format!("{HOST}:{HTTPS}:127.0.0.1")])
        .arg(format!("https://{HOST}:{HTTPS}/"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "000"));
    (code.to_string(), body.to_string())
}

fn release(ca: &str) -> String {
    let (code, body) = get(ca);
    assert_eq!(code, "200", "{body}");
    let at = body.find("id=\"release\">").expect("release marker") + 13;
    body[at..].split('<').next().unwrap().to_string()
}

/// A load loop of its own (bench/load_loop.py, not appstack's code): 25 HTTPS requests a
/// second through the edge, each on its own connection, until stopped.
struct Load {
    child: std::process::Child,
    stop: std::path::PathBuf,
    rows: std::path::PathBuf,
    _dir: tempfile::TempDir,
    started: Instant,
}

impl Load {
    fn start(ca: &str) -> Load {
        let dir = tempfile::tempdir().unwrap();
        let (stop, rows) = (dir.path().join("stop"), dir.path().join("rows"));
        let child = Command::new("python3")
            .arg("bench/load_loop.py")
            .args([HOST, HTTPS, ca, "25", "300"])
            .arg(&stop)
            .arg(&rows)
            .spawn()
            .unwrap();
        Load {
            child,
            stop,
            rows,
            _dir: dir,
            started: Instant::now(),
        }
    }

    /// (requests, failed, requests per second); the failures' statuses are printed.
    fn stop(mut self) -> (usize, usize, f64) {
        std::fs::write(&self.stop, "").unwrap();
        let took = self.started.elapsed().as_secs_f64();
        assert!(self.child.wait().unwrap().success());
        let text = std::fs::read_to_string(&self.rows).unwrap();
        let statuses: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_whitespace().nth(2))
            .collect();
        let failed: Vec<(usize, &&str)> = statuses
            .iter()
            .enumerate()
            .filter(|(_, s)| **s != "200")
            .collect();
        if !failed.is_empty() {
            eprintln!("failed requests (index, status; 0: no answer): {failed:?}");
            let logs = docker(&["logs", "--tail", "400", "it-deploy-edge"]);
            for line in String::from_utf8_lossy(&logs.stderr)
                .lines()
                .filter(|l| l.contains("\"error\""))
                .take(5)
            {
                eprintln!("edge: {line}");
            }
        }
        (statuses.len(), failed.len(), statuses.len() as f64 / took)
    }
}

fn build_image(tag: &str, dockerfile: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    docker_ok(&["build", "-q", "-t", tag, &dir.path().display().to_string()]);
}

#[test]
fn deploy_rollback_and_a_failed_deploy_drop_no_request() {
    if !engine_available() {
        return;
    }
    build_image(
        "appstack-it/web:v2",
        "FROM appstack/web:next-15\nENV APP_RELEASE=v2\n",
    );
    // Never listens: its health check can never pass.
    build_image(
        "appstack-it/web:broken",
        "FROM appstack/web:next-15\nENV APP_RELEASE=broken\nCMD [\"node\", \"-e\", \"setInterval(() => {}, 1000)\"]\n",
    );
    let s = TestStack::new("it-deploy", &edge_spec(HTTP, HTTPS));
    s.run_ok(&["up"]);
    let ca = s.edge_root_ca();
    assert_eq!(release(&ca), "dev");

    // A new image under load: no request fails, the new page is served after.
    let load = Load::start(&ca);
    std::thread::sleep(Duration::from_secs(2));
    let out = s.run_ok(&[
        "deploy",
        "frontend",
        "--image",
        "appstack-it/web:v2",
        // appstack's own probe asks the cheap health route of the same host, so the two
        // loops together stay within what two cores render of the CMS-backed page.
        "--probe-path",
        "/api/health",
        "--rate",
        "20",
        "--watch",
        "5s",
        "-o",
        "json",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    let (sent, failed, rate) = load.stop();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    eprintln!(
        "deploy: {sent} requests at {rate:.1}/s, {failed} failed; traffic on the new version {} ms after the command; appstack's probe: {}",
        report["switchedAfterMs"], report["probe"]
    );
    assert_eq!(failed, 0, "{sent} requests");
    assert!(rate >= 20.0, "{rate}");
    assert_eq!(report["outcome"], "deployed");
    assert_eq!(report["probe"]["failed"], 0);
    assert_eq!(release(&ca), "v2");
    let kept = docker_ok(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.Config.Image}}",
        "it-deploy-frontend-prev",
    ]);
    assert_eq!(kept, "exited appstack/web:next-15");

    // An image that never becomes healthy: refused, exit 1, the old version serves throughout.
    let load = Load::start(&ca);
    let out = s.run(&[
        "deploy",
        "frontend",
        "--image",
        "appstack-it/web:broken",
        "--probe-path",
        "/api/health",
        "--rate",
        "20",
        "--health-timeout",
        "20s",
        "--watch",
        "5s",
    ]);
    let (sent, failed, _) = load.stop();
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("broken deploy: {sent} requests, {failed} failed\n{stdout}");
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("ABORTED"), "{stdout}");
    assert_eq!(failed, 0, "{sent} requests");
    assert_eq!(release(&ca), "v2");
    assert!(docker(&["inspect", "it-deploy-frontend-new"]).status.code() != Some(0));

    // Rollback under load: the previous version serves again, nothing dropped, and `up`
    // leaves the rollback in place (held) until the spec changes.
    let load = Load::start(&ca);
    std::thread::sleep(Duration::from_secs(1));
    let out = s.run_ok(&["rollback", "frontend"]);
    std::thread::sleep(Duration::from_secs(1));
    let (sent, failed, _) = load.stop();
    eprintln!(
        "rollback: {sent} requests, {failed} failed; {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(failed, 0, "{sent} requests");
    assert_eq!(release(&ca), "dev");
    let plan = String::from_utf8_lossy(&s.run_ok(&["plan"]).stdout).into_owned();
    assert!(plan.contains("0 change(s)"), "{plan}");
    s.cleanup();
}
