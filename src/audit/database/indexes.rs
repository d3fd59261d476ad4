//! Missing indexes, proven: the generic plan of each top query (PREPARE with
//! `plan_cache_mode = force_generic_plan`, so the plan does not hang on one constant) shows
//! its filtered sequential scans; each index that would serve one is tried — a B-tree as a
//! HypoPG hypothetical index, a GiST (which HypoPG 1.3 cannot simulate) on a session-private
//! copy of the table — and counts as missing when the planner picks it at a lower cost.
//! Everything runs in a transaction that is rolled back.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::explain::{self, Column, Method};
use super::findings::{Table, TopQuery, MIN_ROWS};
use super::psql::{ident, literal, Psql, TAG};
use crate::audit::exec::Exec;

/// A table copied for a GiST trial is sampled down to about this many rows.
const COPY_MAX_ROWS: i64 = 2_000_000;
/// The hypothetical or trial index's name in the plan.
const PROBE: &str = "appstack_probe";

/// An index the workload misses, and the evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Suggestion {
    pub schema: String,
    pub table: String,
    pub method: Method,
    pub columns: Vec<String>,
    /// The statement that creates it (what `--apply-indexes` runs).
    pub create: String,
    /// The top query whose plan asked for it.
    pub queryid: i64,
    pub query: String,
    pub proof: Option<Proof>,
    pub applied: Option<super::apply::Applied>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Suggestion {
    /// The planner chose the index and the plan got cheaper.
    pub fn proven(&self) -> bool {
        self.proof
            .as_ref()
            .is_some_and(|p| p.used && p.cost_after < p.cost_before)
    }

    pub fn index_name(&self) -> String {
        let kind = if self.method == Method::Gist {
            "_gist"
        } else {
            ""
        };
        format!("{}_{}{kind}_idx", self.table, self.columns.join("_"))
            .chars()
            .take(63)
            .collect()
    }
}

/// The planner's cost of the query without and with the index.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Proof {
    /// "hypopg", or "copy of N rows" for a trial on a private copy.
    pub how: String,
    pub cost_before: f64,
    pub cost_after: f64,
    pub used: bool,
}

/// A statement pg_stat_statements recorded that a plan can be asked for: one DML statement.
fn analyzable(query: &str) -> bool {
    let q = query.trim().trim_end_matches(';').to_lowercase();
    let kinds = ["select", "with", "update", "delete"];
    kinds.iter().any(|k| q.starts_with(k)) && !q.contains(';')
}

