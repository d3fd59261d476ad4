//! The audit as tables like the users' own audit, and its verdicts against the targets.

use std::fmt::Write;

use serde::Serialize;

use super::database::DatabaseAudit;
use super::http::RouteTiming;
use super::jobs::QueueFigures;
use super::AuditReport;
use crate::api::ValidatedStack;

/// The targets of the verdicts (spec.audit.targets).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Targets {
    pub ttfb_ms: f64,
    pub page_ms: f64,
    pub failed_jobs: u64,
    pub missing_indexes: u64,
}

impl Targets {
    pub fn of(stack: &ValidatedStack) -> Self {
        let t = stack.audit.targets;
        Targets {
            ttfb_ms: t.ttfb.as_secs_f64() * 1000.0,
            page_ms: t.page.as_secs_f64() * 1000.0,
            failed_jobs: t.failed_jobs,
            missing_indexes: t.missing_indexes,
        }
    }
}

/// One check against a target.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub check: String,
    pub target: String,
    pub measured: String,
    pub pass: bool,
}

/// Each route's p95 TTFB and total against the targets, and the failed jobs.
pub fn verdicts(
    t: &Targets,
    routes: &[RouteTiming],
    queues: &[QueueFigures],
    db: Option<&DatabaseAudit>,
) -> Vec<Verdict> {
    let mut out = Vec::new();
    for r in routes {
        out.push(Verdict {
            check: format!("TTFB p95 {}", r.name),
            target: format!("< {:.0} ms", t.ttfb_ms),
            measured: format!("{:.1} ms", r.ttfb.p95),
            pass: r.ttfb.p95 < t.ttfb_ms && r.failed == 0,
        });
        out.push(Verdict {
            check: format!("page p95 {}", r.name),
            target: format!("< {:.0} ms", t.page_ms),
            measured: format!("{:.1} ms", r.total.p95),
            pass: r.total.p95 < t.page_ms && r.failed == 0,
        });
    }
    if !queues.is_empty() {
        let failed: u64 = queues.iter().filter_map(|q| q.failed).sum();
        let unread = queues.iter().any(|q| !q.errors.is_empty());
        out.push(Verdict {
            check: "failed jobs".into(),
            target: format!("≤ {}", t.failed_jobs),
            measured: if unread {
                format!("{failed} (some counts unread)")
            } else {
                failed.to_string()
            },
            pass: failed <= t.failed_jobs && !unread,
        });
    }
    if let Some(db) = db {
        let missing = db.proven_missing().count() as u64;
        out.push(Verdict {
            check: "missing indexes".into(),
            target: format!("≤ {}", t.missing_indexes),
            measured: missing.to_string(),
            pass: missing <= t.missing_indexes,
        });
    }
    out
}

/// Bytes per MiB and GiB, for the report's tables.
pub(crate) const MIB: f64 = (1u64 << 20) as f64;
const GIB: f64 = (1u64 << 30) as f64;

