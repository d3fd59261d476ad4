//! Reading a plan (EXPLAIN (VERBOSE, FORMAT JSON)): the sequential scans with a filter,
//! and from a filter the index that would serve it — a B-tree on the columns compared with
//! a parameter (equalities first, then one range), or a GiST on a geometry column under a
//! spatial predicate.

use serde::Serialize;
use serde_json::Value;

/// An index access method the audit suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Btree,
    Gist,
}

impl Method {
    pub fn sql(self) -> &'static str {
        match self {
            Method::Btree => "btree",
            Method::Gist => "gist",
        }
    }
}

/// A sequential scan with a filter, as the plan shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct FilteredScan {
    pub schema: String,
    pub table: String,
    pub alias: String,
    pub filter: String,
}

/// The plan's root cost.
pub fn total_cost(plan: &Value) -> Option<f64> {
    plan.get(0)?.get("Plan")?.get("Total Cost")?.as_f64()
}

/// Every node of the plan, depth first.
fn nodes(plan: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = plan
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("Plan"))
        .collect();
    while let Some(n) = stack.pop() {
        out.push(n);
        if let Some(children) = n.get("Plans").and_then(Value::as_array) {
            stack.extend(children.iter());
        }
    }
    out
}

pub fn filtered_scans(plan: &Value) -> Vec<FilteredScan> {
    let text = |n: &Value, k: &str| n.get(k).and_then(Value::as_str).map(str::to_string);
    nodes(plan)
        .into_iter()
        .filter(|n| n.get("Node Type").and_then(Value::as_str) == Some("Seq Scan"))
        .filter_map(|n| {
            Some(FilteredScan {
                schema: text(n, "Schema")?,
                table: text(n, "Relation Name")?,
                alias: text(n, "Alias")?,
                filter: text(n, "Filter")?,
            })
        })
        .collect()
}

