//! Kubernetes mode without a cluster: every builder's objects compared whole against
//! committed snapshots, every rendered child round-tripped through its k8s-openapi type,
//! every example validated against the CRD's own openAPIV3Schema, and the CRD's shape.

use std::path::Path;

use appstack::kube::{build, Children, Images, Owner};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::de::DeserializeOwned;
use serde::Serialize;

fn children(example: &str) -> Children {
    let (_, stack) = appstack::api::load_validated(Path::new(example)).unwrap();
    let plan = appstack::plan::build(&stack);
    let owner = Owner {
        name: stack.name.clone(),
        uid: Some("00000000-0000-4000-8000-000000000001".into()),
    };
    let images = Images {
        operator: "registry.example.com/appstack:test".into(),
        operator_service: appstack::kube::OPERATOR_SERVICE.into(),
    };
    let mut n = 0;
    build(&plan, &owner, &images, &mut |len| {
        n += 1;
        format!("{n:0>len$}")
    })
}

/// Compares `value` with `tests/snapshots/kube/<name>.json` (UPDATE_SNAPSHOTS=1 rewrites).
fn snapshot(name: &str, value: &serde_json::Value) {
    let path = Path::new("tests/snapshots/kube").join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(value).unwrap() + "\n";
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("{} missing (UPDATE_SNAPSHOTS=1 to create)", path.display()));
    pretty_assertions::assert_eq!(want, text, "{} differs", path.display());
}

fn snapshot_all<
    K: Serialize
        + k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
>(
    example: &str,
    objects: &[K],
) {
    for o in objects {
        let name = o.metadata().name.clone().unwrap();
        snapshot(
            &format!("{example}-{}-{name}", K::KIND.to_lowercase()),
            &serde_json::to_value(o).unwrap(),
        );
    }
}

#[test]
fn every_builder_matches_its_whole_object_snapshot() {
    for (example, file) in [
        ("crm", "examples/crm.yaml"),
        ("quickstart", "examples/quickstart.yaml"),
    ] {
        let Children {
            secrets,
            config_maps,
            claims,
            stateful_sets,
            deployments,
            services,
            ingresses,
            network_policies,
            cron_jobs,
            disruption_budgets,
            service_accounts,
            roles,
            role_bindings,
        } = children(file);
        snapshot_all(example, &service_accounts);
        snapshot_all(example, &roles);
        snapshot_all(example, &role_bindings);
        snapshot_all(example, &secrets);
        snapshot_all(example, &config_maps);
        snapshot_all(example, &claims);
        snapshot_all(example, &stateful_sets);
        snapshot_all(example, &deployments);
        snapshot_all(example, &services);
        snapshot_all(example, &ingresses);
        snapshot_all(example, &network_policies);
        snapshot_all(example, &cron_jobs);
        snapshot_all(example, &disruption_budgets);
    }
}

#[test]
fn every_child_is_owned_labelled_and_in_the_stacks_namespace() {
    let docs = children("examples/crm.yaml").documents().unwrap();
    assert!(docs.len() > 20, "{}", docs.len());
    for d in &docs {
        let m = &d["metadata"];
        let what = format!("{} {}", d["kind"], m["name"]);
        assert_eq!(m["namespace"], "default", "{what}");
        assert_eq!(m["labels"]["appstack.io/stack"], "crm", "{what}");
        assert_eq!(
            m["labels"]["app.kubernetes.io/managed-by"], "appstack",
            "{what}"
        );
        assert_eq!(m["labels"]["app.kubernetes.io/instance"], "crm", "{what}");
        if d["kind"] == "PersistentVolumeClaim" {
            // Data outlives the AppStack object.
            assert!(m.get("ownerReferences").is_none(), "{what}");
        } else {
            let o = &m["ownerReferences"][0];
            assert_eq!(o["kind"], "AppStack", "{what}");
            assert_eq!(o["controller"], true, "{what}");
        }
    }
}

fn round_trip<K: DeserializeOwned + Serialize>(doc: &serde_json::Value) {
    let typed: K = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("{} {}: {e}", doc["kind"], doc["metadata"]["name"]));
    assert_eq!(
        &serde_json::to_value(&typed).unwrap(),
        doc,
        "{} {}",
        doc["kind"],
        doc["metadata"]["name"]
    );
}

