//! The operator against kube-rs' mocked API (tower-test): a fake API server answers every
//! request the reconcile makes (SSA patches, lists, creates, deletes, status patches,
//! events, the Lease), keeps the objects, and logs each request for the assertions.

use std::sync::Arc;

use appstack::api::conditions::Clock;
use appstack::api::AppStack;
use appstack::kube::controller::{reconcile_once, Context};
use appstack::kube::lease::{try_acquire, Leadership, LeaseConfig};
use appstack::kube::Images;
use appstack::telemetry::metrics::Metrics;
use chrono::{DateTime, TimeZone, Utc};
use kube::runtime::controller::Action;
use kube::Client;
use serde_json::{json, Value};

mod fake_api;
use fake_api::{client_as, FakeApi, Logged, Subject};

struct FixedClock(DateTime<Utc>);
impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A client acting as the operator's service account, authorised by the bundle's RBAC.
fn operator(fake: &Arc<FakeApi>) -> Client {
    client_as(fake.clone(), Subject::operator())
}

fn context(client: Client, leadership: Leadership) -> Context {
    Context {
        client,
        images: Images::default(),
        clock: Arc::new(FixedClock(
            Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
        )),
        leadership,
        metrics: Arc::new(Metrics::new()),
        recorder: None,
        generate: |n| "x".repeat(n),
    }
}

fn stack(yaml: &str, generation: i64) -> AppStack {
    let mut s = appstack::api::load::parse_str(yaml, "test").unwrap();
    s.metadata.namespace = Some("shop".into());
    s.metadata.uid = Some("0b6f3f4e-0000-4000-8000-000000000001".into());
    s.metadata.generation = Some(generation);
    s
}

/// Stores the AppStack in the fake (the status patch needs it) and returns it.
fn register(fake: &FakeApi, s: &AppStack) {
    let mut v = serde_json::to_value(s).unwrap();
    v["metadata"]["resourceVersion"] = json!("1");
    fake.objects
        .lock()
        .unwrap()
        .entry("apis/appstack.io/v1alpha1/namespaces/shop/appstacks".into())
        .or_default()
        .insert(s.metadata.name.clone().unwrap(), v);
}

/// The AppStack as the fake holds it now (with the status the operator patched).
fn current(fake: &FakeApi, name: &str) -> AppStack {
    let objects = fake.objects.lock().unwrap();
    serde_json::from_value(
        objects["apis/appstack.io/v1alpha1/namespaces/shop/appstacks"][name].clone(),
    )
    .unwrap()
}

fn example() -> String {
    std::fs::read_to_string("examples/crm.yaml").unwrap()
}

async fn first_sync(fake: &Arc<FakeApi>, ctx: &Context, yaml: &str) -> AppStack {
    let s = stack(yaml, 1);
    register(fake, &s);
    reconcile_once(&s, ctx).await.unwrap();
    current(fake, "crm")
}

