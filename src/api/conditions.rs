//! The one conditions helper: transition time moves only when a condition's status changes.

use chrono::{DateTime, SecondsFormat, Utc};

use super::status::Condition;

/// Source of "now", injected so tests can pin time.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// What a reconcile concluded about one condition type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation<'a> {
    pub type_: &'a str,
    /// True, false, or None for "Unknown" (not observed yet).
    pub status: Option<bool>,
    pub reason: &'a str,
    pub message: String,
}

/// Sets `obs` into `conditions`, keeping `lastTransitionTime` when the status is unchanged.
/// Returns true when anything changed.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    obs: Observation<'_>,
    generation: Option<i64>,
    clock: &dyn Clock,
) -> bool {
    let status = match obs.status {
        Some(true) => "True",
        Some(false) => "False",
        None => "Unknown",
    }
    .to_string();
    let now = clock.now().to_rfc3339_opts(SecondsFormat::Secs, true);
    match conditions.iter_mut().find(|c| c.type_ == obs.type_) {
        Some(existing) => {
            let next = Condition {
                type_: existing.type_.clone(),
                last_transition_time: if existing.status == status {
                    existing.last_transition_time.clone()
                } else {
                    now
                },
                status,
                reason: obs.reason.to_string(),
                message: obs.message,
                observed_generation: generation,
            };
            let changed = *existing != next;
            *existing = next;
            changed
        }
        None => {
            conditions.push(Condition {
                type_: obs.type_.to_string(),
                status,
                reason: obs.reason.to_string(),
                message: obs.message,
                last_transition_time: now,
                observed_generation: generation,
            });
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::sync::Mutex;

    struct FixedClock(Mutex<DateTime<Utc>>);
    impl Clock for FixedClock {
        fn now(&self) -> DateTime<Utc> {
            *self.0.lock().unwrap()
        }
    }

    fn obs(status: bool, message: &str) -> Observation<'static> {
        Observation {
            type_: "Ready",
            status: Some(status),
            reason: if status { "AllHealthy" } else { "Unhealthy" },
            message: message.into(),
        }
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let clock = FixedClock(Mutex::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        let mut conds = Vec::new();
        assert!(set_condition(&mut conds, obs(true, "ok"), Some(1), &clock));
        *clock.0.lock().unwrap() = Utc.with_ymd_and_hms(2026, 1, 1, 1, 0, 0).unwrap();
        assert!(!set_condition(&mut conds, obs(true, "ok"), Some(1), &clock));
        assert!(set_condition(
            &mut conds,
            obs(true, "still ok"),
            Some(2),
            &clock
        ));
        assert_eq!(conds[0].last_transition_time, "2026-01-01T00:00:00Z");
        assert!(set_condition(
            &mut conds,
            obs(false, "db down"),
            Some(2),
            &clock
        ));
        assert_eq!(conds[0].last_transition_time, "2026-01-01T01:00:00Z");
        assert_eq!(conds[0].status, "False");
        assert_eq!(conds.len(), 1);
    }
}
