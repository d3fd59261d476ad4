//! Alerts that fire when, and only when, something is wrong, and reach a person: the stack
//! runs with full monitoring and `appstack run`; for 3 minutes nothing but `Watchdog` fires
//! (or is even pending); the frontend stops answering (paused: `appstack run` would restart
//! a stopped one at once) and `SiteDown` reaches the alert log once and the test's webhook
//! once; it answers again and both get the resolved notification.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A webhook receiver on the engine's host gateway (where containers reach this host).
struct Hook {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

/// Where containers reach the host (`host-gateway`): the default bridge's gateway, or the
/// subnet's first address where the engine leaves the gateway out (Docker 20.10).
fn host_gateway() -> String {
    let field = |f: &str| {
        docker_ok(&[
            "network",
            "inspect",
            "bridge",
            "-f",
            &format!("{{{{(index .IPAM.Config 0).{f}}}}}"),
        ])
    };
    let gw = field("Gateway");
    if !gw.is_empty() && gw != "<no value>" {
        return gw;
    }
    let subnet = field("Subnet");
    let net: std::net::Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
    std::net::Ipv4Addr::from(u32::from(net) + 1).to_string()
}

impl Hook {
    fn start() -> Self {
        let gw = host_gateway();
        let listener = TcpListener::bind((gw.as_str(), 0)).unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = bodies.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_ok() {
                    if let Ok(v) = serde_json::from_slice(&body) {
                        seen.lock().unwrap().push(v);
                    }
                }
                let mut conn = conn;
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
            }
        });
        Hook { url, bodies }
    }

    /// (status, alertname) of every notification received so far.
    fn notifications(&self) -> Vec<(String, String)> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b["status"].as_str().unwrap_or_default().to_string(),
                    b["alerts"][0]["labels"]["alertname"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                )
            })
            .collect()
    }
}

fn ip_of(container: &str) -> String {
    docker_ok(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        container,
    ])
}

fn get_json(url: &str) -> Value {
    let (code, body) = common::directus::curl(&[url]);
    assert_eq!(code, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Prometheus' alerts: (name, state, instance) of each.
fn alerts(prom: &str) -> Vec<(String, String, String)> {
    get_json(&format!("{prom}/api/v1/alerts"))["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                text(&a["labels"]["alertname"]),
                text(&a["state"]),
                text(&a["labels"]["instance"]),
            )
        })
        .collect()
}

/// (status, alertname) of each line of the alert log; Watchdog and the host's own alerts
/// (a busy test machine's CPU) left out.
fn logged(state_dir: &std::path::Path) -> Vec<(String, String)> {
    appstack::ops::alert_log::read(state_dir)
        .into_iter()
        .flat_map(|l| {
            l.alerts
                .into_iter()
                .map(move |a| (l.status.clone(), a.alertname))
        })
        .filter(|(_, n)| {
            !matches!(
                n.as_str(),
                "Watchdog" | "HighCpu" | "HighMemory" | "DiskAlmostFull"
            )
        })
        .collect()
}