#[test]
fn every_rendered_child_round_trips_through_its_type() {
    for file in ["examples/crm.yaml", "examples/quickstart.yaml"] {
        // Exactly what `render kube` prints, parsed back from YAML.
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_appstack"))
            .args(["render", "kube", "-f", file])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let mut kinds = std::collections::BTreeSet::new();
        for doc in serde_norway::Deserializer::from_str(&text) {
            let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
            if v.is_null() {
                continue;
            }
            let kind = v["kind"].as_str().unwrap().to_string();
            match kind.as_str() {
                "ConfigMap" => round_trip::<ConfigMap>(&v),
                "PersistentVolumeClaim" => round_trip::<PersistentVolumeClaim>(&v),
                "Service" => round_trip::<Service>(&v),
                "StatefulSet" => round_trip::<StatefulSet>(&v),
                "Deployment" => round_trip::<Deployment>(&v),
                "PodDisruptionBudget" => round_trip::<PodDisruptionBudget>(&v),
                "Ingress" => round_trip::<Ingress>(&v),
                "NetworkPolicy" => {
                    round_trip::<k8s_openapi::api::networking::v1::NetworkPolicy>(&v)
                }
                "CronJob" => round_trip::<CronJob>(&v),
                "ServiceAccount" => round_trip::<k8s_openapi::api::core::v1::ServiceAccount>(&v),
                "Role" => round_trip::<k8s_openapi::api::rbac::v1::Role>(&v),
                "RoleBinding" => round_trip::<k8s_openapi::api::rbac::v1::RoleBinding>(&v),
                "Secret" => panic!("render must not print secret values"),
                other => panic!("unexpected kind {other}"),
            }
            kinds.insert(kind);
        }
        assert!(
            kinds.contains("StatefulSet") && kinds.contains("Deployment"),
            "{file}: {kinds:?}"
        );
        // Secrets are only named, never printed.
        assert!(
            text.contains("# Secret ") && !text.contains("stringData"),
            "{file}"
        );
    }
    // The generated Secrets themselves are valid objects.
    for s in children("examples/crm.yaml").secrets {
        round_trip::<Secret>(&serde_json::to_value(&s).unwrap());
    }
}

#[test]
fn the_database_pod_carries_the_wal_sidecars_and_claims_its_volumes() {
    let c = children("examples/crm.yaml");
    let ss = &c.stateful_sets[0];
    let spec = ss.spec.as_ref().unwrap();
    let pod = spec.template.spec.as_ref().unwrap();
    let names: Vec<&str> = pod.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["database", "wal-receiver", "wal-shipper"]);
    let claims: Vec<String> = spec
        .volume_claim_templates
        .as_ref()
        .unwrap()
        .iter()
        .map(|c| c.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(claims, ["database-data", "wal-spool"]);
    let db = &pod.containers[0];
    assert!(
        db.readiness_probe.is_some() && db.liveness_probe.is_some() && db.startup_probe.is_some()
    );
    // Frontend and CMS roll without ever dropping below their replicas.
    for d in &c.deployments {
        let name = d.metadata.name.as_deref().unwrap();
        if name == "crm-frontend" || name == "crm-cms" {
            let ru = d
                .spec
                .as_ref()
                .unwrap()
                .strategy
                .as_ref()
                .unwrap()
                .rolling_update
                .as_ref()
                .unwrap();
            assert_eq!(
                ru.max_unavailable,
                Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(0)),
                "{name}"
            );
        }
    }
    assert_eq!(c.disruption_budgets.len(), 1);
}

fn crd_schema() -> serde_json::Value {
    let crd: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string("crds/appstack.yaml").unwrap()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

#[test]
fn every_example_validates_against_the_crds_own_schema() {
    let schema = crd_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut checked = 0;
    for entry in std::fs::read_dir("examples").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let doc: serde_json::Value =
            serde_norway::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        checked += 1;
    }
    assert!(checked >= 2);
    // And the schema rejects what the CLI rejects where a structural schema can say so
    // (unknown fields are rejected by the API server's strict field validation instead).
    for bad in [
        "apiVersion: appstack.io/v1alpha1\nkind: AppStack\nmetadata: {name: x}\nspec:\n  database: {image: postgis/postgis:15-3.4, maxConnections: \"lots\"}\n",
        "apiVersion: appstack.io/v1alpha1\nkind: AppStack\nmetadata: {name: x}\nspec:\n  frontend: {image: web:1, replicas: -1}\n",
        "apiVersion: appstack.io/v1alpha1\nkind: AppStack\nmetadata: {name: x}\nspec:\n  backup: {wal: {mode: sometimes}}\n",
    ] {
        let doc: serde_json::Value = serde_norway::from_str(bad).unwrap();
        assert!(!validator.is_valid(&doc), "schema accepted:\n{bad}");
    }
}

