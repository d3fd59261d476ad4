//! The capacity test: a stepped load per mix of routes (pages; pages and the CMS API),
//! sampled at each step, its knee and bottleneck found; then each scenario of the users'
//! audit (browsing, heavy use, peak) at 50/100/200 users placed on the curve; `--verify`
//! runs one row's load for real and sets the measured p95 beside the prediction.

pub mod bottleneck;
pub mod predict;
pub mod render;
pub mod steps;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::http::RouteTarget;
use super::usage::Sampler;
use crate::api::ValidatedStack;
use crate::audit::exec::Exec;
use crate::load::Route;
use crate::plan::{Plan, Role};
use predict::{OperatingPoint, Verdict};
use steps::Mix;
pub use steps::Step;

/// A scenario of the users' audit: how long a user thinks, and whether it calls the API.
#[derive(Debug, Clone, Copy)]
pub struct Scenario {
    pub name: &'static str,
    pub think: Duration,
    pub api: bool,
}

/// Each step of the probe (no think time: its throughput settles at once).
const PROBE_STEP: Duration = Duration::from_secs(3);

pub const SCENARIOS: [Scenario; 3] = [
    Scenario {
        name: "browsing",
        think: Duration::from_secs(8),
        api: false,
    },
    Scenario {
        name: "heavy",
        think: Duration::from_secs(3),
        api: true,
    },
    Scenario {
        name: "peak",
        think: Duration::from_secs(1),
        api: true,
    },
];

/// What the capacity test is asked.
#[derive(Debug, Clone)]
pub struct CapacityRequest {
    /// The user counts of the table.
    pub users: Vec<u32>,
    /// Run this row's load for real: (scenario, users).
    pub verify: Option<(String, u32)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Curve {
    pub mix: String,
    /// Without think time: the most the stack serves, and what runs out.
    pub probe: Vec<Step>,
    /// Users thinking a second, offering the rates the rows run at and 60 % … 120 % of the
    /// probe's best.
    pub steps: Vec<Step>,
    /// The highest throughput before the p95 doubles.
    pub knee_rps: Option<f64>,
    pub bottleneck: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    pub scenario: String,
    pub users: u32,
    pub think_seconds: f64,
    #[serde(flatten)]
    pub point: OperatingPoint,
    /// The stack's CPU as a share of the host's cores.
    pub cpu_percent: f64,
    pub verdict: Verdict,
    pub bottleneck: String,
}

/// A row's load run for real.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub scenario: String,
    pub users: u32,
    pub seconds: f64,
    pub sent: u64,
    pub failed: u64,
    /// What failed: a 5xx status or a transport error, and how often.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub failures: BTreeMap<String, u64>,
    pub predicted_rps: f64,
    pub measured_rps: f64,
    pub predicted_p95_ms: f64,
    pub measured_p95_ms: f64,
    /// (measured − predicted) / predicted p95, in percent.
    pub deviation_percent: f64,
    /// Within ±20 %.
    pub within: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capacity {
    pub cores: u32,
    pub curves: Vec<Curve>,
    pub rows: Vec<Row>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

/// The pages mix and, when the stack has a CMS, the pages-and-API mix (half the
/// requests each).
fn mixes(stack: &ValidatedStack, plan: &Plan, targets: &[RouteTarget]) -> Vec<Mix> {
    let of = |role: Role, paths: &[String]| -> Vec<&RouteTarget> {
        targets
            .iter()
            .filter(|t| plan.component(&t.component).is_some_and(|c| c.role == role))
            .filter(|t| paths.contains(&t.path))
            .collect()
    };
    let (pages, api) = (
        of(Role::Frontend, &stack.audit.routes),
        of(Role::Cms, &stack.audit.api_routes),
    );
    let routes = |list: &[&RouteTarget], weight: usize| -> Vec<Route> {
        list.iter()
            .map(|t| Route {
                path: t.path.clone(),
                weight: weight.max(1) as u32,
                endpoint: Some(t.endpoint.clone()),
            })
            .collect()
    };
    let mut out = Vec::new();
    if let Some(first) = pages.first() {
        out.push(Mix {
            name: "pages",
            endpoint: first.endpoint.clone(),
            routes: routes(&pages, 1),
        });
    }
    if let Some(first) = pages.first().or(api.first()) {
        if !api.is_empty() {
            let mut both = routes(&pages, api.len());
            both.extend(routes(&api, pages.len().max(1)));
            let name = if pages.is_empty() { "api" } else { "pages+api" };
            out.push(Mix {
                name,
                endpoint: first.endpoint.clone(),
                routes: both,
            });
        }
    }
    out
}

/// The mix a scenario runs: the API one when it calls the API and there is one.
fn mix_of<'a>(mixes: &'a [Mix], s: &Scenario) -> Option<&'a Mix> {
    if s.api {
        mixes.last()
    } else {
        mixes.first()
    }
}

