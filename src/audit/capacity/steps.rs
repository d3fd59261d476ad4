//! The stepped load of a mix of routes: a short probe without think time finds the most it
//! serves; then steps of virtual users thinking a second between requests (closed model)
//! offer 20 % to 120 % of it. Each step is sampled for every component's CPU and memory
//! (cgroups), the host's CPU and the database's connections. Latencies are corrected for
//! coordinated omission (a response slower than the think time counts the requests the
//! user would have sent).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::database::psql::{Psql, TAG};
use crate::audit::exec::Exec;
use crate::audit::usage::{ComponentUsage, Sampler};
use crate::load::{Endpoint, Load, Pace, Route, Stats};

/// The probe's user counts (no think time): enough concurrency to saturate a small stack.
const PROBE_USERS: [u32; 3] = [1, 4, 16];
/// The think time of the curve's users.
pub const THINK: Duration = Duration::from_secs(1);
/// The curve's offered load, as shares of the probe's best throughput.
const OFFERED: [f64; 6] = [0.2, 0.4, 0.6, 0.8, 1.0, 1.2];
/// A step bound for any one run of users.
const MAX_USERS: f64 = 5000.0;
/// A step whose failures pass this share ends the curve.
const MAX_FAILED: f64 = 0.05;

/// What a scenario sends: pages alone, or pages and the CMS API; each user picks every
/// request from the routes by weight.
#[derive(Clone)]
pub struct Mix {
    pub name: &'static str,
    pub endpoint: Endpoint,
    pub routes: Vec<Route>,
}

/// One step's figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub users: u32,
    pub think_ms: f64,
    pub seconds: f64,
    pub sent: u64,
    pub failed: u64,
    pub rps: f64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The stack's containers' CPU, summed (the load generator's own is not in it).
    pub stack_cpu_cores: f64,
    /// The whole host's, the generator's included.
    pub host_cpu_percent: f64,
    pub stack_memory_bytes: u64,
    pub components: Vec<ComponentUsage>,
    pub db_connections: Option<i64>,
}

/// Runs the mix with `users` (think `think`) for `duration`.
pub async fn run_mix(mix: &Mix, users: u32, think: Duration, duration: Duration) -> Stats {
    let load = Load {
        endpoint: mix.endpoint.clone(),
        routes: mix.routes.clone(),
        pace: Pace::Closed { users, think },
        duration,
        max_requests: 1_000_000,
    };
    crate::load::run(&load).await
}

/// The host's (busy, total) jiffies.
fn host_times() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    crate::audit::host::cpu_times(&stat).unwrap_or_default()
}

/// One step: the load, and the samples around it.
pub async fn step<X: Exec>(
    mix: &Mix,
    users: u32,
    think: Duration,
    duration: Duration,
    sampler: &Sampler,
    psql: Option<&Psql<'_, X>>,
) -> Step {
    let (snap, host) = (sampler.snapshot(), host_times());
    let connections = async {
        tokio::time::sleep(duration / 2).await;
        match psql {
            Some(p) => p
                .rows(&format!(
                    "{TAG} SELECT count(*) AS n FROM pg_stat_activity WHERE backend_type = 'client backend'"
                ))
                .await
                .ok()
                .and_then(|r| r.first().and_then(|x| x.get("n")).and_then(|n| n.as_i64())),
            None => None,
        }
    };
    let (stats, db_connections) = tokio::join!(run_mix(mix, users, think, duration), connections);
    let components = sampler.between(&snap, &sampler.snapshot());
    let host_cpu_percent = crate::audit::host::busy_percent(host, host_times());
    Step {
        users,
        think_ms: think.as_secs_f64() * 1000.0,
        seconds: stats.elapsed.as_secs_f64(),
        sent: stats.sent,
        failed: stats.failed,
        rps: stats.rps(),
        mean_ms: stats.latency.mean() / 1000.0,
        p50_ms: stats.quantile_ms(0.50),
        p95_ms: stats.quantile_ms(0.95),
        p99_ms: stats.quantile_ms(0.99),
        stack_cpu_cores: components.iter().map(|c| c.cpu_cores).sum(),
        host_cpu_percent,
        stack_memory_bytes: components.iter().map(|c| c.memory_bytes).sum(),
        components,
        db_connections,
    }
}

