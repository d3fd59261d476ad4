//! The database findings as Markdown tables, like the users' audit.

use std::fmt::Write;

use super::indexes::Suggestion;
use super::DatabaseAudit;

use crate::audit::report::MIB;

fn short(query: &str) -> String {
    let one_line = query.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one_line.chars().take(90).collect();
    let cut = cut.replace('|', "\\|");
    if one_line.chars().count() > 90 {
        format!("`{cut}…`")
    } else {
        format!("`{cut}`")
    }
}

pub fn markdown(o: &mut String, db: &DatabaseAudit) {
    let f = &db.findings;
    let _ = writeln!(o, "\n## Database\n");
    if let Some(c) = &f.connections {
        let _ = writeln!(
            o,
            "Connections: {} of {} ({} active, {} idle).",
            c.used, c.max, c.active, c.idle
        );
    }
    if let Some(r) = f.cache_hit_ratio {
        let _ = writeln!(o, "Cache hit ratio: {:.2} %.", r * 100.0);
    }
    let _ = writeln!(
        o,
        "\n| Table | Rows | Data (MB) | Indexes (MB) | Seq scans | Index scans | |\n|---|---:|---:|---:|---:|---:|---|"
    );
    for t in &f.tables {
        let flag = if t.mostly_sequential() {
            "mostly sequential"
        } else {
            ""
        };
        let _ = writeln!(
            o,
            "| {}.{} | {} | {:.1} | {:.1} | {} | {} | {flag} |",
            t.schema,
            t.name,
            t.rows,
            t.data_bytes as f64 / MIB,
            t.index_bytes as f64 / MIB,
            t.seq_scans,
            t.index_scans
        );
    }
    if !f.top_queries.is_empty() {
        let _ = writeln!(
            o,
            "\n### Top queries by total time\n\n| Query | Calls | Total (ms) | Mean (ms) | Rows |\n|---|---:|---:|---:|---:|"
        );
        for q in &f.top_queries {
            let _ = writeln!(
                o,
                "| {} | {} | {:.0} | {:.2} | {} |",
                short(&q.query),
                q.calls,
                q.total_ms,
                q.mean_ms,
                q.rows
            );
        }
    }
    for (title, list) in [
        ("Unused indexes", &f.unused_indexes),
        ("Duplicate indexes", &f.duplicate_indexes),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            "\n### {title}\n\n| Index | Table | Size (MB) | Served by |\n|---|---|---:|---|"
        );
        for i in list {
            let _ = writeln!(
                o,
                "| {} | {}.{} | {:.1} | {} |",
                i.index,
                i.schema,
                i.table,
                i.bytes as f64 / MIB,
                i.covered_by.as_deref().unwrap_or("")
            );
        }
    }
    missing(o, &db.missing_indexes);
    for e in &f.errors {
        let _ = writeln!(o, "\n> not measured: {e}");
    }
}

fn missing(o: &mut String, list: &[Suggestion]) {
    let _ = writeln!(
        o,
        "\n### Missing indexes\n\n| Index | For | Proof | Cost before → after | Applied: mean before → after |\n|---|---|---|---|---|"
    );
    if list.is_empty() {
        let _ = writeln!(o, "| none found | | | | |");
    }
    for s in list {
        let proof = match (&s.proof, &s.error) {
            (Some(p), _) if s.proven() => format!("✅ {} (planner uses it)", p.how),
            (Some(p), _) if !p.used => format!("❌ {}: planner does not use it", p.how),
            (Some(p), _) => format!("❌ {}: no cheaper", p.how),
            (None, Some(e)) => format!("not tried: {e}"),
            (None, None) => "not tried".into(),
        };
        let cost = s.proof.as_ref().map_or(String::new(), |p| {
            format!(
                "{:.0} → {:.0} ({:.0}×)",
                p.cost_before,
                p.cost_after,
                p.cost_before / p.cost_after.max(0.01)
            )
        });
        let applied =
            match &s.applied {
                Some(a) => match (a.mean_ms_before, a.mean_ms_after) {
                    (Some(b), Some(after)) => format!(
                    "{} in {:.1} s: {b:.2} ms ({} calls) → {after:.2} ms ({} calls), {:.0}× faster",
                    a.index, a.build_seconds, a.calls_before, a.calls_after, b / after.max(0.001)
                ),
                    _ => format!(
                        "{} in {:.1} s: the workload did not run the query again yet",
                        a.index, a.build_seconds
                    ),
                },
                None => s
                    .error
                    .clone()
                    .filter(|_| s.proof.is_some())
                    .unwrap_or_default(),
            };
        let _ = writeln!(
            o,
            "| `{} ({})` on {}.{} | {} | {proof} | {cost} | {applied} |",
            s.method.sql(),
            s.columns.join(", "),
            s.schema,
            s.table,
            short(&s.query)
        );
    }
}
