//! The capacity test as the users' table (scenario × users: requests/s, p95, CPU, RAM,
//! verdict, bottleneck), the measured curves, and SVG charts of latency and CPU against
//! users.

use std::fmt::Write;

use super::Capacity;

use crate::audit::report::MIB;

pub fn markdown(o: &mut String, c: &Capacity) {
    let _ = writeln!(
        o,
        "\n## Capacity\n\nPredicted from the measured curves below (closed model: a row sits on the curve at its \
         throughput `X = U / (Z + R(X))`). \
         The load generator runs on this host's {} cores beside the stack.\n",
        c.cores
    );
    let _ = writeln!(
        o,
        "| Scenario | Users | Think | Requests/s | p95 | CPU | RAM | | Bottleneck |\n|---|---:|---:|---:|---:|---:|---:|---|---|"
    );
    for r in &c.rows {
        let p95 = if r.point.p95_ms.is_finite() {
            format!("{:.0} ms", r.point.p95_ms)
        } else {
            "∞".into()
        };
        let queued = if r.point.saturated { " (queued)" } else { "" };
        let _ = writeln!(
            o,
            "| {} | {} | {:.0} s | {:.1} | {p95}{queued} | {:.0} % | {:.0} MiB | {} | {} |",
            r.scenario,
            r.users,
            r.think_seconds,
            r.point.rps,
            r.cpu_percent,
            r.point.stack_memory_bytes as f64 / MIB,
            r.verdict.mark(),
            r.bottleneck
        );
    }
    if let Some(v) = &c.verification {
        let mark = if v.within { "✅" } else { "❌" };
        let _ = writeln!(
            o,
            "\nVerified `{}` at {} users for {:.0} s ({} requests, {} failed): p95 predicted {:.1} ms, \
             measured {:.1} ms ({:+.1} %, {mark} within ±20 %); requests/s predicted {:.1}, measured {:.1}.",
            v.scenario,
            v.users,
            v.seconds,
            v.sent,
            v.failed,
            v.predicted_p95_ms,
            v.measured_p95_ms,
            v.deviation_percent,
            v.predicted_rps,
            v.measured_rps
        );
        for (what, n) in &v.failures {
            let _ = writeln!(o, "- failed: {what} × {n}");
        }
    }
    for curve in &c.curves {
        let knee = curve
            .knee_rps
            .map_or("–".to_string(), |k| format!("{k:.0} requests/s"));
        let _ = writeln!(
            o,
            "\n### Curve `{}` (knee at {knee}; bottleneck: {})\n\n\
             | Users | Think | Requests/s | p50 | p95 | p99 | Failed | Stack CPU | Host CPU | RAM | DB connections |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            curve.mix, curve.bottleneck
        );
        for s in curve.probe.iter().chain(&curve.steps) {
            let conns = s.db_connections.map_or("–".to_string(), |n| n.to_string());
            let _ = writeln!(
                o,
                "| {} | {:.0} s | {:.1} | {:.1} ms | {:.1} ms | {:.1} ms | {} | {:.2} cores | {:.0} % | {:.0} MiB | {conns} |",
                s.users,
                s.think_ms / 1000.0,
                s.rps,
                s.p50_ms,
                s.p95_ms,
                s.p99_ms,
                s.failed,
                s.stack_cpu_cores,
                s.host_cpu_percent,
                s.stack_memory_bytes as f64 / MIB
            );
        }
    }
}

/// A line chart of one figure against the curve's throughput, one line per mix.
pub fn svg(c: &Capacity, title: &str, unit: &str, figure: impl Fn(&super::Step) -> f64) -> String {
    let (w, h, left, bottom) = (640.0, 360.0, 70.0, 40.0);
    let lines: Vec<(&str, Vec<(f64, f64)>)> = c
        .curves
        .iter()
        .map(|cv| {
            (
                cv.mix.as_str(),
                cv.steps.iter().map(|s| (s.rps, figure(s))).collect(),
            )
        })
        .collect();
    let max = |f: fn(&(f64, f64)) -> f64| {
        lines
            .iter()
            .flat_map(|(_, p)| p.iter().map(f))
            .fold(1e-9, f64::max)
            * 1.1
    };
    let (x_max, y_max) = (max(|p| p.0), max(|p| p.1));
    let px = |x: f64| left + x / x_max * (w - left - 20.0);
    let py = |y: f64| h - bottom - y / y_max * (h - bottom - 30.0);
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{left}\" y=\"18\" font-size=\"14\">{title}</text>\n\
         <line x1=\"{left}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/>\n<line x1=\"{left}\" y1=\"30\" x2=\"{left}\" y2=\"{b}\" stroke=\"black\"/>\n",
        b = h - bottom,
        r = w - 20.0,
    );
    for k in 0..=4 {
        let (x, y) = (x_max * f64::from(k) / 4.0, y_max * f64::from(k) / 4.0);
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{x:.0}</text>",
            px(x),
            h - bottom + 16.0
        );
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{y:.1} {unit}</text>",
            left - 6.0,
            py(y) + 4.0
        );
    }
    let _ = writeln!(
        o,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">requests/s (users thinking 1 s)</text>",
        (w + left) / 2.0,
        h - 6.0
    );
    let colors = ["#1f77b4", "#d62728", "#2ca02c"];
    for (i, (name, pts)) in lines.iter().enumerate() {
        let color = colors[i % colors.len()];
        let path: Vec<String> = pts
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", px(*x), py(*y)))
            .collect();
        let _ = writeln!(
            o,
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
            path.join(" ")
        );
        let _ = writeln!(
            o,
            "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{name}</text>",
            w - 120.0,
            40.0 + 16.0 * i as f64
        );
    }
    o.push_str("</svg>\n");
    o
}
