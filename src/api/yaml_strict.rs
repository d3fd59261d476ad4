//! YAML read stricter than serde reads it: a key given twice is an error naming it and both
//! lines (serde keeps the last one silently, so a second `bind: 0.0.0.0` would publish a
//! database), and a document too large or nested too deep is refused before the parser
//! sees it (a 100 KB run of `[` never finishes parsing otherwise).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The largest manifest read: real ones are a few KB.
pub const MAX_BYTES: usize = 1 << 20;
/// The deepest nesting of flow collections (`[`, `{`) and of indentation accepted.
pub const MAX_DEPTH: usize = 64;

/// Why a document was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Where: "document", or a key's description.
    pub path: String,
    pub message: String,
}

/// Parses `text` into a JSON value, refusing duplicate keys, oversized and over-deep input.
pub fn parse(text: &str) -> Result<Value, Refused> {
    limits(text)?;
    let de = serde_norway::Deserializer::from_str(text);
    match Strict::deserialize(de) {
        Ok(v) => Ok(v.0),
        Err(e) => Err(explain(text, &e)),
    }
}

fn refused(message: String) -> Refused {
    Refused {
        path: "document".into(),
        message,
    }
}

/// Size and nesting, measured on the text: flow brackets outside quotes, and block
/// indentation (a level needs at least one more column).
fn limits(text: &str) -> Result<(), Refused> {
    if text.len() > MAX_BYTES {
        return Err(refused(format!(
            "{} bytes: a manifest may be at most {} bytes",
            text.len(),
            MAX_BYTES
        )));
    }
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start_matches(' ').len();
        if indent > MAX_DEPTH * 4 {
            return Err(refused(format!(
                "line {}: indented {indent} columns: nesting deeper than {MAX_DEPTH} levels is refused",
                n + 1
            )));
        }
        // A quote opens a quoted scalar only where a scalar starts (an apostrophe inside
        // a plain scalar, as in `don't`, does not).
        let mut prev: Option<char> = None;
        for ch in line.chars() {
            let starts_scalar = prev.is_none_or(|p| matches!(p, ':' | '-' | '[' | '{' | ',' | '?'));
            if !ch.is_whitespace() && quote.is_none() {
                prev = Some(ch);
            }
            match (quote, ch) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') if starts_scalar => quote = Some(ch),
                (None, '#') => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_DEPTH {
                        return Err(refused(format!(
                            "line {}: flow collections nested deeper than {MAX_DEPTH} levels",
                            n + 1
                        )));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        // A single-quoted or double-quoted scalar may span lines; a plain one never does.
    }
    Ok(())
}

/// The parser's error; for a duplicated key, its path and both lines (the parser names the
/// mapping's path and where the mapping starts; the key's lines are found from there).
fn explain(text: &str, e: &serde_norway::Error) -> Refused {
    let message = e.to_string();
    let Some((before, rest)) = message.split_once("duplicate key `") else {
        return refused(format!("not valid YAML: {message}"));
    };
    let Some((key, _)) = rest.split_once('`') else {
        return refused(format!("not valid YAML: {message}"));
    };
    let parent = before.trim_end().trim_end_matches(':');
    let path = if parent.is_empty() || parent == "." {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    };
    let from = e.location().map_or(0, |l| l.line().saturating_sub(1));
    let lines: Vec<usize> = text
        .lines()
        .enumerate()
        .skip(from)
        .filter(|(_, l)| mentions_key(l, key))
        .map(|(i, _)| i + 1)
        .take(2)
        .collect();
    let at = match lines.as_slice() {
        [first, second] if first != second => format!("lines {first} and {second}"),
        [first, ..] => format!("line {first}"),
        [] => format!("the mapping at line {}", from + 1),
    };
    Refused {
        path,
        message: format!(
            "given twice in one mapping ({at}): the second would silently replace the first; keep one"
        ),
    }
}

/// Whether `line` holds `key:` as a mapping key (block or flow style).
fn mentions_key(line: &str, key: &str) -> bool {
    let code = line.split(" #").next().unwrap_or(line);
    [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ]
    .iter()
    .any(|k| {
        code.match_indices(k.as_str()).any(|(i, _)| {
            code[..i]
                .chars()
                .last()
                .is_none_or(|c| c == ' ' || c == '{' || c == ',' || c == '-')
        })
    })
}

struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Strict;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Strict, E> {
        Ok(Strict(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Strict, E> {
        Ok(Strict(Value::Number(v.into())))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Strict, E> {
        Ok(Strict(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<Strict, E> {
        Ok(Strict(Value::String(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Strict, E> {
        Ok(Strict(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_none<E>(self) -> Result<Strict, E> {
        Ok(Strict(Value::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Strict, D::Error> {
        Strict::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Strict, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Strict(Value::Array(out)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Strict, A::Error> {
        let mut out = Map::new();
        while let Some(Strict(key)) = map.next_key()? {
            let key = match key {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let Strict(value) = map.next_value()?;
            out.insert(key, value);
        }
        Ok(Strict(Value::Object(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_key_names_both_lines() {
        let text = "spec:\n  ingress:\n    publishedPorts:\n      - component: cms\n        bind: 127.0.0.1\n        bind: 0.0.0.0\n";
        let e = parse(text).unwrap_err();
        assert_eq!(e.path, "spec.ingress.publishedPorts[0].bind");
        assert!(e.message.contains("lines 5 and 6"), "{e:?}");
        let top = "spec:\n  frontend: {image: a}\n  frontend: {image: b}\n";
        let e = parse(top).unwrap_err();
        assert_eq!(e.path, "spec.frontend");
        assert!(e.message.contains("lines 2 and 3"), "{e:?}");
        let flow = "m: {a: 1, a: 2}\n";
        let e = parse(flow).unwrap_err();
        assert!(e.path == "m.a" && e.message.contains("line 1"), "{e:?}");
    }

    #[test]
    fn deep_and_large_documents_are_refused_quickly() {
        let started = std::time::Instant::now();
        let brackets = "[".repeat(100_000);
        assert!(parse(&brackets)
            .unwrap_err()
            .message
            .contains("nested deeper"));
        let big = "a: b\n".repeat(MAX_BYTES / 5 + 1);
        assert!(parse(&big).unwrap_err().message.contains("at most"));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let sneaky = format!("a: don't\nb: {}", "[".repeat(100_000));
        assert!(parse(&sneaky)
            .unwrap_err()
            .message
            .contains("nested deeper"));
        let fine = "a: [[1, 2], {b: 'x[y'}]\n";
        assert_eq!(parse(fine).unwrap()["a"][1]["b"], "x[y");
    }
}
