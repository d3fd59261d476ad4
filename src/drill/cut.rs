//! The counted cut: the drill's last marker row carries the exact row count of every table
//! of the source, taken in the marker's own transaction, so a copy restored to exactly that
//! transaction must hold exactly those counts.
//!
//! Exact means no write to a counted table may commit between the counts and the marker:
//! the cut takes SHARE locks on the tables first. It asks with NOWAIT and gives up at once
//! when a writer holds a table (the drill retries a moment later), so it never queues
//! behind the application or takes part in a deadlock; while it counts, writes to those
//! tables wait — for a few milliseconds on a small database, about as long as
//! `count(*)` takes on a large one.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::marker::{parse_micros, TABLE};

/// The application's tables (not the drill's own schema), in a fixed order.
const TABLES_FN: &str = r#"CREATE OR REPLACE FUNCTION appstack.drill_tables() RETURNS TABLE (s name, t name)
LANGUAGE sql STABLE AS $fn$
  SELECT ns.nspname, cl.relname FROM pg_class cl
  JOIN pg_namespace ns ON ns.oid = cl.relnamespace
  WHERE cl.relkind IN ('r', 'p') AND NOT cl.relispartition
    AND ns.nspname NOT IN ('pg_catalog', 'information_schema', 'appstack')
    AND ns.nspname NOT LIKE 'pg\_%'
  ORDER BY 1, 2
$fn$"#;

/// Every application table's exact row count.
const COUNTS_FN: &str = r#"CREATE OR REPLACE FUNCTION appstack.drill_counts() RETURNS jsonb
LANGUAGE plpgsql AS $fn$
DECLARE r record; n bigint; c jsonb := '{}'::jsonb;
BEGIN
  FOR r IN SELECT * FROM appstack.drill_tables() LOOP
    EXECUTE format('SELECT count(*) FROM %I.%I', r.s, r.t) INTO n;
    c := c || jsonb_build_object(r.s || '.' || r.t, n);
  END LOOP;
  RETURN c;
END $fn$"#;

/// The cut: SHARE locks (NOWAIT) on every application table, the counts, the marker row
/// with them; prints `<micros> <xid> <flush lsn>`, or `busy <table>` when a writer holds
/// a table (nothing is written then).
const CUT_FN: &str = r#"CREATE OR REPLACE FUNCTION appstack.drill_cut(p_drill text, p_seq integer) RETURNS text
LANGUAGE plpgsql AS $fn$
DECLARE r record; at timestamptz;
BEGIN
  FOR r IN SELECT * FROM appstack.drill_tables() LOOP
    BEGIN
      EXECUTE format('LOCK TABLE %I.%I IN SHARE MODE NOWAIT', r.s, r.t);
    EXCEPTION WHEN lock_not_available THEN
      RETURN 'busy ' || r.s || '.' || r.t;
    END;
  END LOOP;
  INSERT INTO appstack.drill_marker (drill, seq, counts)
    VALUES (p_drill, p_seq, appstack.drill_counts()) RETURNING drill_marker.at INTO at;
  RETURN (extract(epoch FROM at) * 1000000)::bigint::text || ' ' || txid_current()::text;
END $fn$"#;

/// What prepares the cut in the source (after the marker table exists).
pub fn prepare_sql() -> Vec<String> {
    vec![
        format!("ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS counts jsonb"),
        TABLES_FN.to_string(),
        COUNTS_FN.to_string(),
        CUT_FN.to_string(),
    ]
}

/// Takes the cut as marker `seq` of `drill`.
pub fn cut_sql(drill: &str, seq: u32) -> String {
    format!("SELECT appstack.drill_cut('{drill}', {seq})")
}

/// The source's WAL file once the cut committed (its commit record is in it).
pub const CUT_FILE_SQL: &str = "SELECT pg_walfile_name(pg_current_wal_flush_lsn())";

/// A cut that was taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    pub at: DateTime<Utc>,
    pub xid: u64,
}

/// What [`cut_sql`] printed: the cut, or the table a writer held.
pub fn parse_cut(out: &str) -> Result<Cut, String> {
    let out = out.trim();
    if let Some(table) = out.strip_prefix("busy ") {
        return Err(table.to_string());
    }
    let parse = || {
        let (micros, xid) = out.split_once(' ')?;
        Some(Cut {
            at: parse_micros(micros)?,
            xid: xid.parse().ok()?,
        })
    };
    parse().ok_or_else(|| format!("unexpected cut output {out:?}"))
}

/// In the copy: the counts the cut marker of `drill` carries, then the copy's own.
pub fn compare_sql(drill: &str) -> String {
    format!(
        "SELECT coalesce((SELECT counts::text FROM {TABLE} WHERE drill = '{drill}' AND counts IS NOT NULL ORDER BY seq DESC LIMIT 1), '-') || E'\\n' || appstack.drill_counts()::text"
    )
}

/// Whether the copy's counts equal the cut's: the check's sentence, or the differences.
pub fn judge_counts(out: &str) -> Result<String, String> {
    let (at_cut, now) = out
        .split_once('\n')
        .ok_or_else(|| format!("unexpected counts output {out:?}"))?;
    if at_cut.trim() == "-" {
        return Err("the copy holds no counted cut marker".into());
    }
    let parse = |s: &str| serde_json::from_str::<BTreeMap<String, i64>>(s.trim());
    let (at_cut, now) = match (parse(at_cut), parse(now)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Err(format!("unexpected counts output {out:?}")),
    };
    let differ: Vec<String> = at_cut
        .iter()
        .filter_map(|(t, n)| match now.get(t) {
            Some(m) if m == n => None,
            Some(m) => Some(format!("{t}: {m} rows, {n} at the cut")),
            None => Some(format!("{t}: missing, {n} rows at the cut")),
        })
        .collect();
    if differ.is_empty() {
        let rows: i64 = at_cut.values().sum();
        Ok(format!(
            "row counts of all {} table(s) ({rows} rows) equal the source's at the cut",
            at_cut.len()
        ))
    } else {
        Err(format!(
            "row counts differ from the source's at the cut: {}",
            differ.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_outputs_and_count_comparisons_parse() {
        let cut = parse_cut("1795500000123456 7741").unwrap();
        assert_eq!(
            (cut.at.timestamp_micros(), cut.xid),
            (1_795_500_000_123_456, 7741)
        );
        assert_eq!(parse_cut("busy public.orders"), Err("public.orders".into()));
        assert!(parse_cut("nonsense").is_err());
        let same =
            judge_counts("{\"public.a\": 3, \"public.b\": 0}\n{\"public.a\": 3, \"public.b\": 0}");
        assert_eq!(
            same,
            Ok("row counts of all 2 table(s) (3 rows) equal the source's at the cut".into())
        );
        let differ = judge_counts("{\"public.a\": 3}\n{\"public.a\": 5}").unwrap_err();
        assert!(
            differ.contains("public.a: 5 rows, 3 at the cut"),
            "{differ}"
        );
        assert!(judge_counts("-\n{}")
            .unwrap_err()
            .contains("no counted cut"));
        assert!(cut_sql("drill-x", 4).contains("drill_cut('drill-x', 4)"));
    }
}
