//! `appstack health-check --stack NAME --namespace NS` against the fake API server served
//! over HTTP: the cluster holds the AppStack (with the status the operator and the shipper
//! report), the operator's objects, and the pods a kubelet would run from its workloads.
//! Commands through pods/exec and the port-forward cannot run against the fake, so the
//! checks that need them must fail (never pass unseen); everything read from the API is
//! judged for real.

use std::sync::Arc;

use base64::Engine as _;
use chrono::{Duration, Utc};
use serde_json::{json, Value};

mod fake_api;
use fake_api::FakeApi;

const NS: &str = "shop";
const WEAK: &str = "admin123";

fn put(fake: &FakeApi, collection: &str, name: &str, object: Value) {
    fake.put(collection, name, object);
}

fn ago(d: Duration) -> String {
    (Utc::now() - d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The AppStack as the operator leaves it: acted on, with the reported recoverability.
fn register_stack(fake: &FakeApi, shipper_reported: Duration) {
    let text = std::fs::read_to_string("examples/crm.yaml").unwrap();
    let mut s: Value =
        serde_json::to_value(appstack::api::load::parse_str(&text, "t").unwrap()).unwrap();
    s["metadata"]["namespace"] = json!(NS);
    s["metadata"]["generation"] = json!(1);
    s["metadata"]["resourceVersion"] = json!("1");
    s["status"] = json!({
        "phase": "Ready",
        "observedGeneration": 1,
        "recoverability": {
            "lastBaseBackup": ago(Duration::hours(2)),
            "lastDump": ago(Duration::hours(1)),
            "walSyncedAt": ago(shipper_reported),
            "lastWalShipped": ago(shipper_reported),
            "lastDrill": {"id": "d1", "finishedAt": ago(Duration::days(1)), "passed": true, "message": "restored and verified"}
        }
    });
    put(
        fake,
        "apis/appstack.io/v1alpha1/namespaces/shop/appstacks",
        "crm",
        s,
    );
}

/// The operator's Secrets (as the API server returns them: base64 `data`), Services, and
/// one running pod per workload; `edit` changes a pod before it is stored.
fn register_children(fake: &FakeApi, edit: impl Fn(&str, &mut Value)) {
    let text = std::fs::read_to_string("examples/crm.yaml").unwrap();
    let object = appstack::api::load::parse_str(&text, "t").unwrap();
    let stack = appstack::api::validate::validate(&object, "t").unwrap();
    let plan = appstack::plan::build(&stack);
    let mut n = 0;
    let children = appstack::kube::build(
        &plan,
        &appstack::kube::Owner {
            name: "crm".into(),
            uid: None,
        },
        &appstack::kube::Images::default(),
        &mut |len| {
            n += 1;
            format!("Zq8vN2kLp4xWm7rT{n}")
                .chars()
                .cycle()
                .take(len.max(16))
                .collect()
        },
    );
    let b64 = base64::engine::general_purpose::STANDARD;
    for doc in children.documents().unwrap() {
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        match doc["kind"].as_str().unwrap() {
            "Secret" => {
                let mut data = serde_json::Map::new();
                for (k, v) in doc["stringData"].as_object().cloned().unwrap_or_default() {
                    let v = if name == "crm-cms" && k == "admin-password" {
                        WEAK.to_string()
                    } else {
                        v.as_str().unwrap().to_string()
                    };
                    data.insert(k, json!(b64.encode(v)));
                }
                let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": doc["metadata"], "data": data});
                put(fake, "api/v1/namespaces/shop/secrets", &name, secret);
            }
            "Service" => put(fake, "api/v1/namespaces/shop/services", &name, doc),
            "Deployment" | "StatefulSet" => {
                let template = &doc["spec"]["template"];
                let statuses: Vec<Value> = template["spec"]["containers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": true, "started": true, "restartCount": 0, "state": {"running": {"startedAt": ago(Duration::hours(3))}}}))
                    .collect();
                let pod_name = format!("{name}-0");
                let mut pod = json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod_name, "namespace": NS, "labels": template["metadata"]["labels"]},
                    "spec": template["spec"],
                    "status": {"phase": "Running", "containerStatuses": statuses}
                });
                edit(&name, &mut pod);
                put(fake, "api/v1/namespaces/shop/pods", &pod_name, pod);
            }
            _ => {}
        }
    }
    // Added by hand, outside the operator: PostgreSQL on every node's port 30432.
    put(
        fake,
        "api/v1/namespaces/shop/services",
        "crm-db-public",
        json!({"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": "crm-db-public", "namespace": NS},
               "spec": {"type": "NodePort", "selector": {"appstack.io/stack": "crm", "appstack.io/component": "database"},
                        "ports": [{"name": "pg", "port": 5432, "targetPort": 5432, "nodePort": 30432, "protocol": "TCP"}]}}),
    );
}

