//! From the measured curve to a scenario's operating point. The curve's users think a
//! second; a scenario's many users thinking `Z` make much the same stream of arrivals at
//! the same rate, so a row is placed on the curve by its throughput: `X = U / (Z + R(X))`
//! (the interactive response time law), `R`, the p95 and the resources read off the curve
//! between its steps. Past the curve's best throughput the system is saturated: `X` stays
//! there and the mean response is `U/X − Z`.

use serde::Serialize;

use super::steps::Step;

/// Where a scenario runs on the curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OperatingPoint {
    /// Requests in the system on average.
    pub in_system: f64,
    pub rps: f64,
    pub p95_ms: f64,
    pub stack_cpu_cores: f64,
    pub stack_memory_bytes: u64,
    /// Beyond the throughput the curve reached: requests queue.
    pub saturated: bool,
}

/// Linear interpolation through (x, y) points sorted by x; flat beyond the ends.
fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    let Some(first) = points.first() else {
        return 0.0;
    };
    if x <= first.0 {
        return first.1;
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            let t = if x1 > x0 { (x - x0) / (x1 - x0) } else { 1.0 };
            return y0 + t * (y1 - y0);
        }
    }
    points.last().map_or(0.0, |p| p.1)
}

/// The steps up to the best throughput, by users: beyond it more users only queue.
fn rising(steps: &[Step]) -> Vec<&Step> {
    let mut by_users: Vec<&Step> = steps.iter().collect();
    by_users.sort_by_key(|s| s.users);
    let best = by_users
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.rps.total_cmp(&b.1.rps))
        .map_or(0, |(i, _)| i);
    by_users.truncate(best + 1);
    by_users
}

/// `(rps, figure)` points from no load up the rising steps, made non-decreasing (pool
/// adjacent violators): latency and CPU do not fall as the load grows, so a step that
/// dips below its neighbour is noise and is averaged with it.
fn by_rate(rising: &[&Step], at_zero: f64, figure: impl Fn(&Step) -> f64) -> Vec<(f64, f64)> {
    let mut pts = vec![(0.0, at_zero)];
    pts.extend(rising.iter().map(|s| (s.rps, figure(s))));
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let ys = monotone(&pts.iter().map(|p| p.1).collect::<Vec<_>>());
    pts.iter().zip(ys).map(|(p, y)| (p.0, y)).collect()
}

/// The least-squares non-decreasing fit of `ys` (equal weights).
fn monotone(ys: &[f64]) -> Vec<f64> {
    // Blocks of (sum, count), merged while a block's mean is below its predecessor's.
    let mut blocks: Vec<(f64, usize)> = Vec::new();
    for &y in ys {
        blocks.push((y, 1));
        while blocks.len() > 1 {
            let (s1, n1) = blocks[blocks.len() - 1];
            let (s0, n0) = blocks[blocks.len() - 2];
            if s0 / n0 as f64 <= s1 / n1 as f64 {
                break;
            }
            blocks.pop();
            if let Some(last) = blocks.last_mut() {
                *last = (s0 + s1, n0 + n1);
            }
        }
    }
    blocks
        .into_iter()
        .flat_map(|(s, n)| std::iter::repeat_n(s / n as f64, n))
        .collect()
}

/// The operating point of `users` thinking `think_s` seconds on the curve; `idle` is the
/// stack's (CPU cores, memory) with no load.
pub fn operating_point(
    steps: &[Step],
    users: f64,
    think_s: f64,
    idle: (f64, u64),
) -> Option<OperatingPoint> {
    let up = rising(steps);
    let (first, top) = (*up.first()?, *up.last()?);
    let mean = by_rate(&up, first.mean_ms, |s| s.mean_ms);
    let p95 = by_rate(&up, first.p95_ms, |s| s.p95_ms);
    let excess = |x: f64| x * (think_s + interpolate(&mean, x) / 1000.0) - users;
    let (rps, in_system, p95_ms, saturated) = if top.rps <= 0.0 || excess(top.rps) < 0.0 {
        let rps = top.rps;
        let mean_s = if rps > 0.0 {
            users / rps - think_s
        } else {
            f64::INFINITY
        };
        let tail = if top.mean_ms > 0.0 {
            top.p95_ms / top.mean_ms
        } else {
            1.0
        };
        (rps, rps * mean_s, mean_s * 1000.0 * tail, true)
    } else {
        let (mut lo, mut hi) = (0.0, top.rps);
        for _ in 0..60 {
            let mid = (lo + hi) / 2.0;
            if excess(mid) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        (
            hi,
            hi * interpolate(&mean, hi) / 1000.0,
            interpolate(&p95, hi),
            false,
        )
    };
    let cpu = by_rate(&up, idle.0, |s| s.stack_cpu_cores);
    let mem = by_rate(&up, idle.1 as f64, |s| s.stack_memory_bytes as f64);
    Some(OperatingPoint {
        in_system,
        rps,
        p95_ms,
        stack_cpu_cores: interpolate(&cpu, rps),
        stack_memory_bytes: interpolate(&mem, rps) as u64,
        saturated,
    })
}

/// The knee: the highest throughput of the rising steps whose p95 (fitted non-decreasing)
/// stays within twice the lightest step's.
pub fn knee(steps: &[Step]) -> Option<f64> {
    let up = rising(steps);
    let first = up.first()?;
    // On the monotone fit, so one noisy light step neither hides nor invents the knee.
    let fit = by_rate(&up, first.p95_ms, |s| s.p95_ms);
    let base = fit.get(1).map_or(first.p95_ms, |p| p.1);
    fit.iter()
        .skip(1)
        .take_while(|p| p.1 <= 2.0 * base)
        .map(|p| p.0)
        .last()
}

/// ✅ / ⚠️ / ❌ of an operating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    Warn,
    Fail,
}

