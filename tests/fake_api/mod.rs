//! A fake Kubernetes API server: it keeps objects by collection and name, answers lists
//! (full or metadata-only, with label selectors), gets, server-side apply patches
//! (workloads read back as ready), status patches, creates, replaces (with resourceVersion
//! conflicts) and deletes, and logs every request with the RBAC verbs it needed. Requests
//! sent as a service account are authorised against the RBAC objects the fake holds
//! (`authz`), as the API server would; `http` serves it over plain HTTP for a real process.

#![allow(dead_code, unused_imports)]

mod authz;
mod http_server;
mod upgrade;

pub use authz::{Attributes, Subject};
pub use http_server::{kubeconfig, serve_http};

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use http::StatusCode;
use serde_json::{json, Value};

/// (API group, resource, verb), as RBAC rules name a permission.
pub type Permission = (String, String, String);

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
    /// The permissions the request needed (an apply that created its object: patch + create).
    pub needs: Vec<Permission>,
}

/// One request as the fake receives it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub accept: &'a str,
    pub content_type: &'a str,
    pub body: Value,
    /// The caller; None is an unchecked administrator.
    pub subject: Option<&'a Subject>,
}

impl Logged {
    pub fn is_write(&self) -> bool {
        self.method != "GET"
    }
    pub fn name(&self) -> String {
        self.path.rsplit('/').next().unwrap_or_default().to_string()
    }
}

#[derive(Default)]
pub struct FakeApi {
    /// collection path → name → object
    pub objects: Mutex<BTreeMap<String, BTreeMap<String, Value>>>,
    pub log: Mutex<Vec<Logged>>,
    /// The namespaces that exist; None: every namespace does.
    pub namespaces: Mutex<Option<BTreeSet<String>>>,
    /// Pod name → the Docker container standing in for it (exec and port-forward).
    pub containers: Mutex<BTreeMap<String, String>>,
}

fn status(code: u16, reason: &str) -> (StatusCode, Value) {
    status_with(code, reason, reason.to_string())
}

fn status_with(code: u16, reason: &str, message: String) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": reason, "code": code, "message": message}),
    )
}

impl FakeApi {
    /// A fake holding the RBAC objects of the operator's kubectl bundle (its ClusterRoles and
    /// binding, the leader-election Role and binding), as `kubectl apply -f` leaves them, with
    /// namespace `shop` bound for Secrets and exec as the install guide says.
    pub fn with_bundle() -> Self {
        let fake = Self::unbound_bundle();
        fake.bind_namespace("shop");
        fake
    }

