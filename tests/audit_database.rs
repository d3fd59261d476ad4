//! `appstack audit` on the quickstart seeded with a PostGIS table of a million rows, an
//! unindexed filter column and an unindexed geometry predicate under a SQL workload: the
//! audit names both missing indexes (B-tree and GiST), proves them (HypoPG; a private copy
//! for the GiST), and with `--apply-indexes` creates them and shows the measured speed-up.
//! It also finds a planted Redis backlog. The same audit in Kubernetes mode (`--stack`)
//! runs against the fake API server, whose pods/exec and pods/portforward land in the
//! stack's containers: psql, redis-cli and the routes are reached through the API alone.

mod common;
mod fake_api;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::Value;

const SEED: &str = "CREATE TABLE places AS SELECT g AS id, 'cat-' || (g % 5000) AS category, \
  md5(g::text) AS name, \
  ST_SetSRID(ST_MakePoint(random() * 360 - 180, random() * 170 - 85), 4326) AS geom \
  FROM generate_series(1, 1000000) g; ALTER TABLE places ADD PRIMARY KEY (id); ANALYZE places";

/// The quickstart's spec, unpublished, with a queue to audit.
fn quickstart_spec() -> String {
    let spec = quickstart_unpublished();
    let api = "    apiRoutes: [\"/items/articles?limit=20&sort=-id\"]\n";
    assert!(spec.contains(api), "the quickstart's audit section changed");
    let queues = "    queues:\n      - {name: emails, key: \"queue:emails\", failedKey: \"queue:emails:failed\"}\n";
    spec.replace(api, &format!("{api}{queues}"))
}

/// One workload query with constants, as an application sends it.
fn workload_query(i: u64) -> String {
    if i.is_multiple_of(2) {
        format!(
            "SELECT id, name FROM places WHERE category = 'cat-{}'",
            i * 7919 % 5000
        )
    } else {
        let (x, y) = ((i * 37 % 340) as f64 - 170.0, (i * 53 % 160) as f64 - 80.0);
        format!(
            "SELECT count(*) FROM places WHERE ST_DWithin(geom, ST_SetSRID(ST_MakePoint({x}, {y}), 4326), 1.5)"
        )
    }
}

