//! `appstack audit` on the quickstart (its page and the CMS API call the page makes) ends
//! within `--max-duration` and prints the capacity table — browsing, heavy use and peak at
//! 50/100/200 users, each with requests/s, p95, CPU, RAM, a verdict and the named
//! bottleneck; `--verify heavy:100` runs that row's load for real and reports the measured
//! p95 and throughput beside the prediction. The throughput must match (±20 %); the p95's
//! deviation is printed, not asserted: on this stack the p95 of one same load moves by
//! more than a fifth between windows (three 45 s runs of 50 users on the page gave 56.8,
//! 41.1 and 47.6 ms), and with this test's 3 minute bound the row's step lasts 11 s and
//! the verification 57 s; two runs so gave −32.5 and −4.4 %, against +7.9, +17.3, −17.8,
//! −9.1, −22.3 and +10.0 % with the default bound's 90 s verification (docs/audit.md).

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn cms_url(stack: &str) -> String {
    let ip = docker_ok(&[
        "inspect",
        "-f",
        "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}",
        &format!("{stack}-cms"),
    ]);
    format!("http://{}:8055", ip.split_whitespace().next().unwrap())
}

#[test]
fn the_capacity_table_names_a_bottleneck_and_a_verified_row_is_measured_beside_its_prediction() {
    if !engine_available() {
        return;
    }
    let s = TestStack::new("it-audit-cap", &quickstart_unpublished());
    s.run_ok(&["up"]);
    // The collection the page renders and the API route reads, as the quickstart makes it.
    let password = s
        .state_dir()
        .join("stacks/it-audit-cap/secrets/cms/admin-password");
    let demo = Command::new("python3")
        .arg("scripts/quickstart-demo.py")
        .arg(cms_url(&s.name))
        .arg("admin@example.com")
        .arg(&password)
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );

    let out_dir = s.dir.path().join("report");
    let out = s.run_ok(&[
        "audit",
        "--samples",
        "5",
        "--max-duration",
        "3m",
        "--verify",
        "heavy:100",
        "-o",
        "json",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let seconds = r["seconds"].as_f64().unwrap();
    eprintln!("audit took {seconds:.0} s");
    assert!(seconds <= 180.0, "{seconds} s");

    let cap = &r["capacity"];
    let rows = cap["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("{:#}", r["capacityError"]));
    let mut seen = Vec::new();
    for row in rows {
        eprintln!(
            "{} {} users: {:.1} req/s, p95 {:.0} ms, CPU {:.0} %, {} MiB, {} — {}",
            row["scenario"].as_str().unwrap(),
            row["users"],
            row["rps"].as_f64().unwrap(),
            row["p95Ms"].as_f64().unwrap(),
            row["cpuPercent"].as_f64().unwrap(),
            row["stackMemoryBytes"].as_u64().unwrap() >> 20,
            row["verdict"],
            row["bottleneck"].as_str().unwrap()
        );
        assert!(!row["bottleneck"].as_str().unwrap().is_empty());
        assert!(row["rps"].as_f64().unwrap() > 0.0);
        seen.push((
            row["scenario"].as_str().unwrap().to_string(),
            row["users"].as_u64().unwrap(),
        ));
    }
    for scenario in ["browsing", "heavy", "peak"] {
        for users in [50, 100, 200] {
            assert!(
                seen.contains(&(scenario.to_string(), users)),
                "{scenario} {users} missing"
            );
        }
    }
    for curve in cap["curves"].as_array().unwrap() {
        assert!(curve["steps"].as_array().unwrap().len() >= 3, "{curve:#}");
        assert!(!curve["bottleneck"].as_str().unwrap().is_empty());
    }

    let v = &cap["verification"];
    eprintln!(
        "verified heavy:100: p95 predicted {:.1} ms, measured {:.1} ms ({:+.1} %); req/s predicted {:.1}, measured {:.1}; {} sent, {} failed",
        v["predictedP95Ms"].as_f64().unwrap(),
        v["measuredP95Ms"].as_f64().unwrap(),
        v["deviationPercent"].as_f64().unwrap(),
        v["predictedRps"].as_f64().unwrap(),
        v["measuredRps"].as_f64().unwrap(),
        v["sent"],
        v["failed"]
    );
    assert_eq!(v["failed"], 0, "{v:#}");
    let (predicted, measured) = (
        v["predictedRps"].as_f64().unwrap(),
        v["measuredRps"].as_f64().unwrap(),
    );
    assert!((measured - predicted).abs() <= 0.2 * predicted, "{v:#}");
    assert!(
        v["measuredP95Ms"].as_f64().unwrap() > 0.0 && v["within"].is_boolean(),
        "{v:#}"
    );

    let md = std::fs::read_to_string(out_dir.join("audit.md")).unwrap();
    assert!(
        md.contains("## Capacity") && md.contains("| heavy | 100 |"),
        "{md}"
    );
    for chart in ["capacity-latency.svg", "capacity-cpu.svg"] {
        let svg = std::fs::read_to_string(out_dir.join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("<polyline"),
            "{chart}"
        );
    }
}
