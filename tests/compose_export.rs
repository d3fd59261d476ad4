//! The exported compose file passes `docker-compose config`, brings up the same healthy stack,
//! and keeps shipping WAL into the stack's store (the plan's WAL shipper runs as a service).

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn exported_compose_is_accepted_and_runs_healthy() {
    if !engine_available() {
        return;
    }
    let backups = tempfile::tempdir().unwrap();
    // With backups on, the export carries the WAL receiver too (8 services).
    ensure_appstack_image();
    let s = TestStack::new("it-compose", &format!("{SMALL}  monitoring:\n    prometheus: {{image: appstack/prometheus:1}}\n    nodeExporter: {{image: appstack/node-exporter:1}}\n    alertmanager: {{image: appstack/alertmanager:1}}\n    blackboxExporter: {{image: appstack/blackbox-exporter:1}}\n    postgresExporter: {{image: appstack/postgres-exporter:1}}\n    redisExporter: {{image: appstack/redis-exporter:1}}\n  backup:\n    target: file://{}\n", backups.path().display()));
    let out_dir = s.dir.path().join("compose");
    s.run_ok(&["export", "compose", "-o", out_dir.to_str().unwrap()]);
    let file = out_dir.join("docker-compose.yml");
    let compose = |args: &[&str]| {
        Command::new("docker-compose")
            .arg("-f")
            .arg(&file)
            .arg("-p")
            .arg("itcompose")
            .args(args)
            .output()
            .expect("docker-compose (Debian package docker-compose) must be installed")
    };
    let cfg = compose(&["config", "-q"]);
    assert!(
        cfg.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&cfg.stderr)
    );
    // A failed earlier run may have left the project's volumes (with other passwords);
    // a failure of this one must not leave its containers.
    let _ = compose(&["down", "-v"]);
    struct Down<F: Fn()>(F);
    impl<F: Fn()> Drop for Down<F> {
        fn drop(&mut self) {
            (self.0)();
        }
    }
    let _down = Down(|| {
        let _ = compose(&["down", "-v"]);
    });
    let up = compose(&["up", "-d"]);
    assert!(
        up.status.success(),
        "docker-compose up: {}",
        String::from_utf8_lossy(&up.stderr)
    );
    let healthy = || {
        let out = docker_ok(&[
            "ps",
            "--filter",
            "label=com.docker.compose.project=itcompose",
            "--format",
            "{{.Status}}",
        ]);
        out.lines().filter(|l| l.contains("(healthy)")).count()
    };
    wait_for(
        "all 11 compose services healthy (with the WAL receiver and the exporters)",
        Duration::from_secs(180),
        || healthy() == 11,
    );
    // The one-shot monitor-role service created the exporter's role (pg_monitor, no
    // superuser) with the exported secret, and the exporter signs in with it.
    wait_for("monitor-role exited 0", Duration::from_secs(60), || {
        docker_ok(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "it-compose-monitor-role",
        ]) == "exited 0"
    });
    assert_eq!(
        psql("it-compose", "SELECT rolsuper, pg_has_role('appstack_monitor', 'pg_monitor', 'member') FROM pg_roles WHERE rolname = 'appstack_monitor'"),
        "f|t"
    );
    wait_for(
        "the exporter connected as appstack_monitor",
        Duration::from_secs(60),
        || {
            psql(
                "it-compose",
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE usename = 'appstack_monitor'",
            ) == "t"
        },
    );
    // Directus reaches PostgreSQL and Redis with the exported secrets, and the Next.js
    // page renders what it fetched from Directus.
    let health = directus::health_inside("it-compose-cms");
    assert!(directus::database_and_cache_ok(&health), "{health}");
    let page = docker_ok(&["exec", "it-compose-frontend", "node", "-e", "fetch('http://127.0.0.1:3000/').then(async r => { if (!r.ok) process.exit(1); process.stdout.write(await r.text()) })"]);
    assert!(page.contains("</html>"), "{page}");
    // The shipper drains the receiver's spool into the store: a WAL segment arrives there.
    let wal_dir = backups.path().join("it-compose").join("wal");
    wal_for(&wal_dir, &s.name);
    let down = compose(&["down", "-v"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
}

/// Waits until a completed WAL segment of `stack` is in `dir` (a switch completes one).
fn wal_for(dir: &std::path::Path, stack: &str) {
    let complete = || {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok).any(|e| {
                    let name = e.file_name().to_string_lossy().to_string();
                    name.starts_with("0000") && !name.contains(".partial")
                })
            })
            .unwrap_or(false)
    };
    psql(stack, "SELECT pg_switch_wal()");
    wait_for(
        "a completed WAL segment shipped into the store by the exported stack",
        Duration::from_secs(60),
        complete,
    );
}
