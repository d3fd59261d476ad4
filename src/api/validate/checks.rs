//! `spec.healthCheck`: the core tables and the queue `health-check` looks at.

use super::super::errors::Collector;
use super::super::spec::AppStackSpec;
use super::super::validated::{HealthChecks, Queue, Table};

/// Directus' own tables: present once the CMS has bootstrapped its schema.
const DIRECTUS_CORE_TABLES: [&str; 4] = [
    "directus_users",
    "directus_collections",
    "directus_files",
    "directus_settings",
];

/// A PostgreSQL identifier as written unquoted (at most 63 bytes).
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    s.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

fn table(c: &mut Collector, path: String, text: &str) -> Option<Table> {
    let (schema, name) = text.split_once('.').unwrap_or(("public", text));
    if is_identifier(schema) && is_identifier(name) {
        Some(Table {
            schema: schema.to_string(),
            name: name.to_string(),
        })
    } else {
        c.push(path, format!("{text:?} is not a table name (expected `table` or `schema.table`, each a PostgreSQL identifier: letters, digits, `_`, `$`, at most 63 characters, not starting with a digit)"));
        None
    }
}

pub(super) fn health_checks(
    c: &mut Collector,
    spec: &AppStackSpec,
    has_db: bool,
    has_cms: bool,
    has_cache: bool,
) -> HealthChecks {
    let p = "spec.healthCheck";
    let hc = spec.health_check.clone().unwrap_or_default();
    let core_tables = match &hc.core_tables {
        Some(list) => {
            if !list.is_empty() && !has_db {
                c.push(
                    format!("{p}.coreTables"),
                    "needs a database: add spec.database",
                );
            }
            list.iter()
                .enumerate()
                .filter_map(|(i, t)| table(c, format!("{p}.coreTables[{i}]"), t))
                .collect()
        }
        None if has_cms => DIRECTUS_CORE_TABLES
            .iter()
            .map(|t| Table {
                schema: "public".into(),
                name: t.to_string(),
            })
            .collect(),
        None => Vec::new(),
    };
    let queue = hc.queue.as_ref().map(|q| {
        if !has_cache {
            c.push(format!("{p}.queue"), "needs a cache: add spec.cache");
        }
        if q.key.is_empty() || q.key.len() > 1024 || q.key.chars().any(char::is_control) {
            c.push(
                format!("{p}.queue.key"),
                "expected a Redis key of 1 to 1024 characters without control characters",
            );
        }
        Queue {
            key: q.key.clone(),
            max_backlog: q.max_backlog,
        }
    });
    HealthChecks { core_tables, queue }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_what_postgres_takes_unquoted() {
        assert!(is_identifier("orders"));
        assert!(is_identifier("_x$1"));
        assert!(!is_identifier("1x"));
        assert!(!is_identifier("a-b"));
        assert!(!is_identifier("x'; drop table y; --"));
        assert!(!is_identifier(&"a".repeat(64)));
    }
}