/// How long the verification of a scenario runs, given the `room` the capacity test has:
/// a third of it, between 45 and 90 s, and no less than five think times. On a small stack
/// the p95 of one same load's 30 s windows moves by a third, so a longer run is a surer
/// figure; the bound (`--max-duration`) says how much of it the caller can wait for.
pub fn verify_time(s: &Scenario, room: Duration) -> Duration {
    (room / 3)
        .clamp(Duration::from_secs(45), Duration::from_secs(90))
        .max(s.think * 5)
}

/// Kept free after the verification besides its pause: the report is written after it.
const VERIFY_MARGIN: Duration = Duration::from_secs(3);

pub fn scenario(name: &str) -> Option<Scenario> {
    SCENARIOS.iter().copied().find(|s| s.name == name)
}

/// Context the capacity test reads from the rest of the audit.
pub struct Context<'a, X: Exec> {
    pub stack: &'a ValidatedStack,
    pub plan: &'a Plan,
    pub targets: &'a [RouteTarget],
    pub sampler: &'a Sampler,
    pub psql: Option<super::database::psql::Psql<'a, X>>,
    /// The stack's idle (CPU cores, memory bytes).
    pub idle: (f64, u64),
    pub cores: u32,
    pub page_ms: f64,
}

/// Runs the curves, places the rows, and verifies one when asked; within `until`.
pub async fn run<X: Exec>(
    cx: &Context<'_, X>,
    req: &CapacityRequest,
    until: Instant,
) -> Result<Capacity, String> {
    let mixes = mixes(cx.stack, cx.plan, cx.targets);
    if mixes.is_empty() {
        return Err("no frontend page or CMS API route to put under load".into());
    }
    // The verification's time is set before the curves, which run in what it leaves.
    let verify = match &req.verify {
        Some((name, users)) => {
            let s = scenario(name).ok_or(format!("unknown scenario {name}"))?;
            let time = verify_time(&s, until.saturating_duration_since(Instant::now()));
            Some((s, *users, time))
        }
        None => None,
    };
    let reserve = verify.map_or(Duration::ZERO, |(_, _, t)| {
        t + steps::SETTLE + VERIFY_MARGIN
    });
    let curves_until = until.checked_sub(reserve).unwrap_or(until);
    // Every mix's probe first: the steps of all curves are then planned and fitted into
    // the time left together, each keeping its share of what it asks for.
    let probe_until = Instant::now()
        + curves_until.saturating_duration_since(Instant::now()) / (3 * mixes.len() as u32);
    let mut probes = Vec::new();
    for mix in &mixes {
        probes.push(steps::probe(mix, PROBE_STEP, probe_until, cx.sampler, cx.psql.as_ref()).await);
    }
    let planned: Vec<Vec<steps::Planned>> = mixes
        .iter()
        .zip(&probes)
        .map(|(mix, probe)| {
            let best = probe.iter().map(|s| s.rps).fold(0.0, f64::max);
            steps::plan(&steps::step_rates(
                best,
                &wanted_rates(&mixes, mix, &req.users),
            ))
        })
        .collect();
    let times: Vec<Duration> = planned.iter().flatten().map(|s| s.time).collect();
    let room = curves_until
        .saturating_duration_since(Instant::now())
        .saturating_sub(steps::overhead(mixes.len(), times.len()));
    let scale = steps::fit_scale(&times, room);
    let mut curves = Vec::new();
    for ((mix, probe), planned) in mixes.iter().zip(probes).zip(&planned) {
        let steps = steps::curve(
            mix,
            planned,
            scale,
            curves_until,
            cx.sampler,
            cx.psql.as_ref(),
        )
        .await;
        let max_conns = cx.stack.database.as_ref().map(|d| d.max_connections);
        let role_of = |c: &str| cx.plan.component(c).map(|p| p.role);
        let all: Vec<Step> = probe.iter().chain(&steps).cloned().collect();
        curves.push(Curve {
            mix: mix.name.to_string(),
            knee_rps: predict::knee(&steps),
            bottleneck: bottleneck::name(&all, role_of, max_conns, cx.cores),
            probe,
            steps,
        });
    }
    let rows = rows(cx, &mixes, &curves, &req.users);
    let verification = match verify {
        Some((s, users, time)) => Some(verify_row(&mixes, &rows, &s, users, time).await?),
        None => None,
    };
    Ok(Capacity {
        cores: cx.cores,
        curves,
        rows,
        verification,
    })
}