#[tokio::test]
async fn first_reconcile_creates_every_child_with_ssa_and_one_field_manager() {
    let fake = Arc::new(FakeApi::with_bundle());
    let ctx = context(operator(&fake), Leadership::always());
    let s = stack(&example(), 1);
    register(&fake, &s);
    let out = reconcile_once(&s, &ctx).await.unwrap();
    let writes = fake.writes();
    let applies: Vec<&Logged> = writes
        .iter()
        .filter(|w| w.method == "PATCH" && !w.path.ends_with("/status"))
        .collect();
    // Everything but the Secrets is server-side applied, with one field manager, forced.
    let children = appstack::kube::build(
        &appstack::plan::build(&appstack::api::validate::validate(&s, "t").unwrap()),
        &appstack::kube::Owner {
            name: "crm".into(),
            uid: s.metadata.uid.clone(),
        },
        &Images::default(),
        &mut |n| "x".repeat(n),
    );
    let docs = children.documents().unwrap();
    let secrets = docs.iter().filter(|d| d["kind"] == "Secret").count();
    assert_eq!(applies.len(), docs.len() - secrets, "{:?}", out.report);
    for a in &applies {
        assert_eq!(a.content_type, "application/apply-patch+yaml", "{}", a.path);
        assert!(
            a.query.contains("fieldManager=appstack-operator") && a.query.contains("force=true"),
            "{}",
            a.query
        );
        assert_eq!(
            a.body["metadata"]["ownerReferences"].is_array(),
            a.body["kind"] != "PersistentVolumeClaim",
            "{}",
            a.path
        );
        assert!(a.body["metadata"]["annotations"]["appstack.io/applied-hash"].is_string());
    }
    // Secrets are created, once.
    let creates: Vec<&Logged> = writes.iter().filter(|w| w.method == "POST").collect();
    assert_eq!(creates.len(), secrets);
    assert!(creates.iter().all(|c| c.path.ends_with("/secrets")));
    // One status patch, carrying observedGeneration and the conditions.
    let status: Vec<&Logged> = writes
        .iter()
        .filter(|w| w.path.ends_with("/status"))
        .collect();
    assert_eq!(status.len(), 1);
    let st = &status[0].body["status"];
    assert_eq!(st["observedGeneration"], 1);
    assert_eq!(st["phase"], "Ready");
    let types: Vec<&str> = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    for t in [
        "Ready",
        "Progressing",
        "Degraded",
        "BackupHealthy",
        "WalShipping",
        "LastDrillPassed",
    ] {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    assert!(out.status_patched);
    // The stack streams WAL: a silent shipper is noticed by the clock, within a minute.
    assert_eq!(
        out.action,
        Action::requeue(std::time::Duration::from_secs(60))
    );
}

/// The WAL shipper and the backup jobs report facts into `status.recoverability`; the
/// operator judges them into BackupHealthy and WalShipping and never writes them itself.
#[tokio::test]
async fn reported_protection_facts_drive_the_conditions_and_survive_status_patches() {
    let fake = Arc::new(FakeApi::with_bundle());
    let ctx = context(operator(&fake), Leadership::always());
    let s = first_sync(&fake, &ctx, &example()).await;
    // The shipper and the backup jobs report under the identities the operator made.
    let shipper = client_as(fake.clone(), Subject::new("shop", "crm-wal-shipper"));
    let backup = client_as(fake.clone(), Subject::new("shop", "crm-backup"));
    let unknown = |s: &AppStack, t: &str| {
        s.status
            .as_ref()
            .unwrap()
            .conditions
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
            .status
            .clone()
    };
    assert_eq!(unknown(&s, "WalShipping"), "Unknown");
    // What `appstack wal ship` and `appstack backup now --stack` send.
    appstack::kube::report::report(
        &shipper,
        "shop",
        "crm",
        json!({
            "walSyncedAt": "2026-11-23T11:59:58Z",
            "lastWalShipped": "2026-11-23T11:59:57Z",
            "spoolBytes": 0,
            "walError": null,
        }),
    )
    .await
    .unwrap();
    appstack::kube::report::report(
        &backup,
        "shop",
        "crm",
        json!({
            "lastBaseBackup": "2026-11-23T02:00:41Z",
        }),
    )
    .await
    .unwrap();
    let s = current(&fake, "crm");
    fake.log.lock().unwrap().clear();
    let out = reconcile_once(&s, &ctx).await.unwrap();
    assert!(out.status_patched);
    let writes = fake.writes();
    let patch = writes.iter().find(|w| w.path.ends_with("/status")).unwrap();
    assert!(
        patch.body["status"].get("recoverability").is_none(),
        "the operator must not write the reported facts: {}",
        patch.body
    );
    let s = current(&fake, "crm");
    let st = s.status.as_ref().unwrap();
    let cond = |t: &str| st.conditions.iter().find(|c| c.type_ == t).unwrap();
    assert_eq!(
        (
            cond("WalShipping").status.as_str(),
            cond("WalShipping").reason.as_str()
        ),
        ("True", "Shipping")
    );
    assert_eq!(
        (
            cond("BackupHealthy").status.as_str(),
            cond("BackupHealthy").reason.as_str()
        ),
        ("True", "Recent")
    );
    let facts = st.recoverability.as_ref().unwrap();
    assert_eq!(
        facts.last_base_backup.as_deref(),
        Some("2026-11-23T02:00:41Z")
    );
    assert_eq!(facts.wal_synced_at.as_deref(), Some("2026-11-23T11:59:58Z"));

    // The store fails: the shipper says so, the condition turns false at the next pass.
    appstack::kube::report::report(
        &shipper,
        "shop",
        "crm",
        json!({
            "walError": "failing since 2026-11-23T11:59:59Z: connection refused",
        }),
    )
    .await
    .unwrap();
    let s = current(&fake, "crm");
    reconcile_once(&s, &ctx).await.unwrap();
    let s = current(&fake, "crm");
    let w = s
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "WalShipping")
        .unwrap()
        .clone();
    assert_eq!(
        (w.status.as_str(), w.reason.as_str()),
        ("False", "StoreUnreachable")
    );
    assert!(w.message.contains("connection refused"));

    // The drill CronJob's check reports its verdict; a missed objective turns
    // LastDrillPassed false, naming it.
    appstack::kube::report::report(
        &backup,
        "shop",
        "crm",
        json!({
            "lastDrill": {
                "id": "drill-20261123T040000.000Z",
                "finishedAt": "2026-11-23T04:02:10Z",
                "passed": false,
                "rto": "95.0s",
                "rpo": "1200.0s",
                "message": "drill drill-20261123T040000.000Z FAILED: RPO 1200.0s exceeds the objective of 15m",
            },
        }),
    )
    .await
    .unwrap();
    let s = current(&fake, "crm");
    reconcile_once(&s, &ctx).await.unwrap();
    let s = current(&fake, "crm");
    let d = s
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == "LastDrillPassed")
        .unwrap()
        .clone();
    assert_eq!(
        (d.status.as_str(), d.reason.as_str()),
        ("False", "DrillFailed")
    );
    assert!(d.message.contains("exceeds the objective"), "{}", d.message);
}