fn audit_json(s: &TestStack, extra: &[&str]) -> Value {
    let mut args = vec![
        "audit",
        "--samples",
        "3",
        "--no-load",
        "--max-duration",
        "5m",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = s.run_ok(&args);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn suggestion<'a>(report: &'a Value, method: &str, column: &str) -> &'a Value {
    report["database"]["missingIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["method"] == method && s["columns"][0] == column && s["table"] == "places")
        .unwrap_or_else(|| panic!("no {method} ({column}) suggested: {:#}", report["database"]))
}

#[test]
fn the_audit_proves_and_applies_the_missing_indexes_and_finds_the_backlog() {
    if !engine_available() {
        return;
    }
    let s = TestStack::new("it-audit-db", &quickstart_spec());
    s.run_ok(&["up"]);
    s.psql(SEED);
    push_jobs(&s.name, "queue:emails", 250);
    for i in 0..12 {
        s.psql(&workload_query(i));
    }

    let report = audit_json(&s, &[]);
    for (method, column) in [("btree", "category"), ("gist", "geom")] {
        let found = suggestion(&report, method, column);
        let proof = &found["proof"];
        assert_eq!(proof["used"], true, "{found:#}");
        assert!(
            proof["costAfter"].as_f64() < proof["costBefore"].as_f64(),
            "{found:#}"
        );
        eprintln!(
            "{method} ({column}) proven by {}: cost {} → {}",
            proof["how"], proof["costBefore"], proof["costAfter"]
        );
    }
    assert_eq!(
        report["queues"][0]["pending"], 250,
        "{:#}",
        report["queues"]
    );
    let verdict = |r: &Value| {
        r["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["check"] == "missing indexes")
            .cloned()
            .unwrap()
    };
    assert_eq!(verdict(&report)["pass"], false);

    let cluster = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(cluster::audit(&s.name, &quickstart_spec()));
    cluster::check(&cluster, &report);

    // The application keeps querying while the indexes are built and measured again.
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (stop, name) = (stop.clone(), s.name.clone());
        std::thread::spawn(move || {
            let mut i = 100;
            while !stop.load(Ordering::Relaxed) {
                psql(&name, &workload_query(i));
                i += 1;
            }
        })
    };
    let applied = audit_json(&s, &["--apply-indexes"]);
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    for (method, column) in [("btree", "category"), ("gist", "geom")] {
        let a = &suggestion(&applied, method, column)["applied"];
        let (before, after) = (
            a["meanMsBefore"].as_f64().unwrap(),
            a["meanMsAfter"].as_f64().unwrap_or(f64::NAN),
        );
        eprintln!("{method} ({column}) applied as {} in {:.1} s: {before:.2} ms ({} calls) → {after:.2} ms ({} calls)", a["index"], a["buildSeconds"].as_f64().unwrap(), a["callsBefore"], a["callsAfter"]);
        assert!(after < before / 5.0, "{a:#}");
    }
    assert_eq!(verdict(&applied)["pass"], true);
    let indexes =
        s.psql("SELECT string_agg(indexdef, E'\\n') FROM pg_indexes WHERE tablename = 'places'");
    assert!(
        indexes.contains("USING gist (geom)") && indexes.contains("USING btree (category)"),
        "{indexes}"
    );
}

/// Kubernetes mode against the fake API server standing in for a cluster whose pods are
/// this stack's containers.
mod cluster {
    use std::sync::Arc;

    use serde_json::{json, Value};

    use super::fake_api::{self, FakeApi};

    const NS: &str = "shop";

    /// The AppStack, one running pod per workload the operator would create (its spec from
    /// the builders), each pod's container the stack's Docker container, a node and the
    /// metrics API's readings.
    fn cluster(name: &str, spec: &str) -> FakeApi {
        let fake = FakeApi::default();
        let text = format!("apiVersion: appstack.io/v1alpha1\nkind: AppStack\nmetadata:\n  name: {name}\n  namespace: {NS}\nspec:\n{spec}");
        let object = appstack::api::load::parse_str(&text, "t").unwrap();
        let stack = appstack::api::validate::validate(&object, "t").unwrap();
        let plan = appstack::plan::build(&stack).without_edge();
        fake.put(
            &format!("apis/appstack.io/v1alpha1/namespaces/{NS}/appstacks"),
            name,
            serde_json::to_value(&object).unwrap(),
        );
        let owner = appstack::kube::Owner {
            name: name.into(),
            uid: None,
        };
        let children = appstack::kube::build(
            &plan,
            &owner,
            &appstack::kube::Images::default(),
            &mut |n| "x".repeat(n.max(16)),
        );
        let mut metrics = Vec::new();
        for doc in children.documents().unwrap() {
            if !matches!(doc["kind"].as_str(), Some("Deployment" | "StatefulSet")) {
                continue;
            }
            let template = &doc["spec"]["template"];
            let labels = &template["metadata"]["labels"];
            let component = labels["appstack.io/component"]
                .as_str()
                .unwrap()
                .to_string();
            let pod = format!("{}-0", doc["metadata"]["name"].as_str().unwrap());
            let mut spec = template["spec"].clone();
            spec["nodeName"] = json!("node-1");
            fake.put(
                &format!("api/v1/namespaces/{NS}/pods"),
                &pod,
                json!({
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": pod, "namespace": NS, "labels": labels},
                    "spec": spec, "status": {"phase": "Running"}
                }),
            );
            let usage: Vec<Value> = spec["containers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| json!({"name": c["name"], "usage": {"cpu": "125m", "memory": "64Mi"}}))
                .collect();
            metrics.push((pod.clone(), labels.clone(), usage));
            fake.containers
                .lock()
                .unwrap()
                .insert(pod, format!("{name}-{component}"));
        }
        for (pod, labels, containers) in metrics {
            fake.put(
                &format!("apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods"),
                &pod,
                json!({
                    "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
                    "metadata": {"name": pod, "namespace": NS, "labels": labels},
                    "window": "15s", "containers": containers
                }),
            );
        }
        fake.put(
            "api/v1/nodes",
            "node-1",
            json!({"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "node-1"}, "status": {"allocatable": {"cpu": "2", "memory": "8Gi"}}}),
        );
        fake.put(
            "apis/metrics.k8s.io/v1beta1/nodes",
            "node-1",
            json!({"kind": "NodeMetrics",
            "metadata": {"name": "node-1"}, "usage": {"cpu": "750m", "memory": "3Gi"}}),
        );
        fake
    }

    /// `appstack audit --stack NAME` against the fake: its JSON report (with the Markdown
    /// one under `markdown`), and the fake.
    pub async fn audit(name: &str, spec: &str) -> (Value, Arc<FakeApi>) {
        let fake = Arc::new(cluster(name, spec));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(fake_api::serve_http(fake.clone(), listener, None));
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = fake_api::kubeconfig(dir.path(), port, NS);
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_appstack"))
            .args([
                "audit",
                "--stack",
                name,
                "--samples",
                "3",
                "--max-duration",
                "3m",
                "-o",
                "json",
                "--out",
            ])
            .arg(dir.path().join("out"))
            .env("KUBECONFIG", &kubeconfig)
            .env("APPSTACK_STATE_DIR", dir.path().join("state"))
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(std::time::Duration::from_secs(240), out)
            .await
            .expect("audit --stack still running after 240 s")
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "audit --stack failed: {stderr}");
        let mut report: Value = serde_json::from_slice(&out.stdout).unwrap();
        let md = std::fs::read_to_string(dir.path().join("out/audit.md")).unwrap();
        report["markdown"] = Value::String(md);
        (report, fake)
    }

    /// The Kubernetes-mode report against the Docker-mode one of the same stack.
    pub fn check((report, fake): &(Value, Arc<FakeApi>), docker: &Value) {
        assert_eq!(report["runtime"], "kubernetes (namespace shop)");
        let routes = report["routes"].as_array().unwrap();
        let seen = |r: &Value| {
            (
                r["name"].clone(),
                r["failed"].as_u64(),
                r["status"].as_u64(),
            )
        };
        let here: Vec<_> = routes.iter().map(seen).collect();
        let there: Vec<_> = docker["routes"]
            .as_array()
            .unwrap()
            .iter()
            .map(seen)
            .collect();
        assert_eq!(here, there, "the same routes, answered the same way");
        assert!(here
            .iter()
            .any(|(_, failed, status)| *failed == Some(0) && *status == Some(200)));
        eprintln!(
            "through port-forwards: {}",
            routes
                .iter()
                .map(|r| format!(
                    "{} ttfb p50 {:.1} ms",
                    r["name"],
                    r["ttfb"]["p50"].as_f64().unwrap()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (method, column) in [("btree", "category"), ("gist", "geom")] {
            let found = super::suggestion(report, method, column);
            assert_eq!(found["proof"]["used"], true, "{found:#}");
        }
        assert_eq!(
            report["queues"][0]["pending"], 250,
            "{:#}",
            report["queues"]
        );
        let db = report["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                c["container"]
                    == format!("{}-database-0/database", report["stack"].as_str().unwrap())
            })
            .unwrap_or_else(|| panic!("no database reading: {:#}", report["components"]));
        assert_eq!(db["cpuCores"], 0.125);
        assert!(db["memoryLimit"].as_u64().is_some(), "{db:#}");
        assert_eq!(
            report["nodes"][0]["name"], "node-1",
            "{:#}",
            report["unmeasured"]
        );
        assert!(report["capacityError"]
            .as_str()
            .unwrap()
            .contains("Kubernetes mode"));
        assert!(report.get("host").is_none());
        let md = report["markdown"].as_str().unwrap();
        for shown in [
            "through port-forwards",
            "- node node-1: CPU 0.75 of 2.00",
            "Kubernetes mode",
        ] {
            assert!(md.contains(shown), "{shown:?} not in the report:\n{md}");
        }
        let log = fake.log.lock().unwrap();
        let upgraded = |sub: &str| log.iter().filter(|l| l.path.ends_with(sub)).count();
        assert!(upgraded("/exec") > 5 && upgraded("/portforward") >= routes.len() * 3);
        eprintln!(
            "Kubernetes mode: {} exec and {} port-forward requests",
            upgraded("/exec"),
            upgraded("/portforward")
        );
    }
}
