//! The deploy's report as the terminal shows it.

use super::probe::ProbeReport;
use super::{DeployReport, Outcome};

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}s", v / 1000.0))
}

/// The probe's table: requests, failures and latency per phase of the deploy.
pub fn probe_table(p: &ProbeReport) -> String {
    let mut out = format!(
        "probe {} at {}/s: {} sent, {} failed, longest gap {:.0} ms\n",
        p.url, p.rate_per_sec, p.sent, p.failed, p.longest_gap_ms
    );
    out.push_str(&format!(
        "  {:<8} {:>6} {:>7} {:>12} {:>9} {:>9}\n",
        "PHASE", "SENT", "FAILED", "MAINTENANCE", "P50", "P99"
    ));
    for s in &p.phases {
        let phase = serde_json::to_value(s.phase)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        out.push_str(&format!(
            "  {:<8} {:>6} {:>7} {:>12} {:>7.1}ms {:>7.1}ms\n",
            phase, s.sent, s.failed, s.maintenance, s.p50_ms, s.p99_ms
        ));
    }
    for (why, n) in &p.failures {
        out.push_str(&format!("  failed: {why} ×{n}\n"));
    }
    out
}

/// The whole report.
pub fn text(r: &DeployReport) -> String {
    let verdict = match r.outcome {
        Outcome::Deployed => "deployed",
        Outcome::RolledBack => "ROLLED BACK",
        Outcome::Aborted => "ABORTED (old version kept serving)",
    };
    let mut out = format!(
        "{} {}: {} -> {}: {verdict}\n",
        r.stack, r.component, r.from_image, r.to_image
    );
    if let Some(why) = &r.reason {
        out.push_str(&format!("  reason: {why}\n"));
    }
    for reg in &r.health_regressions {
        out.push_str(&format!("  regression: {reg}\n"));
    }
    if let Some(m) = &r.migration {
        out.push_str(&format!(
            "  migration: exit {} in {:.1}s\n",
            m.exit_code,
            m.took_ms / 1000.0
        ));
    }
    out.push_str(&format!(
        "  new version healthy after {}, traffic on it {} after the command; total {:.1}s\n",
        ms(r.healthy_after_ms),
        ms(r.switched_after_ms),
        r.total_ms / 1000.0
    ));
    if r.written {
        out.push_str("  manifest updated with the new image\n");
    }
    match &r.probe {
        Some(p) => out.push_str(&probe_table(p)),
        None => {
            out.push_str("probe: the edge does not serve this component; no public route probed\n")
        }
    }
    out
}
