//! `appstack audit` on the quickstart seeded with a PostGIS table of a million rows, an
//! unindexed filter column and an unindexed geometry predicate under a SQL workload: the
//! audit names both missing indexes (B-tree and GiST), proves them (HypoPG; a private copy
//! for the GiST), and with `--apply-indexes` creates them and shows the measured speed-up.
//! It also finds a planted Redis backlog.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use serde_json::Value;

const SEED: &str = "CREATE TABLE places AS SELECT g AS id, 'cat-' || (g % 5000) AS category, \
  md5(g::text) AS name, \
  ST_SetSRID(ST_MakePoint(random() * 360 - 180, random() * 170 - 85), 4326) AS geom \
  FROM generate_series(1, 1000000) g; ALTER TABLE places ADD PRIMARY KEY (id); ANALYZE places";

/// The quickstart's spec, unpublished, with a queue to audit.
fn quickstart_spec() -> String {
    let spec = quickstart_unpublished();
    let api = "    apiRoutes: [\"/items/articles?limit=20&sort=-id\"]\n";
    assert!(spec.contains(api), "the quickstart's audit section changed");
    let queues = "    queues:\n      - {name: emails, key: \"queue:emails\", failedKey: \"queue:emails:failed\"}\n";
    spec.replace(api, &format!("{api}{queues}"))
}

/// One workload query with constants, as an application sends it.
fn workload_query(i: u64) -> String {
    if i.is_multiple_of(2) {
        format!(
            "SELECT id, name FROM places WHERE category = 'cat-{}'",
            i * 7919 % 5000
        )
    } else {
        let (x, y) = ((i * 37 % 340) as f64 - 170.0, (i * 53 % 160) as f64 - 80.0);
        format!(
            "SELECT count(*) FROM places WHERE ST_DWithin(geom, ST_SetSRID(ST_MakePoint({x}, {y}), 4326), 1.5)"
        )
    }
}

fn audit_json(s: &TestStack, extra: &[&str]) -> Value {
    let mut args = vec![
        "audit",
        "--samples",
        "3",
        "--no-load",
        "--max-duration",
        "5m",
        "-o",
        "json",
    ];
    args.extend_from_slice(extra);
    let out = s.run_ok(&args);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn suggestion<'a>(report: &'a Value, method: &str, column: &str) -> &'a Value {
    report["database"]["missingIndexes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["method"] == method && s["columns"][0] == column && s["table"] == "places")
        .unwrap_or_else(|| panic!("no {method} ({column}) suggested: {:#}", report["database"]))
}

#[test]
fn the_audit_proves_and_applies_the_missing_indexes_and_finds_the_backlog() {
    if !engine_available() {
        return;
    }
    let s = TestStack::new("it-audit-db", &quickstart_spec());
    s.run_ok(&["up"]);
    s.psql(SEED);
    push_jobs(&s.name, "queue:emails", 250);
    for i in 0..12 {
        s.psql(&workload_query(i));
    }

    let report = audit_json(&s, &[]);
    for (method, column) in [("btree", "category"), ("gist", "geom")] {
        let found = suggestion(&report, method, column);
        let proof = &found["proof"];
        assert_eq!(proof["used"], true, "{found:#}");
        assert!(
            proof["costAfter"].as_f64() < proof["costBefore"].as_f64(),
            "{found:#}"
        );
        eprintln!(
            "{method} ({column}) proven by {}: cost {} → {}",
            proof["how"], proof["costBefore"], proof["costAfter"]
        );
    }
    assert_eq!(
        report["queues"][0]["pending"], 250,
        "{:#}",
        report["queues"]
    );
    let verdict = |r: &Value| {
        r["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["check"] == "missing indexes")
            .cloned()
            .unwrap()
    };
    assert_eq!(verdict(&report)["pass"], false);

    // The application keeps querying while the indexes are built and measured again.
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (stop, name) = (stop.clone(), s.name.clone());
        std::thread::spawn(move || {
            let mut i = 100;
            while !stop.load(Ordering::Relaxed) {
                psql(&name, &workload_query(i));
                i += 1;
            }
        })
    };
    let applied = audit_json(&s, &["--apply-indexes"]);
    stop.store(true, Ordering::Relaxed);
    worker.join().unwrap();
    for (method, column) in [("btree", "category"), ("gist", "geom")] {
        let a = &suggestion(&applied, method, column)["applied"];
        let (before, after) = (
            a["meanMsBefore"].as_f64().unwrap(),
            a["meanMsAfter"].as_f64().unwrap_or(f64::NAN),
        );
        eprintln!("{method} ({column}) applied as {} in {:.1} s: {before:.2} ms ({} calls) → {after:.2} ms ({} calls)", a["index"], a["buildSeconds"].as_f64().unwrap(), a["callsBefore"], a["callsAfter"]);
        assert!(after < before / 5.0, "{a:#}");
    }
    assert_eq!(verdict(&applied)["pass"], true);
    let indexes =
        s.psql("SELECT string_agg(indexdef, E'\\n') FROM pg_indexes WHERE tablename = 'places'");
    assert!(
        indexes.contains("USING gist (geom)") && indexes.contains("USING btree (category)"),
        "{indexes}"
    );
}