impl Verdict {
    pub fn mark(self) -> &'static str {
        match self {
            Verdict::Ok => "✅",
            Verdict::Warn => "⚠️",
            Verdict::Fail => "❌",
        }
    }
}

/// Fails past the page target; warns past half of it, past 70 % of the host's CPU, past
/// the knee, or saturated.
pub fn verdict(p: &OperatingPoint, page_ms: f64, cores: u32, knee_rps: Option<f64>) -> Verdict {
    if !p.p95_ms.is_finite() || p.p95_ms > page_ms {
        return Verdict::Fail;
    }
    let cpu_share = p.stack_cpu_cores / f64::from(cores.max(1));
    let past_knee = knee_rps.is_some_and(|k| p.rps > k);
    if p.saturated || past_knee || cpu_share > 0.7 || p.p95_ms > page_ms / 2.0 {
        Verdict::Warn
    } else {
        Verdict::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(users: u32, rps: f64, mean: f64, p95: f64, cpu: f64) -> Step {
        Step {
            users,
            think_ms: 1000.0,
            seconds: 8.0,
            sent: 100,
            failed: 0,
            rps,
            mean_ms: mean,
            p50_ms: mean,
            p95_ms: p95,
            p99_ms: p95,
            stack_cpu_cores: cpu,
            host_cpu_percent: 0.0,
            stack_memory_bytes: 1 << 30,
            components: vec![],
            db_connections: None,
        }
    }

    /// Users thinking 1 s against a stack serving 100 requests/s at most.
    fn curve() -> Vec<Step> {
        vec![
            step(20, 19.8, 10.0, 20.0, 0.2),
            step(40, 39.2, 20.0, 30.0, 0.4),
            step(60, 57.0, 50.0, 100.0, 0.6),
            step(100, 80.0, 250.0, 600.0, 0.9),
            step(120, 78.0, 500.0, 900.0, 0.9),
        ]
    }

    #[test]
    fn a_row_sits_where_its_throughput_is() {
        // 240 users thinking 8 s: X (8 + R(X)) = 240 → X just under 30 requests/s.
        let p = operating_point(&curve(), 240.0, 8.0, (0.1, 1 << 30)).unwrap();
        assert!(!p.saturated);
        assert!(
            (p.rps * (8.0 + interpolate(&[(19.8, 0.010), (39.2, 0.020)], p.rps)) - 240.0).abs()
                < 1e-6,
            "{p:?}"
        );
        assert!(p.p95_ms > 20.0 && p.p95_ms < 30.0);
        assert!(p.stack_cpu_cores > 0.2 && p.stack_cpu_cores < 0.4);
    }

    #[test]
    fn past_the_best_throughput_the_response_time_law_holds() {
        // 300 users thinking 1 s against 80 requests/s: R = 300/80 − 1 = 2.75 s mean.
        let p = operating_point(&curve(), 300.0, 1.0, (0.1, 1 << 30)).unwrap();
        assert!(p.saturated);
        assert_eq!(p.rps, 80.0);
        assert!((p.p95_ms - 2750.0 * 600.0 / 250.0).abs() < 1e-6, "{p:?}");
        assert_eq!(verdict(&p, 2000.0, 2, knee(&curve())), Verdict::Fail);
    }

    #[test]
    fn a_dip_is_averaged_with_its_neighbour() {
        assert_eq!(monotone(&[1.0, 5.0, 3.0, 6.0]), vec![1.0, 4.0, 4.0, 6.0]);
        assert_eq!(monotone(&[3.0, 2.0, 1.0]), vec![2.0, 2.0, 2.0]);
        assert_eq!(monotone(&[1.0, 2.0]), vec![1.0, 2.0]);
    }

    #[test]
    fn the_knee_and_the_verdicts() {
        assert_eq!(knee(&curve()), Some(39.2));
        let light = operating_point(&curve(), 100.0, 8.0, (0.1, 1 << 30)).unwrap();
        assert_eq!(
            verdict(&light, 2000.0, 2, Some(39.2)),
            Verdict::Ok,
            "{light:?}"
        );
        let busy = operating_point(&curve(), 55.0, 0.0, (0.1, 1 << 30)).unwrap();
        assert_eq!(
            verdict(&busy, 2000.0, 2, Some(39.2)),
            Verdict::Warn,
            "{busy:?}"
        );
    }
}
