//! The generated monitoring configuration, checked by the tools that will read it: every
//! alert rule passes its generated `promtool test rules` test (fires at the threshold after
//! its `for`, stays silent just below, resolves), `promtool check config/rules`,
//! `amtool check-config` and the blackbox exporter's `--config.check` accept what the plan
//! renders; and a rule whose threshold drifts from its test fails.

mod common;

use std::path::Path;

use common::*;

const FULL: &str = r#"apiVersion: appstack.io/v1alpha1
kind: AppStack
metadata: {name: rules}
spec:
  database: {image: appstack/postgis:15, maxConnections: 20}
  cache: {image: appstack/redis:7}
  cms: {image: appstack/directus:11.16.1}
  frontend: {image: appstack/web:next-15}
  monitoring:
    prometheus: {image: appstack/prometheus:1}
    nodeExporter: {image: appstack/node-exporter:1}
    alertmanager: {image: appstack/alertmanager:1, webhookUrl: "https://hooks.slack.com/services/T0/B0/x"}
    blackboxExporter: {image: appstack/blackbox-exporter:1}
    postgresExporter: {image: appstack/postgres-exporter:1}
    redisExporter: {image: appstack/redis-exporter:1}
  backup:
    target: file:///var/lib/appstack/backups
    wal: {mode: stream}
  recovery:
    objectives: {rto: 1h, rpo: 15m}
    drill: {schedule: "0 4 * * 0"}
"#;

fn plan_of(manifest: &str) -> appstack::plan::Plan {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stack.yaml");
    std::fs::write(&path, manifest).unwrap();
    let (_, stack) = appstack::api::load_validated(&path).unwrap();
    appstack::plan::build(&stack)
}

/// Writes a component's config files (by file name) into `dir`.
fn write_files(plan: &appstack::plan::Plan, component: &str, dir: &Path) {
    for f in &plan.component(component).unwrap().files {
        std::fs::write(dir.join(&f.name), &f.content).unwrap();
    }
}

/// Runs `tool args` in `image` with `dir` mounted at `at`; (success, output).
fn tool(image: &str, tool: &str, dir: &Path, at: &str, args: &[&str]) -> (bool, String) {
    let mount = format!("{}:{at}", dir.display());
    let mut argv = vec![
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        &mount,
        "--entrypoint",
        tool,
        image,
    ];
    argv.extend_from_slice(args);
    let out = docker(&argv);
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn world_readable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    for e in std::fs::read_dir(dir).unwrap() {
        std::fs::set_permissions(e.unwrap().path(), std::fs::Permissions::from_mode(0o644))
            .unwrap();
    }
}

#[test]
fn every_rule_passes_its_generated_promtool_test_and_the_configs_are_accepted() {
    if !engine_available() {
        return;
    }
    let plan = plan_of(FULL);
    let dir = tempfile::tempdir().unwrap();
    write_files(&plan, "prometheus", dir.path());
    world_readable(dir.path());
    let (ok, out) = tool(
        "appstack/prometheus:1",
        "promtool",
        dir.path(),
        "/etc/prometheus",
        &["test", "rules", "/etc/prometheus/rules_test.yml"],
    );
    assert!(ok, "promtool test rules:\n{out}");
    let (ok, out) = tool(
        "appstack/prometheus:1",
        "promtool",
        dir.path(),
        "/etc/prometheus",
        &["check", "config", "/etc/prometheus/prometheus.yml"],
    );
    assert!(ok, "promtool check config:\n{out}");

    // Every rule has its three cases: firing after `for`, silent below, resolved.
    let rules: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string(dir.path().join("rules.yml")).unwrap())
            .unwrap();
    let tests = std::fs::read_to_string(dir.path().join("rules_test.yml")).unwrap();
    let names: Vec<String> = rules["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["alert"].as_str().unwrap().to_string())
        .collect();
    for expected in [
        "HighCpu",
        "HighMemory",
        "DiskAlmostFull",
        "SiteDown",
        "DatabaseConnectionsHigh",
        "BackupMissing",
        "BackupFailed",
        "WalShippingLag",
        "WalSpoolHigh",
        "ReplicationSlotRetention",
        "DrillFailed",
        "DrillStale",
        "TargetDown",
        "Watchdog",
    ] {
        assert!(
            names.iter().any(|n| n == expected),
            "no rule {expected}: {names:?}"
        );
    }
    for n in names.iter().filter(|n| *n != "Watchdog") {
        assert!(
            tests.contains(&format!("{n} fires after")),
            "no firing test for {n}"
        );
        assert!(
            tests.contains(&format!("{n} stays silent just below")),
            "no silence test for {n}"
        );
    }

    let am = tempfile::tempdir().unwrap();
    write_files(&plan, "alertmanager", am.path());
    world_readable(am.path());
    let (ok, out) = tool(
        "appstack/alertmanager:1",
        "amtool",
        am.path(),
        "/etc/alertmanager",
        &["check-config", "/etc/alertmanager/alertmanager.yml"],
    );
    assert!(ok, "amtool check-config:\n{out}");
    let config = std::fs::read_to_string(am.path().join("alertmanager.yml")).unwrap();
    assert!(
        config.contains("slack_configs"),
        "a Slack URL gets Slack's format: {config}"
    );

    let bb = tempfile::tempdir().unwrap();
    write_files(&plan, "blackbox-exporter", bb.path());
    world_readable(bb.path());
    let (ok, out) = tool(
        "appstack/blackbox-exporter:1",
        "prometheus-blackbox-exporter",
        bb.path(),
        "/etc/blackbox",
        &["--config.check", "--config.file=/etc/blackbox/blackbox.yml"],
    );
    assert!(ok, "blackbox --config.check:\n{out}");
}

#[test]
fn a_threshold_that_drifts_from_its_test_fails_promtool() {
    if !engine_available() {
        return;
    }
    let plan = plan_of(FULL);
    let dir = tempfile::tempdir().unwrap();
    write_files(&plan, "prometheus", dir.path());
    let rules = dir.path().join("rules.yml");
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(text.contains("> 80"), "{text}");
    std::fs::write(&rules, text.replacen("> 80", "> 86", 1)).unwrap();
    world_readable(dir.path());
    let (ok, out) = tool(
        "appstack/prometheus:1",
        "promtool",
        dir.path(),
        "/etc/prometheus",
        &["test", "rules", "/etc/prometheus/rules_test.yml"],
    );
    assert!(!ok, "a rule moved off its threshold still passed:\n{out}");
    assert!(out.contains("HighCpu"), "{out}");
}