    /// The RoleBinding that lets the operator manage stacks in `ns` (docs/kubernetes.md).
    pub fn bind_namespace(&self, ns: &str) {
        self.objects
            .lock()
            .unwrap()
            .entry(format!("apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"))
            .or_default()
            .insert(
                "appstack-operator".into(),
                json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                    "metadata": {"name": "appstack-operator", "namespace": ns},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "appstack-appstack-operator-namespace"},
                    "subjects": [{"kind": "ServiceAccount", "name": "appstack-operator", "namespace": "appstack-system"}]
                }),
            );
    }

    /// The bundle's RBAC objects alone: no namespace bound.
    pub fn unbound_bundle() -> Self {
        let fake = Self::default();
        let text = std::fs::read_to_string("charts/bundle/appstack-operator.yaml").unwrap();
        {
            let mut objects = fake.objects.lock().unwrap();
            for doc in serde_norway::Deserializer::from_str(&text) {
                let v: Value = serde::Deserialize::deserialize(doc).unwrap();
                let Some(plural) = (match v["kind"].as_str() {
                    Some("ClusterRole") => Some("clusterroles"),
                    Some("ClusterRoleBinding") => Some("clusterrolebindings"),
                    Some("Role") => Some("roles"),
                    Some("RoleBinding") => Some("rolebindings"),
                    _ => None,
                }) else {
                    continue;
                };
                let collection = match v["metadata"]["namespace"].as_str() {
                    Some(ns) => {
                        format!("apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/{plural}")
                    }
                    None => format!("apis/rbac.authorization.k8s.io/v1/{plural}"),
                };
                let name = v["metadata"]["name"].as_str().unwrap().to_string();
                objects.entry(collection).or_default().insert(name, v);
            }
        }
        fake
    }

    pub fn writes(&self) -> Vec<Logged> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.is_write())
            .cloned()
            .collect()
    }

    /// Every permission the logged requests needed.
    pub fn permissions_used(&self) -> BTreeSet<Permission> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .flat_map(|l| l.needs.clone())
            .collect()
    }

    pub fn clear_log(&self) {
        self.log.lock().unwrap().clear();
    }

    /// Splits `/…/namespaces/ns/kind[/name[/status]]` into (collection, name, subresource).
    fn split(path: &str) -> (String, Option<String>, Option<String>) {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let ns_at = parts.iter().position(|p| *p == "namespaces");
        let kind_at = match ns_at {
            Some(i) => i + 2,
            // Cluster-scoped: api/v1/KIND or apis/GROUP/VERSION/KIND.
            None if parts.first() == Some(&"api") => 2.min(parts.len().saturating_sub(1)),
            None => 3.min(parts.len().saturating_sub(1)),
        };
        let collection = parts[..(kind_at + 1).min(parts.len())].join("/");
        (
            collection,
            parts.get(kind_at + 1).map(|s| s.to_string()),
            parts.get(kind_at + 2).map(|s| s.to_string()),
        )
    }

    /// Stores `object` as `name` in `collection` (e.g. `api/v1/namespaces/shop/pods`).
    pub fn put(&self, collection: &str, name: &str, object: Value) {
        self.objects
            .lock()
            .unwrap()
            .entry(collection.into())
            .or_default()
            .insert(name.into(), object);
    }

    /// Logs an upgraded request (exec, port-forward): RBAC asks `create` on the subresource.
    pub fn log_upgrade(&self, method: &str, path: &str, query: &str) {
        let attrs = Attributes::parse(path);
        self.log.lock().unwrap().push(Logged {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            content_type: String::new(),
            body: Value::Null,
            needs: vec![(attrs.group.clone(), attrs.rbac_resource(), "create".into())],
        });
    }

    /// Answers one request: logs it, authorises it when it comes from a subject, acts.
    pub fn handle(&self, req: Request<'_>) -> (StatusCode, Value) {
        let attrs = Attributes::parse(req.path);
        let (collection, name, _) = Self::split(req.path);
        let exists = name.as_ref().is_some_and(|n| {
            self.objects
                .lock()
                .unwrap()
                .get(&collection)
                .is_some_and(|c| c.contains_key(n))
        });
        let needs: Vec<Permission> = attrs
            .verbs(req.method, req.query, req.content_type, exists)
            .into_iter()
            .map(|v| (attrs.group.clone(), attrs.rbac_resource(), v))
            .collect();
        self.log.lock().unwrap().push(Logged {
            method: req.method.to_string(),
            path: req.path.to_string(),
            query: req.query.to_string(),
            content_type: req.content_type.to_string(),
            body: req.body.clone(),
            needs: needs.clone(),
        });
        if let Some(who) = req.subject {
            if let Err(denied) = self.authorise(who, &attrs, &needs, &req.body) {
                return denied;
            }
        }
        let creates = needs.iter().any(|(_, _, v)| v == "create");
        if let (true, Some(ns)) = (creates, &attrs.namespace) {
            if self
                .namespaces
                .lock()
                .unwrap()
                .as_ref()
                .is_some_and(|known| !known.contains(ns))
            {
                return status_with(404, "NotFound", format!("namespaces \"{ns}\" not found"));
            }
        }
        self.act(
            req.method,
            req.path,
            req.query,
            req.accept,
            req.content_type,
            req.body,
        )
    }

    /// 403 for a verb the subject's bindings do not grant, or a Role granting more than
    /// the subject holds.
    fn authorise(
        &self,
        who: &Subject,
        attrs: &Attributes,
        needs: &[Permission],
        body: &Value,
    ) -> Result<(), (StatusCode, Value)> {
        let objects = self.objects.lock().unwrap();
        let rbac = authz::Rbac { objects: &objects };
        for (_, _, verb) in needs {
            if !rbac.allows(who, attrs, verb) {
                let message = authz::forbidden_message(who, attrs, verb);
                return Err(status_with(403, "Forbidden", message));
            }
        }
        let writes_role = attrs.group == "rbac.authorization.k8s.io"
            && attrs.resource == "roles"
            && needs
                .iter()
                .any(|(_, _, v)| v != "get" && v != "list" && v != "watch" && v != "delete");
        if let (true, Some(ns)) = (writes_role, &attrs.namespace) {
            if let Err(right) = rbac.may_grant(who, ns, body) {
                let message = format!(
                    "roles.rbac.authorization.k8s.io \"{}\" is forbidden: user \"{}\" is attempting to grant RBAC permissions not currently held: {right}",
                    attrs.name.clone().unwrap_or_default(),
                    who.user()
                );
                return Err(status_with(403, "Forbidden", message));
            }
        }
        Ok(())
    }

    fn act(
        &self,
        method: &str,
        path: &str,
        query: &str,
        accept: &str,
        content_type: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let (collection, name, sub) = Self::split(path);
        let mut objects = self.objects.lock().unwrap();
        let coll = objects.entry(collection.clone()).or_default();
        match (method, name) {
            ("GET", None) => {
                let selector = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("labelSelector="))
                    .map(urlencoding_decode);
                let items: Vec<Value> = coll
                    .values()
                    .filter(|o| match &selector {
                        Some(sel) => sel.split(',').all(|term| match term.split_once('=') {
                            Some((k, v)) => o["metadata"]["labels"][k] == v,
                            None => o["metadata"]["labels"].get(term).is_some(),
                        }),
                        None => true,
                    })
                    .map(|o| {
                        if accept.contains("PartialObjectMetadata") {
                            json!({"apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadata", "metadata": o["metadata"]})
                        } else {
                            o.clone()
                        }
                    })
                    .collect();
                (
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": items}),
                )
            }
            ("GET", Some(n)) => match coll.get(&n) {
                Some(o) => (StatusCode::OK, o.clone()),
                None => status(404, "NotFound"),
            },
            ("PATCH", Some(n))
                if sub.as_deref() == Some("status")
                    || content_type.starts_with("application/merge-patch") =>
            {
                let Some(o) = coll.get_mut(&n) else {
                    return status(404, "NotFound");
                };
                // The operator and appstack's pods send JSON merge patches (RFC 7386).
                merge(o, &body);
                (StatusCode::OK, o.clone())
            }
            ("PATCH", Some(n)) => {
                let mut o = body;
                o["metadata"]["resourceVersion"] = json!("2");
                // Workloads become ready at once: the status the operator reads back.
                if let Some(r) = o["spec"]["replicas"].as_i64() {
                    o["status"] = json!({"replicas": r, "readyReplicas": r});
                }
                coll.insert(n, o.clone());
                (StatusCode::OK, o)
            }
            ("POST", None) => {
                let n = body["metadata"]["name"]
                    .as_str()
                    .unwrap_or("event")
                    .to_string();
                if coll.contains_key(&n) && !collection.ends_with("events") {
                    return status(409, "AlreadyExists");
                }
                let mut o = body;
                o["metadata"]["resourceVersion"] = json!("1");
                coll.insert(n, o.clone());
                (StatusCode::CREATED, o)
            }
            ("PUT", Some(n)) => {
                let current_rv = coll
                    .get(&n)
                    .map(|o| o["metadata"]["resourceVersion"].clone());
                if current_rv.as_ref() != Some(&body["metadata"]["resourceVersion"]) {
                    return status(409, "Conflict");
                }
                let mut o = body;
                let rv: i64 = o["metadata"]["resourceVersion"]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1);
                o["metadata"]["resourceVersion"] = json!((rv + 1).to_string());
                coll.insert(n, o.clone());
                (StatusCode::OK, o)
            }
            ("DELETE", Some(n)) => match coll.remove(&n) {
                Some(_) => (
                    StatusCode::OK,
                    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
                ),
                None => status(404, "NotFound"),
            },
            _ => status(405, "MethodNotAllowed"),
        }
    }
}

