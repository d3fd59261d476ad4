//! The per-stack backup identity against the fake API server's RBAC (the rendered Role and
//! RoleBinding, authorised as the API server would): it reads and execs in the database
//! pod by name and in no other pod, lists none, and the files backup's `--here cms` runs
//! its command in its own container without a request.

use std::path::Path;
use std::sync::Arc;

use appstack::kube::runner::KubeRunner;
use appstack::kube::{build, Images, Owner};
use appstack::protect::runner::capture;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::{json, Value};

mod fake_api;
use fake_api::{client_as, FakeApi, Subject};

const NS: &str = "default";

fn seeded() -> Arc<FakeApi> {
    let (_, stack) = appstack::api::load_validated(Path::new("examples/quickstart.yaml")).unwrap();
    let plan = appstack::plan::build(&stack);
    let owner = Owner {
        name: stack.name.clone(),
        uid: Some("00000000-0000-4000-8000-000000000001".into()),
    };
    let c = build(&plan, &owner, &Images::default(), &mut |len| {
        "x".repeat(len)
    });
    let fake = Arc::new(FakeApi::default());
    {
        let mut objects = fake.objects.lock().unwrap();
        let rbac = format!("apis/rbac.authorization.k8s.io/v1/namespaces/{NS}");
        for r in &c.roles {
            let mut v = serde_json::to_value(r).unwrap();
            v["kind"] = json!("Role");
            let name = r.metadata.name.clone().unwrap();
            objects
                .entry(format!("{rbac}/roles"))
                .or_default()
                .insert(name, v);
        }
        for b in &c.role_bindings {
            let mut v = serde_json::to_value(b).unwrap();
            v["kind"] = json!("RoleBinding");
            let name = b.metadata.name.clone().unwrap();
            objects
                .entry(format!("{rbac}/rolebindings"))
                .or_default()
                .insert(name, v);
        }
        let pods = objects
            .entry(format!("api/v1/namespaces/{NS}/pods"))
            .or_default();
        for (name, component) in [
            ("quickstart-database-0", "database"),
            ("quickstart-cms-7c9d5-abcde", "cms"),
        ] {
            pods.insert(name.into(), pod(name, component));
        }
    }
    fake
}

fn pod(name: &str, component: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {
            "appstack.io/stack": "quickstart", "appstack.io/component": component}},
        "status": {"phase": "Running"}
    })
}

fn backup_identity(fake: &Arc<FakeApi>) -> kube::Client {
    client_as(fake.clone(), Subject::new(NS, "quickstart-backup"))
}

#[tokio::test]
async fn the_backup_identity_reaches_the_database_pod_by_name_and_nothing_else() {
    let fake = seeded();
    let pods: Api<Pod> = Api::namespaced(backup_identity(&fake), NS);
    pods.get("quickstart-database-0").await.unwrap();
    let other = pods.get("quickstart-cms-7c9d5-abcde").await.unwrap_err();
    assert!(other.to_string().contains("forbidden"), "{other}");
    let list = pods.list(&ListParams::default()).await.unwrap_err();
    assert!(list.to_string().contains("forbidden"), "{list}");
    // Exec in the CMS pod is refused by RBAC before anything runs.
    let cms = KubeRunner {
        client: backup_identity(&fake),
        namespace: NS.into(),
        stack: "quickstart".into(),
        pod: Some("quickstart-cms-7c9d5-abcde".into()),
        local: Vec::new(),
    };
    let refused = capture(&cms, "cms", vec!["true".into()]).await.unwrap_err();
    assert!(refused.to_string().contains("forbidden"), "{refused}");
    // In the database pod RBAC lets the exec through (the fake cannot upgrade the stream).
    let database = KubeRunner { pod: None, ..cms };
    let passed = capture(&database, "database", vec!["true".into()])
        .await
        .unwrap_err();
    assert!(!passed.to_string().contains("forbidden"), "{passed}");
    let asked: Vec<String> = fake
        .log
        .lock()
        .unwrap()
        .iter()
        .map(|l| l.path.clone())
        .collect();
    assert!(
        asked
            .iter()
            .any(|p| p.ends_with("pods/quickstart-database-0/exec")),
        "{asked:?}"
    );
}

#[tokio::test]
async fn a_component_mounted_here_runs_here_without_a_request() {
    let fake = seeded();
    let runner = KubeRunner {
        client: backup_identity(&fake),
        namespace: NS.into(),
        stack: "quickstart".into(),
        pod: None,
        local: vec!["cms".into()],
    };
    fake.clear_log();
    let out = capture(
        &runner,
        "cms",
        vec!["printf".into(), "%s".into(), "here".into()],
    )
    .await
    .unwrap();
    assert_eq!(out, "here");
    assert!(fake.log.lock().unwrap().is_empty());
}
