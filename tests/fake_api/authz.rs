//! Authorisation as the API server does it, over the RBAC objects the fake holds: a
//! service account's rights are the rules of the ClusterRoles bound to it by
//! ClusterRoleBindings (every namespace) and of the Roles or ClusterRoles bound to it by
//! RoleBindings (their namespace only). A request is checked for the verbs it needs — a
//! server-side apply of an object that does not exist needs `create` as well as `patch` —
//! and a Role may only grant what its author holds (the escalation check).

use std::collections::BTreeMap;

use serde_json::Value;

/// Who sends a request: a service account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub namespace: String,
    pub name: String,
}

impl Subject {
    pub fn new(namespace: &str, name: &str) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The operator as the bundle installs it.
    pub fn operator() -> Self {
        Self::new("appstack-system", "appstack-operator")
    }

    pub fn user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

/// What a request is about, parsed from its path as the API server's request-info does.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    pub group: String,
    pub namespace: Option<String>,
    pub resource: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

impl Attributes {
    pub fn parse(path: &str) -> Self {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group, rest) = match parts.first() {
            Some(&"api") => (String::new(), parts.get(2..).unwrap_or(&[])),
            _ => (
                parts.get(1).copied().unwrap_or_default().to_string(),
                parts.get(3..).unwrap_or(&[]),
            ),
        };
        let (namespace, rest) = match rest {
            ["namespaces", ns, tail @ ..] if !tail.is_empty() => (Some(ns.to_string()), tail),
            _ => (None, rest),
        };
        Self {
            group,
            namespace,
            resource: rest.first().copied().unwrap_or_default().to_string(),
            name: rest.get(1).map(|s| s.to_string()),
            subresource: rest.get(2).map(|s| s.to_string()),
        }
    }

    /// `resource` or `resource/subresource`, as RBAC rules name it.
    pub fn rbac_resource(&self) -> String {
        match &self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.clone(),
        }
    }

    /// The verbs a request needs. `exists` says whether its object is there already.
    pub fn verbs(
        &self,
        method: &str,
        query: &str,
        content_type: &str,
        exists: bool,
    ) -> Vec<String> {
        let watch = query
            .split('&')
            .any(|kv| kv == "watch=true" || kv == "watch=1");
        let verbs: &[&str] = match (method, &self.name) {
            ("GET", None) if watch => &["watch"],
            ("GET", None) => &["list"],
            ("GET", Some(_)) => &["get"],
            ("POST", _) => &["create"],
            ("PUT", _) => &["update"],
            ("DELETE", None) => &["deletecollection"],
            ("DELETE", Some(_)) => &["delete"],
            // An apply that finds nothing creates the object: the server checks both.
            ("PATCH", _) if content_type.starts_with("application/apply-patch") && !exists => {
                &["patch", "create"]
            }
            ("PATCH", _) => &["patch"],
            _ => &[],
        };
        verbs.iter().map(|v| v.to_string()).collect()
    }
}

/// The RBAC objects of the fake, by kind, as the authoriser reads them.
pub struct Rbac<'a> {
    pub objects: &'a BTreeMap<String, BTreeMap<String, Value>>,
}

const RBAC: &str = "apis/rbac.authorization.k8s.io/v1";