/// The probe: 1, 4 and 16 users without think time, `step_time` each.
pub async fn probe<X: Exec>(
    mix: &Mix,
    step_time: Duration,
    until: Instant,
    sampler: &Sampler,
    psql: Option<&Psql<'_, X>>,
) -> Vec<Step> {
    let mut out = Vec::new();
    for users in PROBE_USERS {
        if Instant::now() + step_time > until {
            break;
        }
        out.push(step(mix, users, Duration::ZERO, step_time, sampler, psql).await);
    }
    out
}

/// Requests a step at a row's rate aims at: the p95 of a thousand answers from this kind
/// of stack still moves by a sixth between runs of one load.
const ROW_REQUESTS: f64 = 1500.0;
const ROW_TIME: (Duration, Duration) = (Duration::from_secs(8), Duration::from_secs(30));
/// The knee's steps only need the shape of the rise.
const KNEE_REQUESTS: f64 = 600.0;
const KNEE_TIME: (Duration, Duration) = (Duration::from_secs(3), Duration::from_secs(12));
/// Rates closer than this share to one already stepped add no step of their own.
const SAME_RATE: f64 = 0.1;
/// Past this share of the best throughput a rate is covered by the knee's steps.
const NEAR_BEST: f64 = 0.9;
/// Waited after saturating runs (the probe's, a curve's last steps), so work still queued
/// in the stack does not spill into the next measurement.
pub const SETTLE: Duration = Duration::from_secs(2);
/// What a step costs besides its load: the samples read around it.
const STEP_GAP: Duration = Duration::from_millis(300);

/// A step to run: its users (thinking [`THINK`]) and how long it would like to run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planned {
    pub users: u32,
    pub time: Duration,
}

/// The rates (requests/s) a curve steps through, each marked when a row runs there: each
/// rate a row of the table runs at (`wanted`: its users over their think time) below the
/// best, so a row reads its p95 off a step measured where it runs rather than off a line
/// drawn from further away; and 60 % … 120 % of `best` for the knee and saturation.
/// Without a wanted rate under half the best, 20 % and 40 % give the curve its light end.
pub fn step_rates(best: f64, wanted: &[f64]) -> Vec<(f64, bool)> {
    let mut picked: Vec<(f64, bool)> = wanted
        .iter()
        .copied()
        .filter(|r| r.is_finite() && *r > 0.0 && *r < NEAR_BEST * best)
        .map(|r| (r, true))
        .collect();
    let light = if picked.iter().any(|(r, _)| *r < 0.5 * best) {
        &OFFERED[2..]
    } else {
        &OFFERED[..]
    };
    picked.extend(light.iter().map(|share| (share * best, false)));
    picked.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut out: Vec<(f64, bool)> = Vec::new();
    for (rate, row) in picked {
        match out.last_mut() {
            Some(last) if rate <= last.0 * (1.0 + SAME_RATE) => {
                if row && !last.1 {
                    *last = (rate, row);
                }
            }
            _ => out.push((rate, row)),
        }
    }
    out
}

/// The steps for `rates`: users thinking a second offer each rate; a row's step runs
/// long enough for [`ROW_REQUESTS`], a knee's step for [`KNEE_REQUESTS`].
pub fn plan(rates: &[(f64, bool)]) -> Vec<Planned> {
    let mut out: Vec<Planned> = Vec::new();
    for &(rate, row) in rates {
        let users = (rate * THINK.as_secs_f64()).clamp(1.0, MAX_USERS).ceil() as u32;
        if out.last().is_some_and(|last| users <= last.users) {
            continue;
        }
        let offered = f64::from(users) / THINK.as_secs_f64();
        let (want, (lo, hi)) = if row {
            (ROW_REQUESTS, ROW_TIME)
        } else {
            (KNEE_REQUESTS, KNEE_TIME)
        };
        let time = Duration::from_secs_f64(want / offered.max(1e-3)).clamp(lo, hi);
        out.push(Planned { users, time });
    }
    out
}

/// What `curves` curves of `steps` steps in all take besides their steps' load.
pub fn overhead(curves: usize, steps: usize) -> Duration {
    SETTLE * curves as u32 + STEP_GAP * steps as u32
}

