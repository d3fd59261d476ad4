//! Backup and drill schedules: when each runs next, its period, and whether a schedule is
//! *missing* (no success within 1.5× its period), which is worse news than a failure.

use std::str::FromStr;

use chrono::{DateTime, Duration, Local, Utc};
use croner::Cron;

use super::manifest::Kind;

/// A cron expression and what follows from it: next runs, the period, "missing".
#[derive(Debug, Clone)]
pub struct Cadence {
    pub expression: String,
    cron: Cron,
}

impl Cadence {
    /// Parses a 5-field cron expression (validated with the spec already).
    pub fn new(expression: &str) -> Option<Self> {
        Cron::from_str(expression).ok().map(|cron| Self {
            expression: expression.to_string(),
            cron,
        })
    }

    /// The first run strictly after `after` (cron is read in the server's local time).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = after.with_timezone(&Local);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The gap between two consecutive runs following `at`.
    pub fn period(&self, at: DateTime<Utc>) -> Option<Duration> {
        let first = self.next_after(at)?;
        let second = self.next_after(first)?;
        Some(second - first)
    }

    /// True when no success happened within 1.5× the period. `since` is the last success,
    /// or when watching started if there was none.
    pub fn missing(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        match self.period(since) {
            Some(p) => now - since > p + p / 2,
            None => false,
        }
    }
}

/// One scheduled backup kind.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub kind: Kind,
    pub cadence: Cadence,
}

impl Schedule {
    pub fn new(kind: Kind, expression: &str) -> Option<Self> {
        Cadence::new(expression).map(|cadence| Self { kind, cadence })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn next_period_and_missing() {
        let s = Schedule::new(Kind::Base, "0 2 * * *").unwrap().cadence;
        let now = Local
            .with_ymd_and_hms(2026, 11, 23, 1, 0, 0)
            .unwrap()
            .with_timezone(&Utc);
        let next = s.next_after(now).unwrap().with_timezone(&Local);
        assert_eq!(
            (next.day(), next.format("%H:%M").to_string()),
            (23, "02:00".to_string())
        );
        assert_eq!(s.period(now), Some(Duration::days(1)));
        assert!(!s.missing(now, now + Duration::hours(35)));
        assert!(s.missing(now, now + Duration::hours(37)));
        let every_minute = Cadence::new("* * * * *").unwrap();
        assert_eq!(every_minute.period(now), Some(Duration::minutes(1)));
        assert!(Schedule::new(Kind::Dump, "not cron").is_none());
    }

    use chrono::Datelike;
}