fn urlencoding_decode(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).to_string()
}

/// A client whose every request the fake answers, unchecked (an administrator).
pub fn client(fake: Arc<FakeApi>) -> kube::Client {
    client_for(fake, None)
}

/// A client whose requests the fake authorises as `subject` (a service account).
pub fn client_as(fake: Arc<FakeApi>, subject: Subject) -> kube::Client {
    client_for(fake, Some(subject))
}

fn client_for(fake: Arc<FakeApi>, subject: Option<Subject>) -> kube::Client {
    let (service, mut handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    tokio::spawn(async move {
        while let Some((req, send)) = handle.next_request().await {
            let (parts, body) = req.into_parts();
            let bytes = body.collect_bytes().await.unwrap();
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            let header = |h: &str| {
                parts
                    .headers
                    .get(h)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string()
            };
            let (accept, content_type) = (header("accept"), header("content-type"));
            let (code, value) = fake.handle(Request {
                method: parts.method.as_str(),
                path: parts.uri.path(),
                query: parts.uri.query().unwrap_or(""),
                accept: &accept,
                content_type: &content_type,
                body,
                subject: subject.as_ref(),
            });
            let resp = http::Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(kube::client::Body::from(
                    serde_json::to_vec(&value).unwrap(),
                ))
                .unwrap();
            send.send_response(resp);
        }
    });
    kube::Client::new(service, "default")
}

/// RFC 7386: objects merge key by key, null deletes, anything else replaces.
fn merge(target: &mut Value, patch: &Value) {
    let Some(fields) = patch.as_object() else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Some(t) = target.as_object_mut() {
        for (k, v) in fields {
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}
