//! The Helm chart and the plain kubectl bundle stay in step with the code: the same CRD
//! as `appstack crd`, the same RBAC rules (which tests/operator_mock.rs checks against the
//! calls the code makes), a non-root operator with a read-only root filesystem.

use serde_json::Value;

fn docs(path: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    serde_norway::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

fn yaml(path: &str) -> Value {
    serde_norway::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn chart_and_bundle_carry_the_generated_crd() {
    let crd = yaml("crds/appstack.yaml");
    assert_eq!(
        yaml("charts/appstack-operator/crds/appstack.yaml"),
        crd,
        "cp crds/appstack.yaml charts/appstack-operator/crds/"
    );
    let bundle = docs("charts/bundle/appstack-operator.yaml");
    assert!(
        bundle.contains(&crd),
        "the bundle's CRD differs from crds/appstack.yaml"
    );
}

#[test]
fn bundle_rbac_matches_the_chart() {
    let bundle = docs("charts/bundle/appstack-operator.yaml");
    let find = |kind: &str| {
        bundle
            .iter()
            .find(|d| d["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
    };
    let cluster_role = |name: &str| {
        bundle
            .iter()
            .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no ClusterRole {name}"))
    };
    assert_eq!(
        cluster_role("appstack-appstack-operator")["rules"],
        yaml("charts/appstack-operator/files/rules.yaml")
    );
    assert_eq!(
        cluster_role("appstack-appstack-operator-namespace")["rules"],
        yaml("charts/appstack-operator/files/namespace-rules.yaml")
    );
    assert_eq!(
        find("Role")["rules"],
        yaml("charts/appstack-operator/files/lease-rules.yaml")
    );
    let dep = find("Deployment");
    let pod = &dep["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(c["args"][0], "operator");
}

#[test]
fn chart_templates_use_the_rule_files_and_values() {
    let rbac = std::fs::read_to_string("charts/appstack-operator/templates/rbac.yaml").unwrap();
    assert!(
        rbac.contains(".Files.Get \"files/rules.yaml\"")
            && rbac.contains(".Files.Get \"files/lease-rules.yaml\"")
    );
    let dep =
        std::fs::read_to_string("charts/appstack-operator/templates/deployment.yaml").unwrap();
    for needle in [
        "readOnlyRootFilesystem: true",
        "runAsNonRoot: true",
        ".Values.watchNamespace",
        ".Values.logLevel",
        ".Values.resources",
        "/readyz",
        "/healthz",
    ] {
        assert!(dep.contains(needle), "deployment template lacks {needle}");
    }
    let values = yaml("charts/appstack-operator/values.yaml");
    for key in [
        "image",
        "watchNamespace",
        "namespaces",
        "logLevel",
        "resources",
    ] {
        assert!(values.get(key).is_some(), "values.yaml lacks {key}");
    }
}

/// Server-side apply of an absent object is a create too: every kind the operator applies
/// (every child of the CRM example but the Secrets, which it creates) has both verbs, in the
/// chart's rule file and in the bundle's ClusterRole.
#[test]
fn every_applied_kind_may_be_created_and_patched() {
    let stack = appstack::api::load::parse_str(
        &std::fs::read_to_string("examples/crm.yaml").unwrap(),
        "crm",
    )
    .unwrap();
    let plan = appstack::plan::build(&appstack::api::validate::validate(&stack, "crm").unwrap());
    let children = appstack::kube::build(
        &plan,
        &appstack::kube::Owner {
            name: "crm".into(),
            uid: None,
        },
        &appstack::kube::Images::default(),
        &mut |n| "x".repeat(n),
    );
    let bundle = docs("charts/bundle/appstack-operator.yaml");
    let cluster_role = bundle
        .iter()
        .find(|d| {
            d["kind"] == "ClusterRole" && d["metadata"]["name"] == "appstack-appstack-operator"
        })
        .unwrap();
    let sources = [
        ("chart", yaml("charts/appstack-operator/files/rules.yaml")),
        ("bundle", cluster_role["rules"].clone()),
    ];
    let grants = |rules: &Value, group: &str, resource: &str, verb: &str| {
        rules.as_array().unwrap().iter().any(|r| {
            let has = |f: &str, v: &str| r[f].as_array().unwrap().iter().any(|x| x == v);
            has("apiGroups", group) && has("resources", resource) && has("verbs", verb)
        })
    };
    let mut kinds = std::collections::BTreeSet::new();
    for doc in children.documents().unwrap() {
        let kind = doc["kind"].as_str().unwrap().to_string();
        if kind == "Secret" {
            continue;
        }
        let group = match doc["apiVersion"].as_str().unwrap().split_once('/') {
            Some((g, _)) => g.to_string(),
            None => String::new(),
        };
        let plural = match kind.as_str() {
            "Ingress" => "ingresses".to_string(),
            "NetworkPolicy" => "networkpolicies".to_string(),
            k => format!("{}s", k.to_ascii_lowercase()),
        };
        kinds.insert((group, plural));
    }
    assert!(kinds.len() >= 10, "{kinds:?}");
    for (group, resource) in &kinds {
        for (source, rules) in &sources {
            for verb in ["create", "patch"] {
                assert!(
                    grants(rules, group, resource, verb),
                    "{source} lacks {verb} on {resource} in API group \"{group}\""
                );
            }
        }
    }
}

/// Secrets and pod exec are never granted cluster-wide: no ClusterRoleBinding of the bundle
/// reaches a rule on them, and in the chart the only ClusterRoleBinding is rendered when
/// every namespace is watched, bound to the rule file without them; the file with them is
/// bound per namespace by RoleBindings (with watchNamespace set, in that one only).
#[test]
fn no_cluster_wide_secret_or_exec_grant() {
    let bundle = docs("charts/bundle/appstack-operator.yaml");
    let sensitive = |rules: &Value| {
        rules.as_array().unwrap().iter().any(|r| {
            r["resources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "secrets" || x == "pods" || x == "pods/exec" || x == "*")
        })
    };
    let bindings: Vec<&Value> = bundle
        .iter()
        .filter(|d| d["kind"] == "ClusterRoleBinding")
        .collect();
    assert!(!bindings.is_empty());
    for b in bindings {
        let role = bundle
            .iter()
            .find(|d| d["kind"] == "ClusterRole" && d["metadata"]["name"] == b["roleRef"]["name"])
            .unwrap();
        assert!(
            !sensitive(&role["rules"]),
            "{} binds {}",
            b["metadata"]["name"],
            role["metadata"]["name"]
        );
    }
    assert!(!sensitive(&yaml(
        "charts/appstack-operator/files/rules.yaml"
    )));
    let rbac = std::fs::read_to_string("charts/appstack-operator/templates/rbac.yaml").unwrap();
    let guarded = rbac
        .split("{{- if not .Values.watchNamespace }}")
        .nth(1)
        .and_then(|rest| rest.split("{{- end }}").next())
        .unwrap();
    assert_eq!(rbac.matches("kind: ClusterRoleBinding").count(), 1);
    assert!(guarded.contains("kind: ClusterRoleBinding") && guarded.contains("files/rules.yaml"));
    assert!(!guarded.contains("namespace-rules.yaml"));
    let namespace_role = rbac.split("---").next().unwrap();
    assert!(namespace_role.contains("files/namespace-rules.yaml"));
    assert!(rbac.contains("{{- range $managed }}") && rbac.contains("kind: RoleBinding"));
    assert!(rbac.contains("{{- $managed = list .Values.watchNamespace }}"));
}