/// The names of the indexes the plan reads.
pub fn indexes_used(plan: &Value) -> Vec<String> {
    nodes(plan)
        .into_iter()
        .filter_map(|n| n.get("Index Name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// A column of the scanned table, and whether it holds geometry or geography.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub spatial: bool,
}

/// Predicates a GiST index on a geometry answers (PostGIS adds the index condition).
const SPATIAL: [&str; 12] = [
    "st_intersects(",
    "st_dwithin(",
    "st_contains(",
    "st_within(",
    "st_covers(",
    "st_coveredby(",
    "st_overlaps(",
    "st_touches(",
    "st_crosses(",
    "st_equals(",
    "st_containsproperly(",
    " && ",
];

/// The indexes that would serve this scan's filter: (method, columns).
pub fn suggest(scan: &FilteredScan, columns: &[Column]) -> Vec<(Method, Vec<String>)> {
    let mut out = Vec::new();
    let lower = scan.filter.to_lowercase();
    if SPATIAL.iter().any(|m| lower.contains(m)) {
        let refs = column_refs(&scan.filter, &scan.alias);
        if let Some(c) = columns.iter().find(|c| c.spatial && refs.contains(&c.name)) {
            out.push((Method::Gist, vec![c.name.clone()]));
        }
    }
    let (mut eq, mut range) = (Vec::<String>::new(), None);
    for term in conjuncts(&scan.filter) {
        let Some((col, is_eq)) = compared_column(term, &scan.alias) else {
            continue;
        };
        let Some(c) = columns.iter().find(|c| c.name == col && !c.spatial) else {
            continue;
        };
        if is_eq && !eq.contains(&c.name) {
            eq.push(c.name.clone());
        } else if !is_eq && range.is_none() {
            range = Some(c.name.clone());
        }
    }
    eq.truncate(3);
    if let Some(r) = range.filter(|r| eq.len() < 3 && !eq.contains(r)) {
        eq.push(r);
    }
    if !eq.is_empty() {
        out.push((Method::Btree, eq));
    }
    out
}

/// The top-level AND terms of a filter; a top-level OR gives none (no one index serves it).
fn conjuncts(filter: &str) -> Vec<&str> {
    let f = unwrap_parens(filter.trim());
    if split_top(f, " OR ").len() > 1 {
        return Vec::new();
    }
    split_top(f, " AND ")
}

/// `(x)` → `x` while the outer parentheses enclose the whole.
fn unwrap_parens(mut s: &str) -> &str {
    while s.starts_with('(') && s.ends_with(')') && closing_of_first(s) == Some(s.len() - 1) {
        s = s[1..s.len() - 1].trim();
    }
    s
}

fn closing_of_first(s: &str) -> Option<usize> {
    let mut depth = 0i32;
    let mut quoted = false;
    for (i, ch) in s.char_indices() {
        match ch {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Splits on `sep` outside parentheses and quotes.
fn split_top<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let (mut out, mut depth, mut quoted, mut start) = (Vec::new(), 0i32, false, 0);
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => quoted = !quoted,
            b'(' if !quoted => depth += 1,
            b')' if !quoted => depth -= 1,
            _ if !quoted && depth == 0 && s[i..].starts_with(sep) => {
                out.push(s[start..i].trim());
                i += sep.len();
                start = i;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(s[start..].trim());
    out
}

/// `alias.col op value` (either side, casts allowed) → (col, is equality). The other side
/// must not read the same table.
fn compared_column(term: &str, alias: &str) -> Option<(String, bool)> {
    let t = unwrap_parens(term);
    for (op, is_eq) in [
        (" = ", true),
        (" <= ", false),
        (" >= ", false),
        (" < ", false),
        (" > ", false),
    ] {
        let parts = split_top(t, op);
        if parts.len() != 2 {
            continue;
        }
        let (l, r) = (parts[0], parts[1]);
        let (lc, rc) = (bare_column(l, alias), bare_column(r, alias));
        let other_reads_table = |s: &str| !column_refs(s, alias).is_empty();
        return match (lc, rc) {
            (Some(c), None) if !other_reads_table(r) => Some((c, is_eq)),
            (None, Some(c)) if !other_reads_table(l) => Some((c, is_eq)),
            _ => None,
        };
    }
    None
}

/// `alias.col`, `(alias.col)::type` or `alias."Col"` → the column's name.
fn bare_column(side: &str, alias: &str) -> Option<String> {
    let mut s = unwrap_parens(side.trim());
    if let Some(i) = s.find(")::").filter(|_| s.starts_with('(')) {
        s = &s[1..i];
    } else if let Some(i) = s.find("::") {
        s = &s[..i];
    }
    let rest = s.strip_prefix(alias)?.strip_prefix('.')?;
    if let Some(q) = rest.strip_prefix('"') {
        let name = q.strip_suffix('"')?;
        return (!name.contains('"')).then(|| name.to_string());
    }
    rest.chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        .then(|| rest.to_string())
}

/// The columns of `alias` a text refers to (`alias.col` or `alias."Col"`), outside quotes.
fn column_refs(text: &str, alias: &str) -> Vec<String> {
    let mut out = Vec::new();
    let pat = format!("{alias}.");
    let mut rest = text;
    while let Some(i) = rest.find(&pat) {
        let before_ok = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_' || c == '"' || c == '.'));
        let after = &rest[i + pat.len()..];
        if before_ok {
            if let Some(q) = after.strip_prefix('"') {
                if let Some(end) = q.find('"') {
                    out.push(q[..end].to_string());
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
                    .unwrap_or(after.len());
                if end > 0 {
                    out.push(after[..end].to_string());
                }
            }
        }
        rest = after;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols() -> Vec<Column> {
        let c = |n: &str, spatial| Column {
            name: n.into(),
            spatial,
        };
        vec![
            c("id", false),
            c("cat", false),
            c("price", false),
            c("geom", true),
        ]
    }

    fn scan(filter: &str) -> FilteredScan {
        FilteredScan {
            schema: "public".into(),
            table: "places".into(),
            alias: "p".into(),
            filter: filter.into(),
        }
    }

    #[test]
    fn equality_then_range_make_a_btree() {
        let s = scan("((p.price > $2) AND ((p.cat)::text = $1))");
        assert_eq!(
            suggest(&s, &cols()),
            vec![(Method::Btree, vec!["cat".to_string(), "price".to_string()])]
        );
        let s = scan("(p.cat = ANY ($1))");
        assert_eq!(
            suggest(&s, &cols()),
            vec![(Method::Btree, vec!["cat".to_string()])]
        );
    }

    #[test]
    fn spatial_predicates_make_a_gist() {
        let s = scan("st_dwithin(p.geom, st_setsrid(st_makepoint($1, $2), $3), $4)");
        assert_eq!(
            suggest(&s, &cols()),
            vec![(Method::Gist, vec!["geom".to_string()])]
        );
        let s = scan("((p.geom && $1) AND (p.cat = $2))");
        assert_eq!(
            suggest(&s, &cols()),
            vec![
                (Method::Gist, vec!["geom".to_string()]),
                (Method::Btree, vec!["cat".to_string()])
            ]
        );
    }

    #[test]
    fn joins_ors_and_functions_of_a_column_give_nothing() {
        assert!(suggest(&scan("(p.cat = p.id::text)"), &cols()).is_empty());
        assert!(suggest(&scan("((p.cat = $1) OR (p.price > $2))"), &cols()).is_empty());
        assert!(suggest(&scan("(lower(p.cat) = $1)"), &cols()).is_empty());
        assert!(suggest(&scan("(q.cat = $1)"), &cols()).is_empty());
    }

    #[test]
    fn plans_give_their_filtered_scans_costs_and_indexes() {
        let plan: Value = serde_json::from_str(
            r#"[{"Plan": {"Node Type": "Aggregate", "Total Cost": 4167.51, "Plans": [
              {"Node Type": "Seq Scan", "Schema": "public", "Relation Name": "places",
               "Alias": "p", "Filter": "(p.cat = $1)"},
              {"Node Type": "Index Scan", "Index Name": "<1>btree_places_cat"}]}}]"#,
        )
        .unwrap();
        assert_eq!(total_cost(&plan), Some(4167.51));
        assert_eq!(filtered_scans(&plan)[0].filter, "(p.cat = $1)");
        assert_eq!(indexes_used(&plan), vec!["<1>btree_places_cat".to_string()]);
    }
}