/// The report as Markdown.
pub fn markdown(r: &AuditReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Performance audit of `{}` ({}, {}, {:.0} s)\n",
        r.stack, r.runtime, r.started_at, r.seconds
    );
    if r.runtime.starts_with("kubernetes") {
        let _ = writeln!(
            o,
            "Routes are timed through port-forwards by the API server: connect is to this \
             host's end of the forward, and the TTFB includes the tunnel to the pod.\n"
        );
    }
    routes(&mut o, &r.routes);
    headroom(&mut o, r);
    if !r.queues.is_empty() {
        let _ = writeln!(
            o,
            "\n## Job queues\n\n| Queue | Pending | Failed | Note |\n|---|---:|---:|---|"
        );
        for q in &r.queues {
            let n = |v: Option<u64>| v.map_or("–".to_string(), |n| n.to_string());
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                q.name,
                n(q.pending),
                n(q.failed),
                q.errors.join("; ")
            );
        }
    }
    if let Some(db) = &r.database {
        super::database::render::markdown(&mut o, db);
    }
    if let Some(c) = &r.capacity {
        super::capacity::render::markdown(&mut o, c);
    }
    if let Some(e) = &r.capacity_error {
        let _ = writeln!(o, "\n## Capacity\n\nNot measured: {e}");
    }
    if !r.recommendations.is_empty() {
        let _ = writeln!(o, "\n## Recommendations\n");
        for (i, rec) in r.recommendations.iter().enumerate() {
            let _ = writeln!(
                o,
                "{}. {}:\n\n```yaml\n{}```\n",
                i + 1,
                rec.finding,
                rec.patch
            );
        }
    }
    if let Some(c) = &r.comparison {
        super::compare::markdown(&mut o, c);
    }
    let _ = writeln!(
        o,
        "\n## Against the targets\n\n| Check | Target | Measured | |\n|---|---|---|---|"
    );
    for v in &r.verdicts {
        let mark = if v.pass { "✅" } else { "❌" };
        let _ = writeln!(
            o,
            "| {} | {} | {} | {mark} |",
            v.check, v.target, v.measured
        );
    }
    o
}

fn routes(o: &mut String, routes: &[RouteTiming]) {
    let _ = writeln!(
        o,
        "## Routes (new connection per request; ms as p50 / p95 / p99)\n\n\
         | Route | URL | Status | Bytes | DNS | Connect | TLS | TTFB | Total | Failed |\n\
         |---|---|---:|---:|---|---|---|---|---|---:|"
    );
    let s = |x: &super::http::Spread| format!("{:.1} / {:.1} / {:.1}", x.p50, x.p95, x.p99);
    for r in routes {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} |",
            r.name,
            r.url,
            r.status,
            r.body_bytes,
            r.dns.as_ref().map_or("not resolved here".into(), s),
            s(&r.connect),
            r.tls.as_ref().map_or("–".into(), s),
            s(&r.ttfb),
            s(&r.total),
            r.failed,
            r.requests
        );
    }
}

fn headroom(o: &mut String, r: &AuditReport) {
    let _ = writeln!(o, "\n## Headroom\n");
    if let Some(h) = &r.host {
        let _ = writeln!(
            o,
            "Host: {} cores, {:.0} % busy, load {:.2} / {:.2}; memory {:.1} GiB available of {:.1} GiB.\n",
            h.cores,
            h.cpu_busy_percent,
            h.load1,
            h.load5,
            h.memory_available_bytes as f64 / GIB,
            h.memory_total_bytes as f64 / GIB
        );
        for d in &h.disks {
            let _ = writeln!(
                o,
                "- disk {}: {:.1} GiB free of {:.1} GiB",
                d.path,
                d.free_bytes as f64 / GIB,
                d.total_bytes as f64 / GIB
            );
        }
    }
    for n in &r.nodes {
        let _ = writeln!(
            o,
            "- node {}: CPU {:.2} of {:.2} allocatable cores, memory {:.1} of {:.1} GiB (pods: {})",
            n.name,
            n.cpu_cores,
            n.cpu_allocatable,
            n.memory_bytes as f64 / GIB,
            n.memory_allocatable as f64 / GIB,
            n.pods.join(", ")
        );
    }
    let _ = writeln!(o, "\n| Component | CPU (cores) | of limit | Memory (MiB) | of limit |\n|---|---:|---:|---:|---:|");
    let pct = |p: Option<f64>| p.map_or("no limit".to_string(), |p| format!("{p:.0} %"));
    for c in &r.components {
        let _ = writeln!(
            o,
            "| {} | {:.3} | {} | {:.0} | {} |",
            c.component,
            c.cpu_cores,
            pct(c.cpu_percent()),
            c.memory_bytes as f64 / MIB,
            pct(c.memory_percent())
        );
    }
    for u in &r.unmeasured {
        let _ = writeln!(o, "\nNot measured: {u}");
    }
}