/// The cache crashed three times; the CMS was started in development mode.
fn troubled(workload: &str, pod: &mut Value) {
    match workload {
        "crm-cache" => pod["status"]["containerStatuses"][0]["restartCount"] = json!(3),
        "crm-cms" => {
            let env = pod["spec"]["containers"][0]["env"].as_array_mut().unwrap();
            env.retain(|e| e["name"] != "NODE_ENV");
            env.push(json!({"name": "NODE_ENV", "value": "development"}));
        }
        _ => {}
    }
}

/// Runs the command against `fake` served over HTTP; exit code, stdout, stderr.
async fn health_check(fake: Arc<FakeApi>, args: &[&str]) -> (Option<i32>, String, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(fake_api::serve_http(fake, listener, None));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fake_api::kubeconfig(dir.path(), port, NS);
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_appstack"))
        .arg("health-check")
        .args(args)
        .env("KUBECONFIG", &kubeconfig)
        .env("APPSTACK_STATE_DIR", dir.path().join("state"))
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), out)
        .await
        .expect("health-check still running after 120 s")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["report"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

#[tokio::test]
async fn the_cluster_is_read_and_each_problem_is_named() {
    let fake = Arc::new(FakeApi::default());
    register_stack(&fake, Duration::seconds(5));
    register_children(&fake, troubled);
    let (code, out, err) =
        health_check(fake, &["--stack", "crm", "--namespace", NS, "-o", "json"]).await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    assert!(!out.contains(WEAK), "a password was printed");
    let report: Value = serde_json::from_str(&out).unwrap();
    for c in report["report"]["checks"].as_array().unwrap() {
        eprintln!(
            "{} {} {}",
            if c["passed"] == true { "ok  " } else { "FAIL" },
            c["id"],
            c["evidence"]
        );
    }
    let failed = |id: &str| {
        let c = check(&report, id);
        assert_eq!(c["passed"], false, "{id}: {c}");
        c["evidence"].as_str().unwrap().to_string()
    };
    let passed = |id: &str| {
        let c = check(&report, id);
        assert_eq!(c["passed"], true, "{id}: {c}");
    };
    assert!(
        failed("security.database-not-public").contains("crm-db-public: NodePort, node port 30432")
    );
    passed("security.cache-not-public");
    assert!(failed("security.weak-passwords").contains("cms/admin-password: a common password"));
    assert!(failed("security.debug-off").contains("cms: NODE_ENV=development"));
    assert!(failed("runtime.restarts").contains("cache: restarted 3 time(s)"));
    passed("security.tls");
    passed("runtime.components");
    passed("runtime.daemon");
    passed("recoverability.rpo");
    passed("recoverability.base-backup");
    passed("recoverability.drill");
    // The fake cannot exec or port-forward: what needs it fails, saying so.
    failed("connectivity.database");
    assert!(failed("storage.free-disk").contains("not measured: "));
    assert!(failed("security.csp").contains("port-forward"));
}

#[tokio::test]
async fn a_silent_shipper_and_a_missing_stack_are_reported() {
    let fake = Arc::new(FakeApi::default());
    register_stack(&fake, Duration::minutes(10));
    register_children(&fake, |_, _| {});
    let (code, out, err) = health_check(
        fake.clone(),
        &["--stack", "crm", "--namespace", NS, "-o", "json"],
    )
    .await;
    assert_eq!(code, Some(1), "{out}\n{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let daemon = check(&report, "runtime.daemon");
    assert_eq!(daemon["passed"], false, "{daemon}");
    assert!(
        daemon["evidence"]
            .as_str()
            .unwrap()
            .contains("WAL shipper last reported"),
        "{daemon}"
    );
    assert_eq!(check(&report, "recoverability.rpo")["passed"], false);
    assert_eq!(check(&report, "runtime.restarts")["passed"], true);
    let (code, out, err) = health_check(fake, &["--stack", "nope", "--namespace", NS]).await;
    assert_eq!(code, Some(2), "{out}\n{err}");
    assert!(err.contains("no AppStack nope in namespace shop"), "{err}");
}