/// The highest `$N` of a normalized statement.
fn parameters(query: &str) -> usize {
    let mut max = 0;
    let mut rest = query;
    while let Some(i) = rest.find('$') {
        rest = &rest[i + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        max = max.max(digits.parse().unwrap_or(0));
    }
    max
}

/// The statements that open a trial session: a rolled-back transaction, generic plans and
/// a helper returning one plan as one line of JSON.
pub(super) fn opening(deadline: Instant) -> Vec<String> {
    let ms = deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .max(1000);
    vec![
        "BEGIN".into(),
        format!("SET LOCAL statement_timeout = {ms}"),
        "SET LOCAL plan_cache_mode = force_generic_plan".into(),
        format!("{TAG} CREATE FUNCTION pg_temp.appstack_explain(q text) RETURNS text LANGUAGE plpgsql AS $f$ DECLARE r json; BEGIN EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || q INTO r; RETURN r::jsonb::text; END $f$"),
    ]
}

/// PREPARE the statement and print its generic plan.
pub(super) fn explain_steps(query: &str) -> Vec<String> {
    let args = vec!["NULL"; parameters(query)].join(", ");
    let exec = if args.is_empty() {
        "EXECUTE appstack_q".to_string()
    } else {
        format!("EXECUTE appstack_q({args})")
    };
    vec![
        format!("PREPARE appstack_q AS {query}"),
        format!("SELECT pg_temp.appstack_explain({})", literal(&exec)),
        "DEALLOCATE appstack_q".into(),
    ]
}

fn parse_plan(line: Option<&String>) -> Result<serde_json::Value, String> {
    let line = line.ok_or("no plan printed")?;
    serde_json::from_str(line).map_err(|e| format!("plan: {e}"))
}

/// The suggestions of every top query, deduplicated, each tried; `apply` creates the
/// proven ones concurrently and measures them again.
pub async fn missing<X: Exec>(
    psql: &Psql<'_, X>,
    top: &[TopQuery],
    tables: &[Table],
    deadline: Instant,
) -> (Vec<Suggestion>, Vec<String>) {
    let (mut out, mut errors) = (Vec::<Suggestion>::new(), Vec::new());
    if let Err(e) = psql
        .session(&["CREATE EXTENSION IF NOT EXISTS hypopg".to_string()])
        .await
    {
        errors.push(format!("hypopg: {e}"));
    }
    for q in top.iter().filter(|q| analyzable(&q.query)) {
        if Instant::now() >= deadline {
            errors.push("missing indexes: the time bound ran out".into());
            break;
        }
        match suggestions_of(psql, q, tables, deadline).await {
            Ok(found) => {
                for s in found {
                    let same = |o: &Suggestion| {
                        (&o.schema, &o.table, o.method, &o.columns)
                            == (&s.schema, &s.table, s.method, &s.columns)
                    };
                    if !out.iter().any(same) {
                        out.push(s);
                    }
                }
            }
            Err(e) => errors.push(format!("query {}: {e}", q.queryid)),
        }
    }
    for s in &mut out {
        if Instant::now() >= deadline {
            s.error = Some("not tried: the time bound ran out".into());
            continue;
        }
        match prove(psql, s, tables, deadline).await {
            Ok(p) => s.proof = Some(p),
            Err(e) => s.error = Some(e),
        }
    }
    (out, errors)
}

async fn suggestions_of<X: Exec>(
    psql: &Psql<'_, X>,
    q: &TopQuery,
    tables: &[Table],
    deadline: Instant,
) -> Result<Vec<Suggestion>, String> {
    let mut steps = opening(deadline);
    steps.extend(explain_steps(&q.query));
    steps.push("ROLLBACK".into());
    let lines = psql.session(&steps).await?;
    let plan = parse_plan(lines.first())?;
    let mut out = Vec::new();
    for scan in explain::filtered_scans(&plan) {
        let big = tables
            .iter()
            .any(|t| t.schema == scan.schema && t.name == scan.table && t.rows >= MIN_ROWS);
        if !big {
            continue;
        }
        let columns = columns_of(psql, &scan.schema, &scan.table).await?;
        for (method, cols) in explain::suggest(&scan, &columns) {
            if has_index(psql, &scan.schema, &scan.table, method, &cols[0]).await? {
                continue;
            }
            let create = format!(
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS {{name}} ON {}.{} USING {} ({})",
                ident(&scan.schema),
                ident(&scan.table),
                method.sql(),
                cols.iter().map(|c| ident(c)).collect::<Vec<_>>().join(", ")
            );
            let mut s = Suggestion {
                schema: scan.schema.clone(),
                table: scan.table.clone(),
                method,
                columns: cols,
                create,
                queryid: q.queryid,
                query: q.query.clone(),
                proof: None,
                applied: None,
                error: None,
            };
            s.create = s.create.replace("{name}", &ident(&s.index_name()));
            out.push(s);
        }
    }
    Ok(out)
}

async fn columns_of<X: Exec>(
    psql: &Psql<'_, X>,
    schema: &str,
    table: &str,
) -> Result<Vec<Column>, String> {
    let rows = psql
        .rows(&format!(
            "SELECT a.attname AS name, t.typname IN ('geometry', 'geography') AS spatial \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = ({})::regclass AND a.attnum > 0 AND NOT a.attisdropped",
            literal(&format!("{}.{}", ident(schema), ident(table)))
        ))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Column {
                name: r.get("name")?.as_str()?.to_string(),
                spatial: r.get("spatial")?.as_bool()?,
            })
        })
        .collect())
}