#[test]
fn crd_has_status_short_name_printer_columns_and_keyed_conditions() {
    let crd: serde_json::Value =
        serde_norway::from_str(&std::fs::read_to_string("crds/appstack.yaml").unwrap()).unwrap();
    assert_eq!(crd["spec"]["names"]["shortNames"][0], "stack");
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let v = &crd["spec"]["versions"][0];
    assert!(v["subresources"]["status"].is_object());
    let cols: Vec<&str> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(cols, ["Ready", "Phase", "Last backup", "RPO", "Age"]);
    let conditions =
        &v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"][0], "type");
    snapshot("crd-openapi-schema", &v["schema"]["openAPIV3Schema"]);
}

/// The drill pod is the isolated copy: no Service reaches it, its database runs on an
/// emptyDir as a native sidecar (so the Job ends with the check), after the restore step.
#[test]
fn the_drill_pod_is_isolated_and_ordered() {
    let c = children("examples/crm.yaml");
    let drill = c
        .cron_jobs
        .iter()
        .find(|j| j.metadata.name.as_deref() == Some("crm-drill"))
        .expect("a drill CronJob");
    let job = drill
        .spec
        .as_ref()
        .unwrap()
        .job_template
        .spec
        .as_ref()
        .unwrap();
    let template = &job.template;
    let labels = template.metadata.as_ref().unwrap().labels.clone().unwrap();
    for svc in &c.services {
        let selector = svc
            .spec
            .as_ref()
            .unwrap()
            .selector
            .clone()
            .unwrap_or_default();
        // A Service without a selector (the ExternalName to the operator) selects no pod.
        assert!(
            selector.is_empty() || !selector.iter().all(|(k, v)| labels.get(k) == Some(v)),
            "Service {:?} selects the drill pod",
            svc.metadata.name
        );
    }
    let pod = template.spec.as_ref().unwrap();
    let init = pod.init_containers.as_ref().unwrap();
    let names: Vec<&str> = init.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["prepare", "database"]);
    assert_eq!(init[1].restart_policy.as_deref(), Some("Always"));
    assert_eq!(pod.containers[0].name, "check");
    let data = pod
        .volumes
        .as_ref()
        .unwrap()
        .iter()
        .find(|v| v.name == "database-data")
        .unwrap();
    assert!(data.empty_dir.is_some() && data.persistent_volume_claim.is_none());
    assert_eq!(job.backoff_limit, Some(0));
    // Deadline: the RTO (1h in the example) plus the drill's slack.
    assert_eq!(
        job.active_deadline_seconds,
        Some(3600 + i64::try_from(appstack::plan::DRILL_SLACK_SECS).unwrap())
    );
}

/// Only the pods that use them reach the database and the cache: the CMS, the worker that
/// depends on them, and their exporter; never the frontend or Prometheus.
#[test]
fn network_policies_let_only_the_clients_in() {
    let docs = children("examples/crm.yaml").documents().unwrap();
    let policy = |name: &str| {
        docs.iter()
            .find(|d| d["kind"] == "NetworkPolicy" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no NetworkPolicy {name}"))
            .clone()
    };
    let allowed = |p: &serde_json::Value| -> Vec<String> {
        let mut v: Vec<String> = p["spec"]["ingress"][0]["from"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                f["podSelector"]["matchLabels"]["appstack.io/component"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        v.sort();
        v
    };
    let db = policy("crm-database");
    assert_eq!(
        db["spec"]["podSelector"]["matchLabels"]["appstack.io/component"],
        "database"
    );
    assert_eq!(db["spec"]["policyTypes"], serde_json::json!(["Ingress"]));
    assert_eq!(allowed(&db), ["cms", "postgres-exporter", "worker"]);
    assert_eq!(db["spec"]["ingress"][0]["ports"][0]["port"], 5432);
    let cache = policy("crm-cache");
    assert_eq!(allowed(&cache), ["cms", "redis-exporter", "worker"]);
    for p in [&db, &cache] {
        for f in p["spec"]["ingress"][0]["from"].as_array().unwrap() {
            assert_eq!(f["podSelector"]["matchLabels"]["appstack.io/stack"], "crm");
        }
    }
    // The NetworkPolicies are applied before the workloads.
    let position = |kind: &str| docs.iter().position(|d| d["kind"] == kind).unwrap();
    assert!(position("NetworkPolicy") < position("StatefulSet"));
}