#[tokio::test]
async fn a_second_reconcile_with_nothing_changed_writes_nothing() {
    let fake = Arc::new(FakeApi::with_bundle());
    let ctx = context(operator(&fake), Leadership::always());
    let s = first_sync(&fake, &ctx, &example()).await;
    let secrets_before = fake.objects.lock().unwrap()["api/v1/namespaces/shop/secrets"].clone();
    fake.clear_log();
    let out = reconcile_once(&s, &ctx).await.unwrap();
    assert_eq!(
        fake.writes().len(),
        0,
        "{:?}",
        fake.writes()
            .iter()
            .map(|w| format!("{} {}", w.method, w.path))
            .collect::<Vec<_>>()
    );
    assert!(!out.status_patched && !out.report.changed());
    // Credentials are never rotated.
    assert_eq!(
        fake.objects.lock().unwrap()["api/v1/namespaces/shop/secrets"],
        secrets_before
    );
}

#[tokio::test]
async fn a_spec_change_patches_only_the_affected_child() {
    let fake = Arc::new(FakeApi::with_bundle());
    let ctx = context(operator(&fake), Leadership::always());
    let mut s = first_sync(&fake, &ctx, &example()).await;
    fake.clear_log();
    let cms = s.spec.cms.as_mut().unwrap();
    cms.env.insert("LOG_LEVEL".into(), "debug".into());
    s.metadata.generation = Some(2);
    register(&fake, &s);
    let out = reconcile_once(&s, &ctx).await.unwrap();
    let writes: Vec<String> = fake
        .writes()
        .iter()
        .filter(|w| !w.path.ends_with("/status"))
        .map(|w| format!("{} {}", w.method, w.path))
        .collect();
    assert_eq!(
        writes,
        vec!["PATCH /apis/apps/v1/namespaces/shop/deployments/crm-cms".to_string()]
    );
    assert_eq!(out.report.applied, vec!["Deployment/crm-cms".to_string()]);
    let status: Vec<Logged> = fake
        .writes()
        .into_iter()
        .filter(|w| w.path.ends_with("/status"))
        .collect();
    assert_eq!(status[0].body["status"]["observedGeneration"], 2);
}

