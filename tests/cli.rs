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
    for sub in [["wal", "ship"], ["backup", "now"], ["render", "kube"]] {
        let out = appstack().args(sub).arg("--help").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("Examples:"), "{sub:?} --help: {text}");
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
        "appstack.yaml",
    ] {
        assert_eq!(
            std::fs::read_to_string(committed.join(rel)).unwrap(),
            std::fs::read_to_string(out.join(rel)).unwrap(),
            "compose/quickstart/{rel} drifted: rerun `appstack export compose -f examples/quickstart.yaml -o compose/quickstart` and delete its secrets/"
        );
    }
}

/// `wal ship` (the Kubernetes sidecar's command) drains a spool into the store named by the
/// spec: complete segments are stored and then removed from the spool, SIGTERM stops it.
#[test]
fn wal_ship_drains_a_spool_into_the_specs_store() {
    let dir = tempfile::tempdir().unwrap();
    let spool = dir.path().join("spool");
    let store = dir.path().join("store");
    std::fs::create_dir_all(&spool).unwrap();
    let manifest = dir.path().join("stack.yaml");
    let text = std::fs::read_to_string("examples/quickstart.yaml")
        .unwrap()
        .replace(
            "target: file:///var/lib/appstack/backups",
            &format!("target: file://{}", store.display()),
        );
    std::fs::write(&manifest, text).unwrap();
    // Two complete 16 MiB segments and the open one, as pg_receivewal leaves them.
    let mut segment = vec![0u8; 16 << 20];
    for (i, b) in segment.iter_mut().enumerate().take(1 << 20) {
        *b = (i % 251) as u8;
    }
    for name in ["000000010000000000000001", "000000010000000000000002"] {
        std::fs::write(spool.join(name), &segment).unwrap();
    }
    std::fs::write(spool.join("000000010000000000000003.partial"), &segment).unwrap();

    let child = appstack()
        .args(["wal", "ship", "-f"])
        .arg(&manifest)
        .arg("--spool")
        .arg(&spool)
        .env("APPSTACK_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let wal_dir = store.join("quickstart").join("wal");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let stored = loop {
        let names: Vec<String> = std::fs::read_dir(&wal_dir)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default();
        let drained = !spool.join("000000010000000000000002").exists();
        if drained && names.iter().any(|n| n.contains(".partial")) {
            break names;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "spool not drained: store holds {names:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    for seg in ["000000010000000000000001", "000000010000000000000002"] {
        assert!(
            stored.iter().any(|n| n.starts_with(&format!("{seg}-"))),
            "{seg} missing from {stored:?}"
        );
        assert!(!spool.join(seg).exists(), "{seg} still in the spool");
    }
    // The open segment stays in the spool: pg_receivewal is still writing it.
    assert!(spool.join("000000010000000000000003.partial").exists());
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn wal_ship_and_backup_now_refuse_bad_arguments() {
    let out = appstack()
        .args([
            "wal",
            "ship",
            "-f",
            "examples/quickstart.yaml",
            "--spool",
            "/nonexistent/spool",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--spool /nonexistent/spool"));
    let out = appstack()
        .args(["backup", "now", "--namespace", "x"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `backup now --stack` (what the CronJobs run) reads its AppStack from the API server the
/// kubeconfig names: here a one-route fake serving the quickstart with a file target.
#[test]
fn backup_now_reads_its_stack_from_the_cluster() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let yaml = std::fs::read_to_string("examples/quickstart.yaml")
        .unwrap()
        .replace(
            "target: file:///var/lib/appstack/backups",
            &format!("target: file://{}", store.display()),
        );
    let mut object: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    object["metadata"]["namespace"] = "shop".into();
    let body = object.to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { continue };
            let mut reader = BufReader::new(sock.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            log.lock().unwrap().push(line.trim().to_string());
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let ok = line.starts_with(
                "GET /apis/appstack.io/v1alpha1/namespaces/shop/appstacks/quickstart ",
            );
            let (status, text) = if ok {
                ("200 OK", body.clone())
            } else {
                ("404 Not Found", r#"{"kind":"Status","apiVersion":"v1","status":"Failure","code":404,"reason":"NotFound","message":"not found"}"#.to_string())
            };
            let _ = write!(
                sock,
                "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
                text.len()
            );
        }
    });
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: shop\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: t\n"
        ),
    )
    .unwrap();
    let out = appstack()
        .args(["backup", "now", "--stack", "quickstart", "--prune-only"])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("retention (keep-last 7, max-age 14d)"),
        "{stderr}"
    );
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("/namespaces/shop/appstacks/quickstart")),
        "{:?}",
        seen.lock().unwrap()
    );
    let out = appstack()
        .args(["backup", "now", "--stack", "missing", "--prune-only"])
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AppStack shop/missing does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
