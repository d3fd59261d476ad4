//! The rendered Prometheus config, alert rules and Alertmanager config pass the tools'
//! own checks (promtool, amtool from the local monitoring images).

mod common;

use common::*;

#[test]
fn rendered_monitoring_configs_pass_promtool_and_amtool() {
    if !engine_available() {
        return;
    }
    let stack = appstack::api::load::load_file(std::path::Path::new("examples/crm.yaml")).unwrap();
    let plan = appstack::plan::build(&appstack::api::validate::validate(&stack, "crm").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let prom = dir.path().join("prometheus");
    let am = dir.path().join("alertmanager");
    std::fs::create_dir_all(&prom).unwrap();
    std::fs::create_dir_all(&am).unwrap();
    for (component, target) in [("prometheus", &prom), ("alertmanager", &am)] {
        for f in &plan.component(component).unwrap().files {
            std::fs::write(target.join(&f.name), &f.content).unwrap();
        }
    }
    let rules = std::fs::read_to_string(prom.join("rules.yml")).unwrap();
    for alert in [
        "HighCpu",
        "HighMemory",
        "DiskAlmostFull",
        "SiteDown",
        "DatabaseConnectionsHigh",
    ] {
        assert!(
            rules.contains(&format!("alert: {alert}")),
            "missing {alert}"
        );
    }
    assert!(
        rules.contains("> 180"),
        "90% of maxConnections 200 is 180: {rules}"
    );
    let prom_mount = format!("{}:/etc/prometheus:ro", prom.display());
    let out = docker_ok(&[
        "run",
        "--rm",
        "-v",
        &prom_mount,
        "--entrypoint",
        "promtool",
        "appstack/prometheus:1",
        "check",
        "config",
        "/etc/prometheus/prometheus.yml",
    ]);
    assert!(
        out.contains("SUCCESS") && out.contains("5 rules found"),
        "{out}"
    );
    let am_mount = format!("{}:/etc/alertmanager:ro", am.display());
    let out = docker_ok(&[
        "run",
        "--rm",
        "-v",
        &am_mount,
        "--entrypoint",
        "amtool",
        "appstack/alertmanager:1",
        "check-config",
        "/etc/alertmanager/alertmanager.yml",
    ]);
    assert!(out.contains("SUCCESS"), "{out}");
}
