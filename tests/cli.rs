//! CLI behaviour that needs no Docker engine: validation corpus, examples, CRD drift, help.

use std::path::Path;
use std::process::Command;

fn appstack() -> Command {
    Command::new(env!("CARGO_BIN_EXE_appstack"))
}

#[test]
fn every_invalid_manifest_exits_2_naming_its_field() {
    let mut count = 0;
    let mut entries: Vec<_> = std::fs::read_dir("tests/invalid")
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} lacks '# expect:'", path.display()));
        let out = appstack()
            .args(["validate", "-f"])
            .arg(&path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{}: {stderr}", path.display());
        assert!(
            stderr.contains(expect),
            "{}: expected {expect:?} in: {stderr}",
            path.display()
        );
        assert!(
            stderr.contains(&path.display().to_string()),
            "error must name the file: {stderr}"
        );
        count += 1;
    }
    assert!(
        count >= 30,
        "the corpus has {count} manifests, want at least 30"
    );
}

#[test]
fn all_errors_are_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.yaml");
    std::fs::write(&f, "apiVersion: appstack.io/v1alpha1\nkind: AppStack\nmetadata: {name: t}\nspec:\n  database: {storage: 20Gx, maxConnections: 5}\n  cache: {maxmemory: none}\n  backup: {dump: {schedule: \"x\"}}\n").unwrap();
    let out = appstack()
        .args(["validate", "-o", "json", "-f"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths: Vec<&str> = doc["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    for want in [
        "spec.database.storage",
        "spec.database.maxConnections",
        "spec.cache.maxmemory",
        "spec.backup.dump.schedule",
    ] {
        assert!(paths.contains(&want), "{want} missing from {paths:?}");
    }
}

#[test]
fn missing_file_is_invalid_input() {
    let out = appstack()
        .args(["validate", "-f", "/nonexistent/stack.yaml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/stack.yaml"));
}

#[test]
fn examples_are_valid() {
    for ex in ["examples/quickstart.yaml", "examples/crm.yaml"] {
        let out = appstack().args(["validate", "-f", ex]).output().unwrap();
        assert!(
            out.status.success(),
            "{ex}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn committed_crd_matches_generated() {
    let out = appstack().arg("crd").output().unwrap();
    assert!(out.status.success());
    let committed = std::fs::read_to_string(Path::new("crds/appstack.yaml")).unwrap();
    assert!(
        committed == String::from_utf8_lossy(&out.stdout),
        "crds/appstack.yaml is stale: run `cargo run -- crd > crds/appstack.yaml`"
    );
}

#[test]
fn every_command_has_help_with_examples() {
    for cmd in [
        "validate", "plan", "up", "down", "status", "logs", "run", "crd",
    ] {
        let out = appstack().args([cmd, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("Examples:"),
            "{cmd} --help: {text}"
        );
    }
    let out = appstack()
        .args(["export", "compose", "--help"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("Examples:"));
}

#[test]
fn committed_compose_export_matches_the_exporter() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out");
    let status = appstack()
        .args(["--state-dir", tmp.path().join("state").to_str().unwrap()])
        .args(["export", "compose", "-f", "examples/quickstart.yaml", "-o"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let committed = Path::new("compose/quickstart");
    for rel in [
        "docker-compose.yml",
        "files/cache/redis.conf",
        "files/prometheus/prometheus.yml",
        "files/prometheus/rules.yml",
        "files/alertmanager/alertmanager.yml",
    ] {
        assert_eq!(
            std::fs::read_to_string(committed.join(rel)).unwrap(),
            std::fs::read_to_string(out.join(rel)).unwrap(),
            "compose/quickstart/{rel} drifted: rerun `appstack export compose -f examples/quickstart.yaml -o compose/quickstart` and delete its secrets/"
        );
    }
}
