//! `deploy --stack` against kube-rs' mocked API: the AppStack's image is patched with a
//! merge patch, the operator (its real reconcile) rolls the Deployment, a stand-in for the
//! controller-manager reports the rollout, and a rollout that stalls puts the spec back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use appstack::api::conditions::Clock;
use appstack::api::AppStack;
use appstack::deploy::{deploy_in_cluster, DeployRequest, Outcome};
use appstack::docker::progress::Silent;
use appstack::kube::controller::{reconcile_once, Context};
use appstack::kube::lease::Leadership;
use appstack::kube::Images;
use appstack::telemetry::metrics::Metrics;
use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

mod fake_api;
use fake_api::{client, client_as, FakeApi, Subject};

const STACKS: &str = "apis/appstack.io/v1alpha1/namespaces/shop/appstacks";
const DEPLOYMENTS: &str = "apis/apps/v1/namespaces/shop/deployments";

struct FixedClock(DateTime<Utc>);
impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

fn operator(fake: &Arc<FakeApi>) -> Context {
    Context {
        client: client_as(fake.clone(), Subject::operator()),
        images: Images::default(),
        clock: Arc::new(FixedClock(
            Utc.with_ymd_and_hms(2026, 12, 3, 12, 0, 0).unwrap(),
        )),
        leadership: Leadership::always(),
        metrics: Arc::new(Metrics::new()),
        recorder: None,
        generate: |n| "x".repeat(n),
    }
}

fn current(fake: &FakeApi) -> AppStack {
    let objects = fake.objects.lock().unwrap();
    serde_json::from_value(objects[STACKS]["crm"].clone()).unwrap()
}

/// The operator and the controller-manager, every 100 ms until stopped: the AppStack is
/// reconciled, then the frontend Deployment's status says its template rolled out (or,
/// for `stalls`, that it stopped progressing).
fn cluster(
    fake: Arc<FakeApi>,
    stalls: &'static str,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let ctx = operator(&fake);
        while !stop.load(Ordering::SeqCst) {
            let s = current(&fake);
            reconcile_once(&s, &ctx).await.unwrap();
            {
                let mut objects = fake.objects.lock().unwrap();
                let d = objects
                    .get_mut(DEPLOYMENTS)
                    .unwrap()
                    .get_mut("crm-frontend")
                    .unwrap();
                let image = d["spec"]["template"]["spec"]["containers"][0]["image"].clone();
                let replicas = d["spec"]["replicas"].clone();
                d["status"] = if image == stalls {
                    json!({"replicas": 3, "updatedReplicas": 1, "availableReplicas": 2, "conditions": [
                        {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                         "message": "ReplicaSet \"crm-frontend-5d9\" has timed out progressing."}]})
                } else {
                    json!({"replicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas})
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn request(image: &str) -> DeployRequest {
    DeployRequest {
        component: "frontend".into(),
        image: image.into(),
        migrate: false,
        maintenance: false,
        write: None,
        watch: Duration::ZERO,
        rate: 25,
        probe_path: "/".into(),
        migrate_timeout: Duration::from_secs(60),
        health_timeout: Some(Duration::from_secs(20)),
    }
}

async fn setup() -> Arc<FakeApi> {
    let fake = Arc::new(FakeApi::with_bundle());
    let text = std::fs::read_to_string("examples/crm.yaml").unwrap();
    let mut s = appstack::api::load::parse_str(&text, "crm.yaml").unwrap();
    s.metadata.namespace = Some("shop".into());
    s.metadata.uid = Some("0b6f3f4e-0000-4000-8000-000000000002".into());
    s.metadata.generation = Some(1);
    let mut v = serde_json::to_value(&s).unwrap();
    v["metadata"]["resourceVersion"] = json!("1");
    fake.objects
        .lock()
        .unwrap()
        .entry(STACKS.into())
        .or_default()
        .insert("crm".into(), v);
    reconcile_once(&s, &operator(&fake)).await.unwrap();
    fake
}

#[tokio::test]
async fn a_cluster_deploy_patches_the_image_and_waits_for_the_rollout() {
    let fake = setup().await;
    let old = current(&fake).spec.frontend.unwrap().image;
    let stop = Arc::new(AtomicBool::new(false));
    let sim = cluster(fake.clone(), "never", stop.clone());
    fake.clear_log();
    let report = deploy_in_cluster(
        client(fake.clone()),
        "shop",
        "crm",
        &request("registry.example/crm-web:2"),
        &Silent,
    )
    .await
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    sim.await.unwrap();
    assert_eq!(report.outcome, Outcome::Deployed, "{:?}", report.reason);
    assert_eq!(report.from_image, old);
    assert_eq!(
        current(&fake).spec.frontend.unwrap().image,
        "registry.example/crm-web:2"
    );
    // The spec changed by one merge patch of the image, nothing else.
    let patches: Vec<_> = fake
        .writes()
        .into_iter()
        .filter(|w| w.path.ends_with("/appstacks/crm") && w.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 1);
    assert_eq!(patches[0].content_type, "application/merge-patch+json");
    assert_eq!(
        patches[0].body,
        json!({"spec": {"frontend": {"image": "registry.example/crm-web:2"}}})
    );
}

#[tokio::test]
async fn a_stalled_rollout_puts_the_old_image_back() {
    let fake = setup().await;
    let old = current(&fake).spec.frontend.unwrap().image;
    let stop = Arc::new(AtomicBool::new(false));
    let sim = cluster(
        fake.clone(),
        "registry.example/crm-web:broken",
        stop.clone(),
    );
    let report = deploy_in_cluster(
        client(fake.clone()),
        "shop",
        "crm",
        &request("registry.example/crm-web:broken"),
        &Silent,
    )
    .await
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    sim.await.unwrap();
    assert_eq!(report.outcome, Outcome::Aborted);
    assert!(
        report
            .reason
            .as_deref()
            .unwrap()
            .contains("timed out progressing"),
        "{:?}",
        report.reason
    );
    assert_eq!(current(&fake).spec.frontend.unwrap().image, old);
    let objects = fake.objects.lock().unwrap();
    assert_eq!(
        objects[DEPLOYMENTS]["crm-frontend"]["spec"]["template"]["spec"]["containers"][0]["image"],
        json!(old)
    );
}