/// No step runs shorter: a shorter one holds too few answers to say anything.
pub const STEP_FLOOR: Duration = Duration::from_secs(2);

/// The factor that shortens every step so that all of them, none under
/// [`STEP_FLOOR`], take `room`: a step the factor would take under the floor keeps the
/// floor, and the others share what is left. 1 when everything fits.
pub fn fit_scale(times: &[Duration], room: Duration) -> f64 {
    let cost = |k: f64| -> f64 {
        times
            .iter()
            .map(|t| (t.as_secs_f64() * k).max(STEP_FLOOR.as_secs_f64()))
            .sum()
    };
    if cost(1.0) <= room.as_secs_f64() {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0, 1.0);
    for _ in 0..50 {
        let mid = (lo + hi) / 2.0;
        if cost(mid) <= room.as_secs_f64() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Runs the planned steps, each shortened by `scale` (see [`fit_scale`]), none past
/// `until`; stops early when a step's failures pass 5 %.
pub async fn curve<X: Exec>(
    mix: &Mix,
    planned: &[Planned],
    scale: f64,
    until: Instant,
    sampler: &Sampler,
    psql: Option<&Psql<'_, X>>,
) -> Vec<Step> {
    tokio::time::sleep(SETTLE).await;
    let mut steps: Vec<Step> = Vec::new();
    for p in planned {
        let time = p.time.mul_f64(scale).max(STEP_FLOOR);
        if Instant::now() + time > until {
            break;
        }
        let s = step(mix, p.users, THINK, time, sampler, psql).await;
        let failed_share = s.failed as f64 / (s.sent.max(1)) as f64;
        steps.push(s);
        if failed_share > MAX_FAILED {
            break;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rows_rates_get_steps_of_their_own() {
        // The heavy (3 s) and peak (1 s) rows at 50/100/200 users against 250 requests/s.
        let wanted = [16.7, 33.3, 66.7, 50.0, 100.0, 200.0];
        let rates = step_rates(250.0, &wanted);
        assert_eq!(
            rates,
            vec![
                (16.7, true),
                (33.3, true),
                (50.0, true),
                (66.7, true),
                (100.0, true),
                (150.0, false),
                (200.0, true),
                (250.0, false),
                (300.0, false)
            ]
        );
        let steps = plan(&rates);
        assert_eq!(steps.len(), 9);
        // A row's step runs for 1500 answers (8–30 s), a knee's for 600 (3–12 s).
        assert_eq!(steps[1].users, 34);
        assert_eq!(steps[0].time, Duration::from_secs(30));
        assert_eq!(steps[4].time, Duration::from_secs(15));
        assert_eq!(steps[5].time, Duration::from_secs(4));
    }

    #[test]
    fn without_light_rows_the_curve_starts_at_a_fifth() {
        let rates = step_rates(100.0, &[95.0, 400.0]);
        let only: Vec<f64> = rates.iter().map(|r| r.0).collect();
        assert_eq!(only, vec![20.0, 40.0, 60.0, 80.0, 100.0, 120.0]);
        assert!(rates.iter().all(|r| !r.1));
        assert_eq!(step_rates(100.0, &[]), rates);
    }

    #[test]
    fn steps_are_shortened_together_and_none_below_the_floor() {
        let secs = |v: &[u64]| {
            v.iter()
                .map(|s| Duration::from_secs(*s))
                .collect::<Vec<_>>()
        };
        assert_eq!(fit_scale(&secs(&[30, 10]), Duration::from_secs(60)), 1.0);
        // 30 s and 4 s in 17 s: the short one keeps its 2 s, the long one gets 15 s.
        let k = fit_scale(&secs(&[30, 4]), Duration::from_secs(17));
        assert!((k - 0.5).abs() < 1e-6, "{k}");
        // Not even the floors fit: everything at the floor.
        assert_eq!(fit_scale(&secs(&[30, 30]), Duration::from_secs(1)), 0.0);
    }

    #[test]
    fn a_rate_near_another_adds_no_step() {
        assert_eq!(
            step_rates(100.0, &[10.0, 10.5, 58.0]),
            vec![
                (10.0, true),
                (58.0, true),
                (80.0, false),
                (100.0, false),
                (120.0, false)
            ]
        );
    }
}
