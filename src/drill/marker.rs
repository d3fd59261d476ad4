//! Marker rows: how a drill knows what the restored copy lost. Before the cut the drill
//! writes one row a second for a warm-up (so the WAL stream carries recent commits even on
//! an idle database) and a last row, the cut marker, whose commit is the source's newest
//! transaction "at the moment of the drill". In the copy, the newest commit that WAL
//! replay applied (`pg_last_xact_replay_timestamp()`, static after promotion) and the
//! newest marker found tell the newest transaction present; RPO is the difference.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// Schema and table of the markers in the stack's own database.
pub const TABLE: &str = "appstack.drill_marker";

/// Creates the table when missing and keeps only the current drill's rows (the table
/// never grows past one drill).
pub fn prepare_sql(drill: &str) -> Vec<String> {
    vec![
        "CREATE SCHEMA IF NOT EXISTS appstack".into(),
        format!(
            "CREATE TABLE IF NOT EXISTS {TABLE} (drill text NOT NULL, seq integer NOT NULL, \
             at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (drill, seq))"
        ),
        format!("DELETE FROM {TABLE} WHERE drill <> '{drill}'"),
    ]
}

/// Inserts marker `seq` (its own transaction) and returns its time in microseconds (as a
/// SELECT: psql prints no command tag after it).
pub fn insert_sql(drill: &str, seq: u32) -> String {
    format!(
        "WITH m AS (INSERT INTO {TABLE} (drill, seq) VALUES ('{drill}', {seq}) RETURNING at) \
         SELECT (extract(epoch FROM at) * 1000000)::bigint FROM m"
    )
}

/// In the restored copy: the newest replayed commit, then whether the table exists.
pub const REPLAYED_SQL: &str = "SELECT coalesce((extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000000)::bigint::text, '-') || ' ' || (to_regclass('appstack.drill_marker') IS NOT NULL)::text";

/// In the restored copy (the table exists): the newest marker of `drill` and its time.
pub fn found_sql(drill: &str) -> String {
    format!(
        "SELECT coalesce(max(seq)::text, '-') || ' ' || coalesce((extract(epoch FROM max(at)) * 1000000)::bigint::text, '-') FROM {TABLE} WHERE drill = '{drill}'"
    )
}

/// Microseconds since the epoch, as `RETURNING`/`SELECT` print them.
pub fn parse_micros(s: &str) -> Option<DateTime<Utc>> {
    let us: i64 = s.trim().parse().ok()?;
    DateTime::from_timestamp_micros(us)
}

/// `"<micros|-> <true|false>"` from [`REPLAYED_SQL`].
pub fn parse_replayed(s: &str) -> Option<(Option<DateTime<Utc>>, bool)> {
    let (ts, table) = s.trim().split_once(' ')?;
    let ts = if ts == "-" {
        None
    } else {
        Some(parse_micros(ts)?)
    };
    Some((ts, table == "true"))
}

/// `"<seq|-> <micros|->"` from [`found_sql`].
pub fn parse_found(s: &str) -> Option<Option<(u32, DateTime<Utc>)>> {
    let (seq, at) = s.trim().split_once(' ')?;
    if seq == "-" {
        return Some(None);
    }
    Some(Some((seq.parse().ok()?, parse_micros(at)?)))
}

/// How long to write warm-up markers: four shipping periods (and at least 5 s, which
/// covers the receiver's own flush delay), so the stream carries commits the shipper has
/// had every chance to ship and the measured gap is the pipeline's lag, not the database's
/// idle time; bounded so a drill does not idle for minutes.
pub fn warm_up(ship_interval: Option<Duration>) -> Duration {
    match ship_interval {
        Some(i) => (i * 4).clamp(Duration::from_secs(5), Duration::from_secs(60)),
        None => Duration::ZERO,
    }
}

/// What the copy holds of the source's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Present {
    /// Commit time of the newest transaction WAL replay applied.
    pub replayed: Option<DateTime<Utc>>,
    /// The newest marker of this drill in the copy, and its time.
    pub marker: Option<(u32, DateTime<Utc>)>,
    /// When the restored base backup finished (the floor when nothing was replayed).
    pub base_finished: DateTime<Utc>,
}

impl Present {
    /// The newest transaction of the source present in the copy.
    pub fn newest(&self) -> DateTime<Utc> {
        [self.replayed, self.marker.map(|(_, t)| t)]
            .into_iter()
            .flatten()
            .chain([self.base_finished])
            .max()
            .unwrap_or(self.base_finished)
    }
}

/// RPO: the source's newest commit at the cut minus the newest one present in the copy;
/// never negative (a copy holding the cut marker lost nothing).
pub fn rpo(cut_marker: DateTime<Utc>, present: &Present) -> Duration {
    (cut_marker - present.newest()).to_std().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn rpo_is_the_gap_to_the_newest_present_commit() {
        let base = t("2026-11-24T09:00:00Z");
        let cut = t("2026-11-24T10:00:10.500Z");
        let lost_tail = Present {
            replayed: Some(t("2026-11-24T10:00:07.250Z")),
            marker: Some((5, t("2026-11-24T10:00:07.250Z"))),
            base_finished: base,
        };
        assert_eq!(rpo(cut, &lost_tail), Duration::from_millis(3250));
        let everything = Present {
            replayed: Some(t("2026-11-24T10:00:10.600Z")),
            marker: Some((9, cut)),
            base_finished: base,
        };
        assert_eq!(rpo(cut, &everything), Duration::ZERO);
        // No WAL replayed: the base backup is all the copy holds.
        let base_only = Present {
            replayed: None,
            marker: None,
            base_finished: base,
        };
        assert_eq!(rpo(cut, &base_only), Duration::from_millis(3_610_500));
    }

    #[test]
    fn query_outputs_parse() {
        let (ts, table) = parse_replayed("1795500000123456 true").unwrap();
        assert_eq!(ts.unwrap().timestamp_micros(), 1_795_500_000_123_456);
        assert!(table);
        assert_eq!(parse_replayed("- false").unwrap(), (None, false));
        assert_eq!(parse_found("- -").unwrap(), None);
        let (seq, at) = parse_found("7 1795500000000000").unwrap().unwrap();
        assert_eq!((seq, at.timestamp()), (7, 1_795_500_000));
        assert!(parse_found("garbage").is_none());
    }

    #[test]
    fn warm_up_spans_four_shipping_periods_within_bounds() {
        assert_eq!(warm_up(None), Duration::ZERO);
        assert_eq!(
            warm_up(Some(Duration::from_millis(500))),
            Duration::from_secs(5)
        );
        assert_eq!(
            warm_up(Some(Duration::from_secs(5))),
            Duration::from_secs(20)
        );
        assert_eq!(
            warm_up(Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn sql_names_only_the_drill() {
        let id = "drill-20261124T100000.000Z";
        assert!(prepare_sql(id)[2].contains(&format!("drill <> '{id}'")));
        assert!(insert_sql(id, 3).contains(&format!("('{id}', 3)")));
        assert!(found_sql(id).contains(&format!("drill = '{id}'")));
    }
}