#[test]
fn site_down_fires_once_reaches_the_log_and_the_webhook_and_resolves() {
    if !engine_available() {
        return;
    }
    let hook = Hook::start();
    let spec = format!(
        "{SMALL}  monitoring:\n    prometheus: {{image: appstack/prometheus:1, scrapeInterval: 5s}}\n    nodeExporter: {{image: appstack/node-exporter:1}}\n    alertmanager: {{image: appstack/alertmanager:1, webhookUrl: \"{}\", dedupWindow: 10m}}\n    blackboxExporter: {{image: appstack/blackbox-exporter:1}}\n    postgresExporter: {{image: appstack/postgres-exporter:1}}\n    redisExporter: {{image: appstack/redis-exporter:1}}\n    daemonPort: {}\n",
        hook.url,
        free_port()
    );
    let s = TestStack::new("it-alerts", &spec);
    s.run_ok(&["up"]);
    let daemon = Daemon::start(&s, &["run"]);
    let prom = format!("http://{}:9090", ip_of("it-alerts-prometheus"));

    // Every target is scraped, the exporters' credentials work.
    wait_for("every scrape target up", Duration::from_secs(120), || {
        let t = get_json(&format!("{prom}/api/v1/targets"));
        let active = t["data"]["activeTargets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        active.len() >= 8 && active.iter().all(|a| a["health"] == "up")
    });
    // The exporters sign in (the monitor role is set up once the database is) and both
    // health endpoints answer the probe.
    let up = "sum(pg_up)%20%2B%20sum(redis_up)%20%2B%20min(probe_success)";
    wait_for(
        "pg_up, redis_up and every probe at 1",
        Duration::from_secs(60),
        || {
            get_json(&format!("{prom}/api/v1/query?query={up}"))["data"]["result"][0]["value"][1]
                == "3"
        },
    );
    // What failed while the stack was starting (a probe before the CMS answered, a scrape
    // before the daemon listened) resolves at the next evaluations.
    // The host's own alerts (CPU, memory, disk) judge this machine, which a test run keeps
    // busy (the build before it): they are reported, not held against the stack.
    let about_the_stack = |a: &&(String, String, String)| {
        !matches!(
            a.0.as_str(),
            "Watchdog" | "HighCpu" | "HighMemory" | "DiskAlmostFull"
        )
    };
    wait_for(
        "start-up alerts to resolve",
        Duration::from_secs(60),
        || alerts(&prom).iter().filter(about_the_stack).count() == 0,
    );
    // Three quiet minutes: Watchdog only.
    let quiet = Instant::now();
    while quiet.elapsed() < Duration::from_secs(180) {
        let now = alerts(&prom);
        let others: Vec<_> = now.iter().filter(about_the_stack).collect();
        assert!(others.is_empty(), "on a healthy stack: {others:?}");
        let host: Vec<_> = now.iter().filter(|a| a.0 != "Watchdog").collect();
        if !host.is_empty() {
            eprintln!("the host's own alerts: {host:?}");
        }
        std::thread::sleep(Duration::from_secs(10));
    }
    assert!(alerts(&prom)
        .iter()
        .any(|(n, state, _)| n == "Watchdog" && state == "firing"));
    assert!(logged(&s.state_dir()).is_empty());

    // The frontend stops answering.
    docker_ok(&["pause", "it-alerts-frontend"]);
    wait_for(
        "SiteDown in the alert log",
        Duration::from_secs(240),
        || logged(&s.state_dir()).contains(&("firing".into(), "SiteDown".into())),
    );
    wait_for("SiteDown at the webhook", Duration::from_secs(60), || {
        hook.notifications()
            .contains(&("firing".into(), "SiteDown".into()))
    });
    // Still down a while later: no second notification within the window.
    std::thread::sleep(Duration::from_secs(90));
    let firing = |v: &[(String, String)]| {
        v.iter()
            .filter(|(st, n)| st == "firing" && n == "SiteDown")
            .count()
    };
    assert_eq!(
        firing(&logged(&s.state_dir())),
        1,
        "{:?}",
        logged(&s.state_dir())
    );
    assert_eq!(
        firing(&hook.notifications()),
        1,
        "{:?}",
        hook.notifications()
    );

    // It answers again: one resolved notification each.
    docker_ok(&["unpause", "it-alerts-frontend"]);
    wait_for(
        "SiteDown resolved in the log",
        Duration::from_secs(180),
        || logged(&s.state_dir()).contains(&("resolved".into(), "SiteDown".into())),
    );
    wait_for(
        "SiteDown resolved at the webhook",
        Duration::from_secs(60),
        || {
            hook.notifications()
                .contains(&("resolved".into(), "SiteDown".into()))
        },
    );
    let others: Vec<_> = logged(&s.state_dir())
        .into_iter()
        .filter(|(_, n)| n != "SiteDown")
        .collect();
    assert!(others.is_empty(), "only SiteDown was wrong: {others:?}");

    // `alert-test` follows a synthetic alert to both receivers.
    let out = s.run(&["alert-test"]);
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{text}");
    assert!(text.contains("delivered  alert log"), "{text}");
    assert!(text.contains("delivered  webhook webhook"), "{text}");
    eprintln!("{text}");
    assert!(hook
        .notifications()
        .iter()
        .any(|(_, n)| n == appstack::ops::alert_test::TEST_ALERT));

    // With the webhook on a closed port it fails, naming the webhook.
    let closed = free_port();
    let before = s.container_id("alertmanager");
    s.write(&spec.replace(
        &hook.url,
        &format!("http://{}:{closed}/hook", host_gateway()),
    ));
    // `appstack run` applies the edit: Alertmanager is recreated with the new receiver.
    wait_for(
        "Alertmanager recreated and healthy",
        Duration::from_secs(120),
        || {
            s.container_id("alertmanager") != before
                && s.containers()
                    .iter()
                    .any(|c| c.0 == "it-alerts-alertmanager" && c.3.contains("(healthy)"))
        },
    );
    let out = s.run(&["alert-test", "--wait", "40s"]);
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("delivered  alert log"), "{text}");
    assert!(
        text.contains("FAILED     webhook webhook") && text.contains(&closed.to_string()),
        "{text}"
    );
    eprintln!("{text}");

    // Status carries the operator's conditions; a killed daemon is DaemonSilent within
    // two heartbeats, not "ok".
    let conditions = || {
        let out = s.run_ok(&["status", "-o", "json"]);
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        doc["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["type"].as_str().unwrap().to_string(),
                    c["reason"].as_str().unwrap().to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    let now = conditions();
    for t in [
        "Ready",
        "BackupHealthy",
        "WalShipping",
        "LastDrillPassed",
        "Daemon",
    ] {
        assert!(now.iter().any(|c| c.0 == t), "{now:?}");
    }
    assert!(
        now.contains(&("Daemon".into(), "Running".into())),
        "{now:?}"
    );
    daemon.stop();
    let killed = Instant::now();
    wait_for("DaemonSilent", Duration::from_secs(30), || {
        conditions().contains(&("Daemon".into(), "DaemonSilent".into()))
    });
    eprintln!(
        "DaemonSilent {:.1}s after the daemon was killed",
        killed.elapsed().as_secs_f64()
    );
}
