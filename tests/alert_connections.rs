//! The PostgreSQL exporter measures what the connection rule needs, signed in as its own
//! least-privileged role: with `maxConnections: 30`, the test opens connections past 90 %
//! and `DatabaseConnectionsHigh` fires in the stack's own Prometheus; closing them resolves it.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;

fn prometheus(stack: &str) -> String {
    let ip = docker_ok(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
        &format!("{stack}-prometheus"),
    ]);
    format!("http://{ip}:9090")
}

fn get(url: &str) -> Value {
    let (code, body) = common::directus::curl(&[url]);
    assert_eq!(code, 200, "{url}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn state_of(prom: &str, alert: &str) -> Option<String> {
    get(&format!("{prom}/api/v1/alerts"))["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == alert)
        .map(|a| a["state"].as_str().unwrap().to_string())
}

/// Ends the sleeping sessions with SIGTERM (what pg_terminate_backend sends) from the host:
/// a new SQL session to terminate them may find every slot taken, the exporter's and the
/// engine's health checks competing for the last ones.
fn terminate_sleepers(container: &str) {
    let top = docker_ok(&["top", container, "-eo", "pid,args"]);
    let pids: Vec<&str> = top
        .lines()
        .filter(|l| l.contains("postgres: app app [local]"))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(pids.len() >= 27, "sleeping backends not found in:\n{top}");
    let out = std::process::Command::new("kill")
        .arg("-TERM")
        .args(&pids)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kill: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn connections_above_ninety_percent_fire_the_rule() {
    if !engine_available() {
        return;
    }
    let spec = "  database: {image: appstack/postgis:15, storage: 1Gi, maxConnections: 30}\n  monitoring:\n    prometheus: {image: appstack/prometheus:1, scrapeInterval: 5s}\n    nodeExporter: {enabled: false}\n    alertmanager: {enabled: false}\n    postgresExporter: {image: appstack/postgres-exporter:1}\n";
    let s = TestStack::new("it-conn", spec);
    s.run_ok(&["up"]);
    let prom = prometheus("it-conn");

    // The exporter signs in as appstack_monitor: a pg_monitor member, not a superuser.
    assert_eq!(
        s.psql("SELECT rolsuper, pg_has_role('appstack_monitor', 'pg_monitor', 'member') FROM pg_roles WHERE rolname = 'appstack_monitor'"),
        "f|t"
    );
    wait_for("pg_up 1", Duration::from_secs(60), || {
        get(&format!("{prom}/api/v1/query?query=pg_up"))["data"]["result"][0]["value"][1] == "1"
    });
    assert_eq!(
        s.psql("SELECT count(*) > 0 FROM pg_stat_activity WHERE usename = 'appstack_monitor'"),
        "t"
    );
    assert_eq!(state_of(&prom, "DatabaseConnectionsHigh"), None);

    // 27 sleeping sessions plus the exporter's: above 90 % of 30 (27).
    for _ in 0..27 {
        docker_ok(&[
            "exec",
            "-d",
            "it-conn-database",
            "psql",
            "-U",
            "app",
            "-d",
            "app",
            "-c",
            "SELECT pg_sleep(600)",
        ]);
    }
    wait_for(
        "DatabaseConnectionsHigh firing",
        Duration::from_secs(180),
        || state_of(&prom, "DatabaseConnectionsHigh").as_deref() == Some("firing"),
    );
    let q = get(&format!(
        "{prom}/api/v1/query?query=sum(pg_stat_activity_count)"
    ));
    eprintln!(
        "connections seen by the exporter: {}",
        q["data"]["result"][0]["value"][1]
    );

    terminate_sleepers("it-conn-database");
    wait_for(
        "DatabaseConnectionsHigh resolved",
        Duration::from_secs(60),
        || state_of(&prom, "DatabaseConnectionsHigh").is_none(),
    );
}
