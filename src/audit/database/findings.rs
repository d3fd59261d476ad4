//! What the database's own statistics say: the largest tables, the tables read mostly by
//! sequential scans, the top queries by total time, unused and duplicate indexes, the cache
//! hit ratio and the connections against `max_connections`.

use serde::{Deserialize, Serialize};

use super::psql::Psql;
use crate::audit::exec::Exec;

/// Tables below this many rows are read whole cheaply; their scans are no finding.
pub const MIN_ROWS: i64 = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub rows: i64,
    pub data_bytes: i64,
    pub index_bytes: i64,
    pub seq_scans: i64,
    pub index_scans: i64,
    pub seq_rows_read: i64,
}

impl Table {
    /// Read mostly by sequential scans, and big enough for that to cost.
    pub fn mostly_sequential(&self) -> bool {
        self.rows >= MIN_ROWS && self.seq_scans > self.index_scans
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopQuery {
    pub queryid: i64,
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
    pub rows: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndexFinding {
    pub schema: String,
    pub table: String,
    pub index: String,
    pub bytes: i64,
    /// For a duplicate: the index that already serves its reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covered_by: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connections {
    pub used: i64,
    pub active: i64,
    pub idle: i64,
    pub max: i64,
}

/// The database's findings; a query that failed leaves its part empty and says why.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Findings {
    pub tables: Vec<Table>,
    pub top_queries: Vec<TopQuery>,
    pub unused_indexes: Vec<IndexFinding>,
    pub duplicate_indexes: Vec<IndexFinding>,
    /// Share of block reads served from shared buffers, 0–1.
    pub cache_hit_ratio: Option<f64>,
    pub connections: Option<Connections>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

const TABLES: &str = "SELECT n.nspname AS schema, c.relname AS name, \
  greatest(c.reltuples, 0)::bigint AS rows, pg_table_size(c.oid) AS \"dataBytes\", \
  pg_indexes_size(c.oid) AS \"indexBytes\", coalesce(s.seq_scan, 0) AS \"seqScans\", \
  coalesce(s.idx_scan, 0) AS \"indexScans\", coalesce(s.seq_tup_read, 0) AS \"seqRowsRead\" \
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
  LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid \
  WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
  AND n.nspname !~ '^pg_toast' ORDER BY pg_total_relation_size(c.oid) DESC LIMIT 15";

/// The workload's statements only: the audit's own (tagged) and the catalogs' are left out.
pub const TOP_QUERIES: &str = "SELECT queryid, query, calls, total_exec_time AS \"totalMs\", \
  mean_exec_time AS \"meanMs\", rows FROM pg_stat_statements \
  WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
  AND toplevel AND query ~* '^\\s*(select|insert|update|delete|with)\\M' AND query !~ 'appstack-audit' AND query !~* '(pg_catalog|pg_stat|information_schema)' \
  ORDER BY total_exec_time DESC LIMIT 10";

const UNUSED: &str = "SELECT s.schemaname AS schema, s.relname AS table, s.indexrelname AS index, \
  pg_relation_size(s.indexrelid) AS bytes FROM pg_stat_user_indexes s \
  JOIN pg_index i ON i.indexrelid = s.indexrelid \
  WHERE s.idx_scan = 0 AND NOT i.indisunique AND NOT i.indisprimary \
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = s.indexrelid) \
  ORDER BY bytes DESC LIMIT 20";

/// An index whose key columns (same operator classes, no expression or predicate) are a
/// leading part of another index's on the same table: the other serves its reads.
const DUPLICATES: &str = "SELECT n.nspname AS schema, t.relname AS table, a.relname AS index, \
  pg_relation_size(a.oid) AS bytes, min(b.relname) AS \"coveredBy\" \
  FROM pg_index ia JOIN pg_index ib ON ia.indrelid = ib.indrelid AND ia.indexrelid <> ib.indexrelid \
  JOIN pg_class a ON a.oid = ia.indexrelid JOIN pg_class b ON b.oid = ib.indexrelid \
  JOIN pg_class t ON t.oid = ia.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
  WHERE a.relam = b.relam AND ia.indexprs IS NULL AND ib.indexprs IS NULL \
  AND ia.indpred IS NULL AND ib.indpred IS NULL AND NOT ia.indisunique AND NOT ia.indisprimary \
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
  AND (ia.indkey::int2[])[0:ia.indnkeyatts - 1] = (ib.indkey::int2[])[0:ia.indnkeyatts - 1] \
  AND (ia.indclass::oid[])[0:ia.indnkeyatts - 1] = (ib.indclass::oid[])[0:ia.indnkeyatts - 1] \
  AND (ia.indnkeyatts < ib.indnkeyatts OR (ia.indnkeyatts = ib.indnkeyatts AND ia.indexrelid > ib.indexrelid)) \
  GROUP BY n.nspname, t.relname, a.relname, a.oid ORDER BY bytes DESC";

const CACHE: &str = "SELECT CASE WHEN blks_hit + blks_read = 0 THEN NULL \
  ELSE blks_hit::float8 / (blks_hit + blks_read) END AS ratio \
  FROM pg_stat_database WHERE datname = current_database()";

const CONNECTIONS: &str =
    "SELECT count(*) AS used, count(*) FILTER (WHERE state = 'active') AS active, \
  count(*) FILTER (WHERE state LIKE 'idle%') AS idle, \
  current_setting('max_connections')::bigint AS max \
  FROM pg_stat_activity WHERE backend_type = 'client backend'";

/// Reads every finding; `pg_stat_statements` is created first when missing (the image
/// preloads it).
pub async fn read<X: Exec>(psql: &Psql<'_, X>) -> Findings {
    let mut f = Findings::default();
    if let Err(e) = psql
        .session(&["CREATE EXTENSION IF NOT EXISTS pg_stat_statements".to_string()])
        .await
    {
        f.errors.push(format!("pg_stat_statements: {e}"));
    }
    f.tables = part(psql, TABLES, "tables", &mut f.errors).await;
    f.top_queries = part(psql, TOP_QUERIES, "top queries", &mut f.errors).await;
    f.unused_indexes = part(psql, UNUSED, "unused indexes", &mut f.errors).await;
    f.duplicate_indexes = part(psql, DUPLICATES, "duplicate indexes", &mut f.errors).await;
    let cache: Vec<Ratio> = part(psql, CACHE, "cache hit ratio", &mut f.errors).await;
    f.cache_hit_ratio = cache.first().and_then(|r| r.ratio);
    let conns: Vec<Connections> = part(psql, CONNECTIONS, "connections", &mut f.errors).await;
    f.connections = conns.into_iter().next();
    f
}

#[derive(Deserialize)]
struct Ratio {
    ratio: Option<f64>,
}

async fn part<X: Exec, T: serde::de::DeserializeOwned>(
    psql: &Psql<'_, X>,
    query: &str,
    what: &str,
    errors: &mut Vec<String>,
) -> Vec<T> {
    let rows = match psql.rows(query).await {
        Ok(rows) => rows,
        Err(e) => {
            errors.push(format!("{what}: {e}"));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for row in rows {
        match serde_json::from_value(row) {
            Ok(v) => out.push(v),
            Err(e) => {
                errors.push(format!("{what}: {e}"));
                break;
            }
        }
    }
    out
}