impl Rbac<'_> {
    fn cluster(&self, plural: &str) -> impl Iterator<Item = &Value> {
        self.objects
            .get(&format!("{RBAC}/{plural}"))
            .into_iter()
            .flat_map(|m| m.values())
    }

    fn namespaced(&self, ns: &str, plural: &str) -> impl Iterator<Item = &Value> {
        self.objects
            .get(&format!("{RBAC}/namespaces/{ns}/{plural}"))
            .into_iter()
            .flat_map(|m| m.values())
    }

    fn role_rules(&self, ns: Option<&str>, role_ref: &Value) -> Vec<Value> {
        let name = role_ref["name"].as_str().unwrap_or_default();
        let role = match (role_ref["kind"].as_str(), ns) {
            (Some("ClusterRole"), _) => self
                .cluster("clusterroles")
                .find(|r| r["metadata"]["name"] == name),
            (Some("Role"), Some(ns)) => self
                .namespaced(ns, "roles")
                .find(|r| r["metadata"]["name"] == name),
            _ => None,
        };
        role.and_then(|r| r["rules"].as_array().cloned())
            .unwrap_or_default()
    }

    fn binds(binding: &Value, who: &Subject) -> bool {
        binding["subjects"].as_array().is_some_and(|subjects| {
            subjects.iter().any(|s| {
                s["kind"] == "ServiceAccount"
                    && s["name"] == who.name.as_str()
                    && s["namespace"] == who.namespace.as_str()
            })
        })
    }

    /// Every rule that applies to `who` in namespace `ns` (None: cluster-scoped).
    pub fn rules_for(&self, who: &Subject, ns: Option<&str>) -> Vec<Value> {
        let mut rules = Vec::new();
        for b in self.cluster("clusterrolebindings") {
            if Self::binds(b, who) {
                rules.extend(self.role_rules(None, &b["roleRef"]));
            }
        }
        if let Some(ns) = ns {
            for b in self.namespaced(ns, "rolebindings") {
                if Self::binds(b, who) {
                    rules.extend(self.role_rules(Some(ns), &b["roleRef"]));
                }
            }
        }
        rules
    }

    pub fn allows(&self, who: &Subject, a: &Attributes, verb: &str) -> bool {
        let resource = a.rbac_resource();
        self.rules_for(who, a.namespace.as_deref())
            .iter()
            .any(|r| rule_matches(r, &a.group, &resource, verb, a.name.as_deref()))
    }

    /// The escalation check: `who` may write `role` only when it holds every right it grants.
    pub fn may_grant(&self, who: &Subject, ns: &str, role: &Value) -> Result<(), String> {
        for rule in role["rules"].as_array().into_iter().flatten() {
            let names: Vec<Option<String>> = match rule["resourceNames"].as_array() {
                Some(n) if !n.is_empty() => {
                    n.iter().map(|v| v.as_str().map(String::from)).collect()
                }
                _ => vec![None],
            };
            for g in strings(&rule["apiGroups"]) {
                for res in strings(&rule["resources"]) {
                    for v in strings(&rule["verbs"]) {
                        for name in &names {
                            let (resource, subresource) = match res.split_once('/') {
                                Some((r, s)) => (r.to_string(), Some(s.to_string())),
                                None => (res.clone(), None),
                            };
                            let a = Attributes {
                                group: g.clone(),
                                namespace: Some(ns.into()),
                                resource,
                                name: name.clone(),
                                subresource,
                            };
                            if !self.allows(who, &a, &v) {
                                return Err(format!("{v} {res} in API group \"{g}\""));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(String::from))
        .collect()
}

fn rule_matches(rule: &Value, group: &str, resource: &str, verb: &str, name: Option<&str>) -> bool {
    let has = |field: &str, want: &str| strings(&rule[field]).iter().any(|v| v == "*" || v == want);
    let names = strings(&rule["resourceNames"]);
    has("apiGroups", group)
        && has("resources", resource)
        && has("verbs", verb)
        && (names.is_empty() || name.is_some_and(|n| names.iter().any(|x| x == n)))
}

/// The API server's 403 message.
pub fn forbidden_message(who: &Subject, a: &Attributes, verb: &str) -> String {
    let object = match &a.name {
        Some(n) => format!("{} \"{n}\"", a.resource),
        None => a.resource.clone(),
    };
    let scope = match &a.namespace {
        Some(ns) => format!(" in the namespace \"{ns}\""),
        None => " at the cluster scope".into(),
    };
    format!(
        "{object} is forbidden: User \"{}\" cannot {verb} resource \"{}\" in API group \"{}\"{scope}",
        who.user(),
        a.rbac_resource(),
        a.group
    )
}
