//! Structural check of a manifest against the CRD's own OpenAPI schema, collecting every
//! error at once (serde stops at the first) and suggesting the field a typo meant.

use serde_json::Value;

use super::errors::Collector;

/// Checks `value` at `path` against the OpenAPI v3 `schema`.
pub fn check(value: &Value, schema: &Value, path: &str, out: &mut Collector) {
    if value.is_null() {
        if schema.get("nullable").and_then(Value::as_bool) != Some(true) {
            out.push(path, format!("expected {}, found null", expected(schema)));
        }
        return;
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            let names: Vec<String> = allowed.iter().map(render).collect();
            out.push(
                path,
                format!("{} is not one of: {}", render(value), names.join(", ")),
            );
            return;
        }
    }
    let Some(ty) = schema.get("type").and_then(Value::as_str) else {
        return;
    };
    match (ty, value) {
        ("object", Value::Object(map)) => check_object(map, schema, path, out),
        ("array", Value::Array(items)) => {
            let max = schema.get("maxItems").and_then(Value::as_u64);
            if let Some(max) = max.filter(|m| items.len() as u64 > *m) {
                out.push(
                    path,
                    format!("{} items: at most {max} are allowed", items.len()),
                );
                return;
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item, item_schema, &format!("{path}[{i}]"), out);
                }
            }
        }
        ("string", Value::String(_)) | ("boolean", Value::Bool(_)) => {}
        ("integer", Value::Number(n)) if n.is_i64() || n.is_u64() => {
            check_range(value, schema, path, out)
        }
        ("number", Value::Number(_)) => check_range(value, schema, path, out),
        _ => out.push(
            path,
            format!("expected {}, found {}", expected(schema), describe(value)),
        ),
    }
}

fn check_object(
    map: &serde_json::Map<String, Value>,
    schema: &Value,
    path: &str,
    out: &mut Collector,
) {
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    let preserve = schema
        .get("x-kubernetes-preserve-unknown-fields")
        .and_then(Value::as_bool)
        == Some(true);
    for (key, child) in map {
        let child_path = join(path, key);
        if let Some(child_schema) = props.and_then(|p| p.get(key)) {
            check(child, child_schema, &child_path, out);
        } else if let Some(extra) = additional.filter(|a| a.is_object()) {
            check(child, extra, &child_path, out);
        } else if !preserve && out.full() {
            out.count_more();
        } else if !preserve {
            let known: Vec<&str> = props
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            out.push(child_path, unknown_field_message(key, &known));
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                out.push(join(path, name), "required field is missing");
            }
        }
    }
}

/// The range an integer `format` can carry (what the typed spec will be read into).
fn format_range(schema: &Value) -> (Option<f64>, Option<f64>) {
    match schema.get("format").and_then(Value::as_str) {
        Some("uint8") => (Some(0.0), Some(f64::from(u8::MAX))),
        Some("uint16") => (Some(0.0), Some(f64::from(u16::MAX))),
        Some("uint32") => (Some(0.0), Some(f64::from(u32::MAX))),
        Some("int32") => (Some(f64::from(i32::MIN)), Some(f64::from(i32::MAX))),
        // f64 holds these bounds within 1 ulp: beyond them is out either way.
        Some("uint64") => (Some(0.0), Some(u64::MAX as f64)),
        Some("int64") => (Some(i64::MIN as f64), Some(i64::MAX as f64)),
        _ => (None, None),
    }
}

fn check_range(value: &Value, schema: &Value, path: &str, out: &mut Collector) {
    let Some(n) = value.as_f64() else { return };
    let (format_min, format_max) = format_range(schema);
    let min = schema
        .get("minimum")
        .and_then(Value::as_f64)
        .into_iter()
        .chain(format_min)
        .reduce(f64::max);
    let max = schema
        .get("maximum")
        .and_then(Value::as_f64)
        .into_iter()
        .chain(format_max)
        .reduce(f64::min);
    if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
        let lo = min.map_or("-inf".to_string(), |m| format!("{m}"));
        let hi = max.map_or("inf".to_string(), |m| format!("{m}"));
        out.push(
            path,
            format!("{value} is out of range (expected {lo} to {hi})"),
        );
    }
}

/// "unknown field `databse`, did you mean `database`? (expected one of: ...)"
pub fn unknown_field_message(key: &str, known: &[&str]) -> String {
    let best = known
        .iter()
        .map(|k| {
            (
                strsim::jaro_winkler(&key.to_lowercase(), &k.to_lowercase()),
                *k,
            )
        })
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let mut message = format!("unknown field `{key}`");
    if let Some((_, suggestion)) = best {
        message.push_str(&format!(", did you mean `{suggestion}`?"));
    }
    if !known.is_empty() {
        message.push_str(&format!(" (expected one of: {})", known.join(", ")));
    }
    message
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn expected(schema: &Value) -> &'static str {
    match schema.get("type").and_then(Value::as_str) {
        Some("object") => "a mapping",
        Some("array") => "a list",
        Some("string") => "a string",
        Some("integer") => "an integer",
        Some("number") => "a number",
        Some("boolean") => "true or false",
        _ => "a value",
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "a list".into(),
        Value::Object(_) => "a mapping".into(),
    }
}

fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn suggests_close_field() {
        let msg = unknown_field_message("databse", &["database", "cache"]);
        assert!(msg.contains("did you mean `database`"), "{msg}");
        let msg = unknown_field_message("zzz", &["database", "cache"]);
        assert!(!msg.contains("did you mean"), "{msg}");
    }

    #[test]
    fn collects_every_error() {
        let schema = json!({"type": "object", "required": ["a"], "properties": {
            "a": {"type": "integer", "minimum": 1.0},
            "b": {"type": "string", "enum": ["x", "y"]},
            "c": {"type": "array", "items": {"type": "boolean"}}
        }});
        let mut out = Collector::default();
        check(
            &json!({"b": "z", "c": [true, 3], "d": 1}),
            &schema,
            "spec",
            &mut out,
        );
        let paths: Vec<&str> = out.errors.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, vec!["spec.b", "spec.c[1]", "spec.d", "spec.a"]);
    }
}