#[tokio::test]
async fn disabling_monitoring_deletes_its_children_but_keeps_data() {
    let fake = Arc::new(FakeApi::with_bundle());
    let ctx = context(operator(&fake), Leadership::always());
    let text = example();
    let mut s = first_sync(&fake, &ctx, &text).await;
    fake.clear_log();
    s.spec.monitoring = None;
    s.metadata.generation = Some(2);
    register(&fake, &s);
    let out = reconcile_once(&s, &ctx).await.unwrap();
    let deleted: Vec<String> = fake
        .writes()
        .iter()
        .filter(|w| w.method == "DELETE")
        .map(|w| w.name())
        .collect();
    for gone in [
        "crm-prometheus",
        "crm-node-exporter",
        "crm-blackbox-exporter",
        "crm-postgres-exporter",
        "crm-redis-exporter",
        "crm-alertmanager",
        "crm-prometheus-files",
        "crm-alertmanager-files",
        // The ExternalName Service to the operator, only monitoring needs it.
        "crm-appstack",
    ] {
        assert!(
            deleted.iter().any(|d| d == gone),
            "{gone} not deleted: {deleted:?}"
        );
    }
    assert!(
        deleted.iter().all(|d| d.contains("prometheus")
            || d.contains("alertmanager")
            || d.contains("exporter")
            || d == "crm-appstack"),
        "{deleted:?}"
    );
    // Their data claims stay.
    let claims =
        fake.objects.lock().unwrap()["api/v1/namespaces/shop/persistentvolumeclaims"].clone();
    assert!(claims.contains_key("crm-prometheus-data"));
    assert!(out
        .report
        .deleted
        .iter()
        .all(|d| !d.starts_with("PersistentVolumeClaim")));
}

#[tokio::test]
async fn an_invalid_spec_sets_a_condition_and_waits_for_a_change() {
    let fake = Arc::new(FakeApi::with_bundle());
    let ctx = context(operator(&fake), Leadership::always());
    let bad = example().replace("storage: 50Gi", "storage: 50Gx");
    assert_ne!(bad, example());
    let s = stack(&bad, 3);
    register(&fake, &s);
    let out = reconcile_once(&s, &ctx).await.unwrap();
    assert_eq!(out.action, Action::await_change(), "no hot requeue");
    let writes = fake.writes();
    assert_eq!(writes.len(), 1, "only the status: {writes:?}");
    let st = &writes[0].body["status"];
    assert_eq!(st["phase"], "Invalid");
    assert_eq!(st["observedGeneration"], 3);
    let ready = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "InvalidSpec");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("spec.database.storage"),
        "{ready}"
    );
    // Seen again unchanged: nothing written at all.
    fake.clear_log();
    let again = current(&fake, "crm");
    reconcile_once(&again, &ctx).await.unwrap();
    assert!(fake.writes().is_empty());
}

#[tokio::test]
async fn a_lost_lease_stops_writes() {
    let fake = Arc::new(FakeApi::with_bundle());
    let leadership = Leadership::always();
    let ctx = context(operator(&fake), leadership.clone());
    let s = stack(&example(), 1);
    register(&fake, &s);
    leadership.set(false);
    let err = reconcile_once(&s, &ctx).await.unwrap_err();
    assert_eq!(err.category(), "not_leader");
    assert!(fake.log.lock().unwrap().is_empty(), "not even a read");
}

#[tokio::test]
async fn the_lease_is_taken_once_renewed_and_taken_over_only_after_expiry() {
    let fake = Arc::new(FakeApi::with_bundle());
    let api: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(operator(&fake), "appstack-system");
    let cfg = |id: &str| LeaseConfig {
        namespace: "appstack-system".into(),
        name: "appstack-operator".into(),
        identity: id.into(),
        duration: std::time::Duration::from_secs(15),
    };
    assert!(try_acquire(&api, &cfg("a")).await.unwrap(), "created");
    assert!(try_acquire(&api, &cfg("a")).await.unwrap(), "renewed");
    assert!(!try_acquire(&api, &cfg("b")).await.unwrap(), "held by a");
    // a stops renewing: b takes over after the lease duration.
    {
        let mut objects = fake.objects.lock().unwrap();
        let lease = objects
            .get_mut("apis/coordination.k8s.io/v1/namespaces/appstack-system/leases")
            .unwrap()
            .get_mut("appstack-operator")
            .unwrap();
        lease["spec"]["renewTime"] = json!("2020-01-01T00:00:00.000000Z");
    }
    assert!(
        try_acquire(&api, &cfg("b")).await.unwrap(),
        "expired lease taken over"
    );
    let objects = fake.objects.lock().unwrap();
    let lease = &objects["apis/coordination.k8s.io/v1/namespaces/appstack-system/leases"]
        ["appstack-operator"];
    assert_eq!(lease["spec"]["holderIdentity"], "b");
    assert_eq!(lease["spec"]["leaseTransitions"], 1);
}