/// The rates the table's rows on `mix` run at when not saturated: users over think time.
fn wanted_rates(mixes: &[Mix], mix: &Mix, users: &[u32]) -> Vec<f64> {
    SCENARIOS
        .iter()
        .filter(|s| mix_of(mixes, s).is_some_and(|m| m.name == mix.name))
        .flat_map(|s| {
            users
                .iter()
                .map(move |u| f64::from(*u) / s.think.as_secs_f64())
        })
        .collect()
}

fn rows<X: Exec>(cx: &Context<'_, X>, mixes: &[Mix], curves: &[Curve], users: &[u32]) -> Vec<Row> {
    let mut out = Vec::new();
    for s in &SCENARIOS {
        let Some(mix) = mix_of(mixes, s) else {
            continue;
        };
        let Some(curve) = curves.iter().find(|c| c.mix == mix.name) else {
            continue;
        };
        for &u in users {
            let think = s.think.as_secs_f64();
            let Some(point) = predict::operating_point(&curve.steps, f64::from(u), think, cx.idle)
            else {
                continue;
            };
            out.push(Row {
                scenario: s.name.to_string(),
                users: u,
                think_seconds: think,
                cpu_percent: 100.0 * point.stack_cpu_cores / f64::from(cx.cores.max(1)),
                verdict: predict::verdict(&point, cx.page_ms, cx.cores, curve.knee_rps),
                bottleneck: curve.bottleneck.clone(),
                point,
            });
        }
    }
    out
}

async fn verify_row(
    mixes: &[Mix],
    rows: &[Row],
    s: &Scenario,
    users: u32,
    duration: Duration,
) -> Result<Verification, String> {
    let mix = mix_of(mixes, s).ok_or("no mix for the scenario")?;
    let predicted = match rows
        .iter()
        .find(|r| r.scenario == s.name && r.users == users)
    {
        Some(r) => r.point.clone(),
        None => {
            return Err(format!(
                "{}:{users} is not a row of the table (see --users)",
                s.name
            ))
        }
    };
    // The last curve ends past saturation: its queued work is not the row's load.
    tokio::time::sleep(steps::SETTLE).await;
    let stats = steps::run_mix(mix, users, s.think, duration).await;
    let measured = stats.quantile_ms(0.95);
    let deviation = 100.0 * (measured - predicted.p95_ms) / predicted.p95_ms.max(1e-3);
    let mut failures: BTreeMap<String, u64> = stats.errors.clone();
    for (status, n) in stats.statuses.iter().filter(|(s, _)| **s >= 500) {
        failures.insert(format!("HTTP {status}"), *n);
    }
    Ok(Verification {
        scenario: s.name.to_string(),
        users,
        seconds: stats.elapsed.as_secs_f64(),
        sent: stats.sent,
        failed: stats.failed,
        failures,
        predicted_rps: predicted.rps,
        measured_rps: stats.rps(),
        predicted_p95_ms: predicted.p95_ms,
        measured_p95_ms: measured,
        deviation_percent: deviation,
        within: deviation.abs() <= 20.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verification_takes_a_third_of_the_room_within_its_bounds() {
        let heavy = scenario("heavy").unwrap();
        let secs = |room: u64| verify_time(&heavy, Duration::from_secs(room)).as_secs();
        assert_eq!(
            (secs(60), secs(162), secs(290), secs(900)),
            (45, 54, 90, 90)
        );
        let slow = Scenario {
            think: Duration::from_secs(30),
            ..heavy
        };
        assert_eq!(verify_time(&slow, Duration::from_secs(290)).as_secs(), 150);
    }
}