/// A valid index of this method already leads with this column: the planner declined it,
/// so another is not missing.
async fn has_index<X: Exec>(
    psql: &Psql<'_, X>,
    schema: &str,
    table: &str,
    method: Method,
    first: &str,
) -> Result<bool, String> {
    let rows = psql
        .rows(&format!(
            "SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             JOIN pg_am m ON m.oid = c.relam JOIN pg_attribute a \
             ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = ({})::regclass AND i.indisvalid AND m.amname = {} AND a.attname = {}",
            literal(&format!("{}.{}", ident(schema), ident(table))),
            literal(method.sql()),
            literal(first)
        ))
        .await?;
    Ok(!rows.is_empty())
}

/// The query's cost without and with the index, in one rolled-back session.
async fn prove<X: Exec>(
    psql: &Psql<'_, X>,
    s: &Suggestion,
    tables: &[Table],
    deadline: Instant,
) -> Result<Proof, String> {
    let cols = s
        .columns
        .iter()
        .map(|c| ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let mut steps = opening(deadline);
    let how = match s.method {
        Method::Btree => {
            steps.extend(explain_steps(&s.query));
            let create = format!(
                "CREATE INDEX {PROBE} ON {}.{} USING btree ({cols})",
                ident(&s.schema),
                ident(&s.table)
            );
            steps.push(format!(
                "SELECT indexname FROM hypopg_create_index({})",
                literal(&create)
            ));
            "hypopg".to_string()
        }
        Method::Gist => {
            let rows = tables
                .iter()
                .find(|t| t.schema == s.schema && t.name == s.table)
                .map_or(0, |t| t.rows);
            steps.extend(private_copy(s, rows));
            steps.extend(explain_steps(&s.query));
            steps.push(format!(
                "CREATE INDEX {PROBE} ON pg_temp.{} USING gist ({cols})",
                ident(&s.table)
            ));
            steps.push(format!("SELECT {}", literal(PROBE)));
            format!("copy of {} rows", rows.min(COPY_MAX_ROWS))
        }
    };
    steps.extend(explain_steps(&s.query));
    steps.push("ROLLBACK".into());
    let lines = psql.session(&steps).await?;
    let before = parse_plan(lines.first())?;
    let probe = lines.get(1).cloned().unwrap_or_default();
    let after = parse_plan(lines.get(2))?;
    if s.method == Method::Gist && !reads_copy(&before) {
        return Err(
            "the query names its schema: a private copy cannot stand in for the table".into(),
        );
    }
    Ok(Proof {
        how,
        cost_before: explain::total_cost(&before).ok_or("plan without a cost")?,
        cost_after: explain::total_cost(&after).ok_or("plan without a cost")?,
        used: explain::indexes_used(&after)
            .iter()
            .any(|n| n.contains(&probe)),
    })
}

/// A temporary table of the same name shadows the real one for unqualified names
/// (pg_temp comes first in the search path); sampled when the table is large.
fn private_copy(s: &Suggestion, rows: i64) -> Vec<String> {
    let sample = if rows > COPY_MAX_ROWS {
        format!(
            " TABLESAMPLE SYSTEM ({:.4})",
            100.0 * COPY_MAX_ROWS as f64 / rows as f64
        )
    } else {
        String::new()
    };
    vec![
        format!(
            "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT * FROM {}.{}{sample}",
            ident(&s.table),
            ident(&s.schema),
            ident(&s.table)
        ),
        format!("ANALYZE pg_temp.{}", ident(&s.table)),
    ]
}

fn reads_copy(plan: &serde_json::Value) -> bool {
    explain::filtered_scans(plan)
        .iter()
        .any(|scan| scan.schema.starts_with("pg_temp"))
}

/// How long `apply` waits for the workload to run a query again after its index.
pub fn settle_time(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .min(Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_single_dml_statements_are_planned() {
        assert!(analyzable("SELECT * FROM t WHERE a = $1"));
        assert!(analyzable("with x as (select 1) select * from x;"));
        assert!(!analyzable("SELECT 1; DROP TABLE t"));
        assert!(!analyzable("CREATE INDEX ON t (a)"));
        assert_eq!(parameters("SELECT $1, $12 FROM t WHERE a = $3"), 12);
        assert_eq!(parameters("SELECT 1"), 0);
    }
}
