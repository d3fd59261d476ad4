//! `appstack cost`: the arithmetic against a price table of round figures, the built-in
//! table on the users' CRM stack, and bad input (exit 2, naming what is wrong).

use std::process::{Command, Output};

use serde_json::Value;

fn appstack(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_appstack"))
        .args(args)
        .output()
        .unwrap()
}

fn json(args: &[&str]) -> Value {
    let out = appstack(args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 0.005
}

fn line<'a>(bill: &'a Value, item: &str) -> &'a Value {
    bill["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"].as_str().unwrap().starts_with(item))
        .unwrap_or_else(|| panic!("no line {item} in {bill}"))
}

#[test]
fn the_arithmetic_follows_the_price_table() {
    let e = json(&[
        "cost",
        "-f",
        "examples/crm.yaml",
        "--prices",
        "tests/cost/prices.yaml",
        "--provider",
        "round",
        "--load-balancer",
        "--no-store",
        "-o",
        "json",
    ]);
    let needs = &e["needs"];
    let bill = &e["bill"];
    // Every total is the sum of its lines.
    for b in [bill, &e["withManagedDatabase"]] {
        let lines = b["lines"].as_array().unwrap();
        let low: f64 = lines.iter().map(|l| l["low"].as_f64().unwrap()).sum();
        let high: f64 = lines.iter().map(|l| l["high"].as_f64().unwrap()).sum();
        assert!(close(low, b["totalLow"].as_f64().unwrap()), "{b}");
        assert!(close(high, b["totalHigh"].as_f64().unwrap()), "{b}");
    }
    // The crm stack reserves ~7 GiB: with 30 % headroom and the OS it needs the 16 GiB
    // plan, priced hourly: 0.1 × 700 h = 70.
    let requests = needs["memoryRequestsGib"].as_f64().unwrap();
    assert!(
        requests * 1.3 + 0.5 > 8.0 && requests * 1.3 + 0.5 <= 16.0,
        "{needs}"
    );
    let compute = line(bill, "Compute");
    assert!(close(compute["low"].as_f64().unwrap(), 70.0), "{compute}");
    assert!(compute["basis"].as_str().unwrap().contains("0.1/h × 700 h"));
    assert_eq!(compute["source"], "https://round.example/vps");
    // Volumes: their GiB × 0.5.
    let gib: f64 = needs["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[1].as_f64().unwrap())
        .sum();
    assert!(close(
        line(bill, "Block")["low"].as_f64().unwrap(),
        gib * 0.5
    ));
    // Backups, not measured: the 50 GiB database volume to 14 copies of it (keepLast 14):
    // 3 + 0 above the 100 GiB included, then 3 + (700 − 100) × 1.
    let s3 = line(bill, "Object");
    assert!(close(s3["low"].as_f64().unwrap(), 3.0), "{s3}");
    assert!(close(s3["high"].as_f64().unwrap(), 603.0), "{s3}");
    assert!(close(
        line(bill, "Load balancer")["low"].as_f64().unwrap(),
        7.0
    ));
    // The managed alternative: the database's 4 GiB limit → db-4 (40) + 30 GiB beyond its
    // 20 GiB storage × 0.5 = 55.
    let db = line(&e["withManagedDatabase"], "Managed PostgreSQL");
    assert!(close(db["low"].as_f64().unwrap(), 55.0), "{db}");
    assert_eq!(db["source"], "https://round.example/db");
}

#[test]
fn the_crm_table_has_the_users_lines_and_a_range() {
    let out = appstack(&[
        "cost",
        "-f",
        "examples/crm.yaml",
        "--load-balancer",
        "--no-store",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for item in [
        "Compute",
        "Block storage",
        "Object storage",
        "Load balancer",
        "Managed PostgreSQL",
        "**Total**",
    ] {
        assert!(text.contains(item), "{item} missing:\n{text}");
    }
    assert!(text.contains("data/prices.yaml"), "{text}");
    // Every provider of the built-in table prices the same stack.
    for p in ["digitalocean", "lightsail", "hetzner"] {
        let e = json(&[
            "cost",
            "-f",
            "examples/crm.yaml",
            "--provider",
            p,
            "--no-store",
            "-o",
            "json",
        ]);
        assert!(e["bill"]["totalLow"].as_f64().unwrap() > 0.0, "{p}: {e}");
        assert!(e["bill"]["totalLow"].as_f64() <= e["bill"]["totalHigh"].as_f64());
    }
}

#[test]
fn a_kubernetes_pool_holds_the_pods_requests() {
    let e = json(&[
        "cost",
        "-f",
        "examples/crm.yaml",
        "--prices",
        "tests/cost/prices.yaml",
        "--provider",
        "round",
        "--runtime",
        "kubernetes",
        "--no-store",
        "-o",
        "json",
    ]);
    let compute = line(&e["bill"], "Compute (node pool)");
    let basis = compute["basis"].as_str().unwrap();
    assert!(basis.contains(" × "), "{basis}");
    assert!(compute["low"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_input_exits_2_naming_what_is_wrong() {
    let out = appstack(&["cost", "-f", "examples/crm.yaml", "--provider", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--provider nowhere") && err.contains("digitalocean"),
        "{err}"
    );

    let dir = std::env::temp_dir().join(format!("appstack-cost-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("prices.yaml");
    let text = std::fs::read_to_string("tests/cost/prices.yaml")
        .unwrap()
        .replace("perGiBMonth: 0.5", "perGiBMonth: -1");
    std::fs::write(&bad, text).unwrap();
    let out = appstack(&[
        "cost",
        "-f",
        "examples/crm.yaml",
        "--prices",
        bad.to_str().unwrap(),
        "--provider",
        "round",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(bad.to_str().unwrap())
            && err.contains("providers.round.blockStorage.perGiBMonth"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