fn rules(path: &str) -> std::collections::BTreeSet<(String, String, String)> {
    let rules: Vec<Value> =
        serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = std::collections::BTreeSet::new();
    for r in rules {
        for g in r["apiGroups"].as_array().unwrap() {
            for res in r["resources"].as_array().unwrap() {
                for v in r["verbs"].as_array().unwrap() {
                    out.insert((
                        g.as_str().unwrap().into(),
                        res.as_str().unwrap().into(),
                        v.as_str().unwrap().into(),
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn the_charts_rbac_is_exactly_what_the_code_calls() {
    use kube::Resource;
    let fake = Arc::new(FakeApi::with_bundle());
    let c = operator(&fake);
    let mut ctx = context(c.clone(), Leadership::always());
    ctx.recorder = Some(kube::runtime::events::Recorder::new(
        c.clone(),
        kube::runtime::events::Reporter {
            controller: "appstack-operator".into(),
            instance: None,
        },
    ));
    // Every path of the reconcile: create, no-op, change, prune, invalid (with an Event),
    // and a Secret of an older release completed with the key it lacks.
    plant_old_cms_secret(&fake);
    let mut s = first_sync(&fake, &ctx, &example()).await;
    reconcile_once(&s, &ctx).await.unwrap();
    s.spec.monitoring = None;
    s.metadata.generation = Some(2);
    register(&fake, &s);
    reconcile_once(&s, &ctx).await.unwrap();
    // Down to a bare frontend: the database StatefulSet, CronJobs, Ingress and PDB go.
    s.spec.database = None;
    s.spec.cms = None;
    s.spec.cache = None;
    s.spec.services.clear();
    s.spec.backup = None;
    s.spec.ingress = None;
    if let Some(f) = s.spec.frontend.as_mut() {
        f.replicas = 1;
        f.depends_on = None;
        f.env.clear();
    }
    s.metadata.generation = Some(3);
    register(&fake, &s);
    let out = reconcile_once(&s, &ctx).await.unwrap();
    assert!(
        out.report
            .deleted
            .contains(&"StatefulSet/crm-database".to_string()),
        "{:?}",
        out.report
    );
    let bad = stack(&example().replace("storage: 50Gi", "storage: 50Gx"), 4);
    register(&fake, &bad);
    reconcile_once(&bad, &ctx).await.unwrap();
    let mut used = fake.permissions_used();
    // The Recorder patches an event instead of creating it when it repeats.
    used.insert(("events.k8s.io".into(), "events".into(), "patch".into()));
    // The Controller lists and watches the AppStacks and every kind it owns.
    fn watched<K: Resource<DynamicType = ()>>(
        used: &mut std::collections::BTreeSet<(String, String, String)>,
    ) {
        for verb in ["list", "watch"] {
            used.insert((
                K::group(&()).to_string(),
                K::plural(&()).to_string(),
                verb.into(),
            ));
        }
    }
    watched::<AppStack>(&mut used);
    watched::<k8s_openapi::api::apps::v1::StatefulSet>(&mut used);
    watched::<k8s_openapi::api::apps::v1::Deployment>(&mut used);
    watched::<k8s_openapi::api::core::v1::Service>(&mut used);
    watched::<k8s_openapi::api::core::v1::ConfigMap>(&mut used);
    watched::<k8s_openapi::api::core::v1::Secret>(&mut used);
    watched::<k8s_openapi::api::core::v1::PersistentVolumeClaim>(&mut used);
    watched::<k8s_openapi::api::networking::v1::Ingress>(&mut used);
    watched::<k8s_openapi::api::networking::v1::NetworkPolicy>(&mut used);
    watched::<k8s_openapi::api::batch::v1::CronJob>(&mut used);
    watched::<k8s_openapi::api::policy::v1::PodDisruptionBudget>(&mut used);
    watched::<k8s_openapi::api::core::v1::ServiceAccount>(&mut used);
    watched::<k8s_openapi::api::rbac::v1::Role>(&mut used);
    watched::<k8s_openapi::api::rbac::v1::RoleBinding>(&mut used);
    // Kubernetes lets the operator grant only what it holds itself: the per-stack Roles' rules.
    let plan = appstack::plan::build(
        &appstack::api::validate::validate(&stack(&example(), 1), "crm").unwrap(),
    );
    for role in appstack::kube::access::roles(
        &plan,
        &appstack::kube::Owner {
            name: "crm".into(),
            uid: None,
        },
    ) {
        for r in role.rules.unwrap_or_default() {
            for g in r.api_groups.unwrap_or_default() {
                for res in r.resources.clone().unwrap_or_default() {
                    for v in &r.verbs {
                        used.insert((g.clone(), res.clone(), v.clone()));
                    }
                }
            }
        }
    }
    let cluster = rules("charts/appstack-operator/files/rules.yaml");
    let namespaced = rules("charts/appstack-operator/files/namespace-rules.yaml");
    // Secrets and pods only ever per namespace; nothing else there.
    for (g, res, v) in &namespaced {
        assert!(
            g.is_empty() && matches!(res.as_str(), "secrets" | "pods" | "pods/exec"),
            "namespace-rules.yaml grants {v} {res} in {g:?}"
        );
    }
    for (_, res, v) in &cluster {
        assert!(
            !matches!(res.as_str(), "secrets" | "pods" | "pods/exec"),
            "rules.yaml (cluster-wide) grants {v} {res}"
        );
    }
    let granted: std::collections::BTreeSet<_> = cluster.union(&namespaced).cloned().collect();
    let missing: Vec<_> = used.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "chart lacks {missing:?}; chart grants unused {unused:?}"
    );

    // The Lease: its own Role in the operator's namespace.
    let fake = Arc::new(FakeApi::with_bundle());
    let api: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
        kube::Api::namespaced(operator(&fake), "appstack-system");
    let cfg = LeaseConfig {
        namespace: "appstack-system".into(),
        name: "l".into(),
        identity: "a".into(),
        duration: std::time::Duration::from_secs(15),
    };
    try_acquire(&api, &cfg).await.unwrap();
    try_acquire(&api, &cfg).await.unwrap();
    let used = fake.permissions_used();
    assert_eq!(
        used,
        rules("charts/appstack-operator/files/lease-rules.yaml")
    );
}

/// The authoriser is a real check: a ClusterRole without `create` beside `patch` (what the
/// chart shipped before) fails the first reconcile with the API server's 403, because an
/// apply of an object that does not exist yet is authorised as a create too.
#[tokio::test]
async fn an_apply_that_creates_needs_create_as_well_as_patch() {
    let fake = Arc::new(FakeApi::with_bundle());
    {
        let mut objects = fake.objects.lock().unwrap();
        let roles = objects
            .get_mut("apis/rbac.authorization.k8s.io/v1/clusterroles")
            .unwrap();
        for role in roles.values_mut() {
            for rule in role["rules"].as_array_mut().unwrap() {
                let patches = rule["verbs"].as_array().unwrap().contains(&json!("patch"));
                if patches {
                    rule["verbs"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|v| v != "create");
                }
            }
        }
    }
    let ctx = context(operator(&fake), Leadership::always());
    let s = stack(&example(), 1);
    register(&fake, &s);
    let err = reconcile_once(&s, &ctx).await.unwrap_err();
    assert_eq!(err.category(), "forbidden", "{err}");
    let text = err.to_string();
    assert!(
        text.contains("cannot create resource")
            && text.contains("system:serviceaccount:appstack-system:appstack-operator"),
        "{text}"
    );
}

/// Watching every namespace, the operator holds Secrets and exec only where a RoleBinding
/// grants them: a stack in a namespace nobody bound fails with the API server's 403, and
/// writes no Secret; binding the namespace lets the same stack through.
#[tokio::test]
async fn secrets_are_managed_only_in_bound_namespaces() {
    let fake = Arc::new(FakeApi::unbound_bundle());
    let ctx = context(operator(&fake), Leadership::always());
    let s = stack(&example(), 1);
    register(&fake, &s);
    let err = reconcile_once(&s, &ctx).await.unwrap_err();
    assert_eq!(err.category(), "forbidden", "{err}");
    // The first write needing a per-namespace right is refused: a Role granting pod exec
    // (the operator must hold what it grants) or a Secret, by the order of the apply.
    let text = err.to_string();
    assert!(text.contains("pods") || text.contains("secrets"), "{text}");
    assert!(
        fake.objects
            .lock()
            .unwrap()
            .get("api/v1/namespaces/shop/secrets")
            .is_none_or(|c| c.is_empty()),
        "a Secret was written"
    );
    fake.bind_namespace("shop");
    reconcile_once(&s, &ctx).await.unwrap();
}

/// A standby replica says which lease holds it back and who holds it.
#[tokio::test]
async fn a_standby_replica_names_the_lease_holder() {
    use appstack::kube::lease;
    let fake = Arc::new(FakeApi::with_bundle());
    let cfg = |id: &str| LeaseConfig {
        namespace: "appstack-system".into(),
        name: "appstack-operator".into(),
        identity: id.into(),
        duration: std::time::Duration::from_secs(15),
    };
    let leader = Leadership::default();
    lease::first(operator(&fake), &cfg("pod-a"), &leader)
        .await
        .unwrap();
    assert!(leader.is_leader());
    let standby = Leadership::default();
    lease::first(operator(&fake), &cfg("pod-b"), &standby)
        .await
        .unwrap();
    assert!(!standby.is_leader());
    let ctx = context(operator(&fake), standby);
    let s = stack(&example(), 1);
    register(&fake, &s);
    let text = reconcile_once(&s, &ctx).await.unwrap_err().to_string();
    assert!(
        text.contains("appstack-system/appstack-operator")
            && text.contains("held by \"pod-a\"")
            && text.contains("\"pod-b\""),
        "{text}"
    );
}

/// Runs `appstack operator --lease-namespace does-not-exist` against the fake served over
/// HTTP, as `subject` (None: an administrator's kubeconfig); returns its exit code and stderr.
async fn operator_with_missing_lease_namespace(subject: Option<Subject>) -> (Option<i32>, String) {
    let fake = Arc::new(FakeApi::with_bundle());
    *fake.namespaces.lock().unwrap() = Some(
        ["appstack-system", "shop"]
            .into_iter()
            .map(String::from)
            .collect(),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(fake_api::serve_http(fake.clone(), listener, subject));
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fake_api::kubeconfig(dir.path(), port, "shop");
    let started = std::time::Instant::now();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_appstack"))
        .args([
            "operator",
            "--listen",
            "127.0.0.1:0",
            "--lease-namespace",
            "does-not-exist",
        ])
        .env("KUBECONFIG", &kubeconfig)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(10), out)
        .await
        .expect("the operator kept running for 10 s")
        .unwrap();
    eprintln!("exited in {:.1}s", started.elapsed().as_secs_f64());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// `appstack operator` pointed at a lease namespace that does not exist stops at once,
/// naming it and the flag, instead of retrying forever: as an administrator (the API says
/// the namespace is not found) and as its own service account (the API says 403 there).
#[tokio::test]
async fn the_operator_exits_when_its_lease_namespace_is_missing() {
    for subject in [None, Some(Subject::operator())] {
        let (code, stderr) = operator_with_missing_lease_namespace(subject.clone()).await;
        eprintln!("{subject:?}: exit {code:?}: {}", stderr.trim());
        assert_eq!(code, Some(1), "{subject:?}: {stderr}");
        assert!(
            stderr.contains("\"does-not-exist\"") && stderr.contains("--lease-namespace"),
            "{subject:?}: {stderr}"
        );
    }
}

/// The CMS Secret as a release before the generated admin password left it.
fn plant_old_cms_secret(fake: &FakeApi) {
    fake.objects
        .lock()
        .unwrap()
        .entry("api/v1/namespaces/shop/secrets".into())
        .or_default()
        .insert(
            "crm-cms".into(),
            json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "crm-cms", "namespace": "shop", "labels": {"appstack.io/stack": "crm"}, "resourceVersion": "1"},
                "stringData": {"key": "old-key", "secret": "old-secret"},
                "type": "Opaque"
            }),
        );
}

/// A Secret of an older release gains only the generated key it lacks; its values stay.
#[tokio::test]
async fn an_existing_secret_gains_only_the_keys_it_lacks() {
    let fake = Arc::new(FakeApi::with_bundle());
    plant_old_cms_secret(&fake);
    let ctx = context(operator(&fake), Leadership::always());
    first_sync(&fake, &ctx, &example()).await;
    let patches: Vec<Logged> = fake
        .writes()
        .into_iter()
        .filter(|w| w.method == "PATCH" && w.path.ends_with("/secrets/crm-cms"))
        .collect();
    assert_eq!(patches.len(), 1, "{patches:?}");
    let added = patches[0].body["stringData"].as_object().unwrap();
    assert_eq!(
        added.keys().collect::<Vec<_>>(),
        vec!["admin-password"],
        "{added:?}"
    );
    let objects = fake.objects.lock().unwrap();
    let secret = &objects["api/v1/namespaces/shop/secrets"]["crm-cms"];
    assert_eq!(secret["stringData"]["key"], "old-key");
    assert_eq!(secret["stringData"]["secret"], "old-secret");
}
