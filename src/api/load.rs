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
    let doc: Value = serde_norway::from_str(text)
        .map_err(|err| fail("document", format!("not valid YAML: {err}")))?;
    let Value::Object(top) = &doc else {
        return Err(fail(
            "document",
            "expected a mapping with apiVersion, kind, metadata and spec".into(),
        ));
    };
    let mut out = Collector::default();
    for key in top.keys() {
        if !["apiVersion", "kind", "metadata", "spec", "status"].contains(&key.as_str()) {
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
        Some(Value::Object(meta)) => {
            if !meta.get("name").is_some_and(Value::is_string) {
                out.push(
                    "metadata.name",
                    "required field is missing (the stack's name)",
                );
            }
            if meta.get("namespace").is_some_and(|n| !n.is_string()) {
                out.push("metadata.namespace", "expected a string");
            }
        }
        _ => out.push(
            "metadata",
            "required field is missing (expected a mapping with `name`)",
        ),
    }
    match top.get("spec") {
        Some(spec) => check(spec, &spec_schema(), "spec", &mut out),
        None => out.push("spec", "required field is missing"),
    }
    out.finish(origin)?;
    serde_json::from_value::<AppStack>(doc).map_err(|err| fail("spec", err.to_string()))
}

/// The OpenAPI schema of `spec`, taken from the generated CRD so CLI and cluster agree.
fn spec_schema() -> Value {
    let crd = serde_json::to_value(AppStack::crd()).unwrap_or(Value::Null);
    crd.pointer("/spec/versions/0/schema/openAPIV3Schema/properties/spec")
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
