//! When to restart an unhealthy container: exponential backoff between restarts and flap
//! damping (too many restarts in a window → stop and report, rather than thrash).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Restart policy for unhealthy containers.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub window: Duration,
    pub max_in_window: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(300),
            window: Duration::from_secs(1800),
            max_in_window: 5,
        }
    }
}

/// What to do about an unhealthy container now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Restart,
    /// Too soon after the previous restart; try again at the given instant.
    Wait(Instant),
    /// Restarted too often in the window: leave it and report it as flapping.
    Flapping,
}

/// Restart history of one component.
#[derive(Debug, Default, Clone)]
pub struct History {
    restarts: VecDeque<Instant>,
    pub total: u32,
}

impl History {
    pub fn decide(&mut self, policy: &Policy, now: Instant) -> Decision {
        while self
            .restarts
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.window)
        {
            self.restarts.pop_front();
        }
        if self.restarts.len() >= policy.max_in_window {
            return Decision::Flapping;
        }
        if let Some(last) = self.restarts.back() {
            let exp = u32::try_from(self.restarts.len().saturating_sub(1))
                .unwrap_or(u32::MAX)
                .min(16);
            let backoff = policy
                .initial_backoff
                .saturating_mul(1 << exp)
                .min(policy.max_backoff);
            let at = *last + backoff;
            if now < at {
                return Decision::Wait(at);
            }
        }
        Decision::Restart
    }

    pub fn record(&mut self, now: Instant) {
        self.restarts.push_back(now);
        self.total += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_then_flapping() {
        let p = Policy {
            initial_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(60),
            window: Duration::from_secs(600),
            max_in_window: 3,
        };
        let t0 = Instant::now();
        let mut h = History::default();
        assert_eq!(h.decide(&p, t0), Decision::Restart);
        h.record(t0);
        assert_eq!(
            h.decide(&p, t0 + Duration::from_secs(1)),
            Decision::Wait(t0 + Duration::from_secs(10))
        );
        assert_eq!(
            h.decide(&p, t0 + Duration::from_secs(10)),
            Decision::Restart
        );
        h.record(t0 + Duration::from_secs(10));
        // Second gap doubles.
        assert_eq!(
            h.decide(&p, t0 + Duration::from_secs(20)),
            Decision::Wait(t0 + Duration::from_secs(30))
        );
        h.record(t0 + Duration::from_secs(30));
        assert_eq!(
            h.decide(&p, t0 + Duration::from_secs(100)),
            Decision::Flapping
        );
        // Once the window has passed, restarts resume.
        assert_eq!(
            h.decide(&p, t0 + Duration::from_secs(700)),
            Decision::Restart
        );
        assert_eq!(h.total, 3);
    }
}
