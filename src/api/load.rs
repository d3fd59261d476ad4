//! Reading a manifest: YAML → structural check against the CRD schema → typed `AppStack`.

use std::path::Path;

use kube::CustomResourceExt;
use serde_json::Value;

use super::errors::{Collector, ValidationErrors};
use super::schema_check::{check, unknown_field_message};
use super::spec::AppStack;

pub const API_VERSION: &str = "appstack.io/v1alpha1";
pub const KIND: &str = "AppStack";

/// Reads and parses a manifest file. Errors name the file and every bad field.
pub fn load_file(path: &Path) -> Result<AppStack, ValidationErrors> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ValidationErrors {
        origin: origin.clone(),
        errors: vec![super::ValidationError::new(
            "file",
            format!("cannot read the manifest: {err}"),
        )],
    })?;
    parse_str(&text, &origin)
}

/// Parses a manifest from text; `origin` names it in errors.
pub fn parse_str(text: &str, origin: &str) -> Result<AppStack, ValidationErrors> {
    let fail = |path: &str, message: String| ValidationErrors {
        origin: origin.to_string(),
        errors: vec![super::ValidationError::new(path, message)],
    };
    let doc: Value =
        super::yaml_strict::parse(text).map_err(|refused| fail(&refused.path, refused.message))?;
    let Value::Object(top) = &doc else {
        return Err(fail(
            "document",
            "expected a mapping with apiVersion, kind, metadata and spec".into(),
        ));
    };
    let mut out = Collector::default();
    for key in top.keys() {
        if !["apiVersion", "kind", "metadata", "spec", "status"].contains(&key.as_str()) {
            if out.full() {
                out.count_more();
                continue;
            }
            out.push(
                key.clone(),
                unknown_field_message(key, &["apiVersion", "kind", "metadata", "spec"]),
            );
        }
    }
    match top.get("apiVersion").and_then(Value::as_str) {
        Some(API_VERSION) => {}
        Some(other) => out.push(
            "apiVersion",
            format!("expected {API_VERSION:?}, found {other:?}"),
        ),
        None => out.push(
            "apiVersion",
            format!("required field is missing (expected {API_VERSION:?})"),
        ),
    }
    match top.get("kind").and_then(Value::as_str) {
        Some(KIND) => {}
        Some(other) => out.push("kind", format!("expected {KIND:?}, found {other:?}")),
        None => out.push(
            "kind",
            format!("required field is missing (expected {KIND:?})"),
        ),
    }
    match top.get("metadata") {
        Some(Value::Object(meta)) => check_metadata(meta, &mut out),
        _ => out.push(
            "metadata",
            "required field is missing (expected a mapping with `name`)",
        ),
    }
    if let Some(status) = top.get("status") {
        check(status, &schema_of("status"), "status", &mut out);
    }
    match top.get("spec") {
        Some(spec) => check(spec, &schema_of("spec"), "spec", &mut out),
        None => out.push("spec", "required field is missing"),
    }
    out.finish(origin)?;
    // The schema checks above mirror the types; should one still disagree, say where.
    serde_json::from_value::<AppStack>(doc).map_err(|err| fail("document", err.to_string()))
}

/// A DNS-1123 label: what Kubernetes accepts as a namespace (and appstack as a name part).
fn dns_label(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 63
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// `metadata`: a string name, a DNS-1123 namespace, string maps of labels and annotations,
/// and the rest as Kubernetes types it (what the API server would refuse).
fn check_metadata(meta: &serde_json::Map<String, Value>, out: &mut Collector) {
    match meta.get("name") {
        Some(Value::String(_)) => {}
        Some(other) => out.push(
            "metadata.name",
            format!("expected a string, found {}", kind_of(other)),
        ),
        None => out.push(
            "metadata.name",
            "required field is missing (the stack's name)",
        ),
    }
    match meta.get("namespace") {
        None => {}
        Some(Value::String(ns)) if dns_label(ns) => {}
        Some(Value::String(ns)) => out.push(
            "metadata.namespace",
            format!("{ns:?} is not a namespace name (lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit)"),
        ),
        Some(other) => out.push(
            "metadata.namespace",
            format!("expected a string, found {}", kind_of(other)),
        ),
    }
    for field in ["labels", "annotations"] {
        match meta.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    if !v.is_string() {
                        out.push(
                            format!("metadata.{field}.{k}"),
                            format!("expected a string, found {}", kind_of(v)),
                        );
                    }
                }
            }
            Some(other) => out.push(
                format!("metadata.{field}"),
                format!("expected a mapping of strings, found {}", kind_of(other)),
            ),
        }
    }
    let typed = serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(
        Value::Object(meta.clone()),
    );
    if let (Err(e), true) = (typed, out.errors.is_empty()) {
        out.push("metadata", e.to_string());
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// The OpenAPI schema of `spec` or `status`, taken from the generated CRD so CLI and
/// cluster agree.
fn schema_of(part: &str) -> Value {
    let crd = serde_json::to_value(AppStack::crd()).unwrap_or(Value::Null);
    crd.pointer(&format!(
        "/spec/versions/0/schema/openAPIV3Schema/properties/{part}"
    ))
    .cloned()
    .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_all_structural_errors_with_paths() {
        let text = r#"
apiVersion: appstack.io/v1alpha1
kind: AppStack
metadata: {name: demo}
spec:
  databse: {}
  cache: {maxmemory: 5, persistence: sometimes}
  frontend: {port: "x"}
"#;
        let err = parse_str(text, "demo.yaml").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("spec.databse: unknown field `databse`, did you mean `database`?"),
            "{text}"
        );
        assert!(
            text.contains("spec.cache.maxmemory: expected a string"),
            "{text}"
        );
        assert!(
            text.contains("spec.cache.persistence: sometimes is not one of: none, rdb, aof"),
            "{text}"
        );
        assert!(
            text.contains("spec.frontend.port: expected an integer"),
            "{text}"
        );
        assert!(
            text.contains("spec.frontend.image: required field is missing"),
            "{text}"
        );
        assert!(
            text.starts_with("demo.yaml: invalid AppStack (5 errors)"),
            "{text}"
        );
    }

    #[test]
    fn wrong_kind_and_version() {
        let err = parse_str(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n",
            "f",
        )
        .unwrap_err();
        assert_eq!(err.errors.len(), 2);
    }
}
