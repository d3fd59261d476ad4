//! A fake Kubernetes API server, transport-free: it keeps objects by collection and name,
//! answers lists (full or metadata-only, with label selectors), gets, server-side apply
//! patches (workloads read back as ready), status patches, creates, replaces (with
//! resourceVersion conflicts) and deletes, and logs every request.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    pub body: Value,
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
}

fn status(code: u16, reason: &str) -> (StatusCode, Value) {
    (
        StatusCode::from_u16(code).unwrap(),
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": reason, "code": code, "message": reason}),
    )
}

impl FakeApi {
    pub fn writes(&self) -> Vec<Logged> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.is_write())
            .cloned()
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
            None => parts.len().saturating_sub(1).min(parts.len()),
        };
        let collection = parts[..(kind_at + 1).min(parts.len())].join("/");
        (
            collection,
            parts.get(kind_at + 1).map(|s| s.to_string()),
            parts.get(kind_at + 2).map(|s| s.to_string()),
        )
    }

    pub fn handle(
        &self,
        method: &str,
        path: &str,
        query: &str,
        accept: &str,
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
            ("PATCH", Some(n)) if sub.as_deref() == Some("status") => {
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

/// A client whose every request the fake answers.
pub fn client(fake: Arc<FakeApi>) -> kube::Client {
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
            let path = parts.uri.path().to_string();
            let query = parts.uri.query().unwrap_or("").to_string();
            fake.log.lock().unwrap().push(Logged {
                method: parts.method.to_string(),
                path: path.clone(),
                query: query.clone(),
                content_type: header("content-type"),
                body: body.clone(),
            });
            let (code, value) = fake.handle(
                parts.method.as_str(),
                &path,
                &query,
                &header("accept"),
                body,
            );
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
