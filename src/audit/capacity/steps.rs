//! The stepped load of a mix of routes: a short probe without think time finds the most it
//! serves; then steps of virtual users thinking a second between requests (closed model)
//! offer 20 % to 120 % of it. Each step is sampled for every component's CPU and memory
//! (cgroups), the host's CPU and the database's connections. Latencies are corrected for
//! coordinated omission (a response slower than the think time counts the requests the
//! user would have sent).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::audit::database::psql::{Psql, TAG};
use crate::audit::usage::{ComponentUsage, Sampler};
use crate::docker::Engine;
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
pub async fn step<E: Engine>(
    mix: &Mix,
    users: u32,
    think: Duration,
    duration: Duration,
    sampler: &Sampler,
    psql: Option<&Psql<'_, E>>,
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
pub async fn probe<E: Engine>(
    mix: &Mix,
    step_time: Duration,
    until: Instant,
    sampler: &Sampler,
    psql: Option<&Psql<'_, E>>,
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

/// Requests a curve step aims at, so a few slow stalls do not make its p95.
const STEP_REQUESTS: f64 = 1000.0;
const STEP_MIN: Duration = Duration::from_secs(4);
const STEP_MAX: Duration = Duration::from_secs(20);

/// Users thinking [`THINK`] who offer 20 % … 120 % of `best` requests/s, each step long
/// enough for about a thousand requests (4–20 s, shortened evenly to end by `until`);
/// stops early when a step's failures pass 5 %.
pub async fn curve<E: Engine>(
    mix: &Mix,
    best: f64,
    until: Instant,
    sampler: &Sampler,
    psql: Option<&Psql<'_, E>>,
) -> Vec<Step> {
    let mut users: Vec<u32> = Vec::new();
    for share in OFFERED {
        let n = (share * best * THINK.as_secs_f64())
            .clamp(1.0, MAX_USERS)
            .ceil() as u32;
        if users.last().is_none_or(|last| n > *last) {
            users.push(n);
        }
    }
    let wanted: Vec<Duration> = users
        .iter()
        .map(|n| {
            let rate = f64::from(*n) / THINK.as_secs_f64();
            Duration::from_secs_f64(STEP_REQUESTS / rate.max(1e-3)).clamp(STEP_MIN, STEP_MAX)
        })
        .collect();
    let total: Duration = wanted.iter().sum();
    let room = until.saturating_duration_since(Instant::now());
    let scale = (room.as_secs_f64() / total.as_secs_f64().max(1e-3)).min(1.0);
    let mut steps: Vec<Step> = Vec::new();
    for (n, want) in users.into_iter().zip(wanted) {
        let time = want.mul_f64(scale).max(Duration::from_secs(2));
        if Instant::now() + time > until {
            break;
        }
        let s = step(mix, n, THINK, time, sampler, psql).await;
        let failed_share = s.failed as f64 / (s.sent.max(1)) as f64;
        steps.push(s);
        if failed_share > MAX_FAILED {
            break;
        }
    }
    steps
}
