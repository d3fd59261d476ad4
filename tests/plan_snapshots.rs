//! Whole-object tests of the plan: the complete plan of each example, compared as JSON with
//! a committed snapshot. `UPDATE_SNAPSHOTS=1 cargo test --test plan_snapshots` rewrites them
//! after an intended change; review the diff.

use appstack::api::{load::load_file, validate::validate};
use appstack::plan::build;

fn check(example: &str, snapshot: &str) {
    let stack = load_file(std::path::Path::new(example)).unwrap();
    let plan = build(&validate(&stack, example).unwrap());
    let actual = serde_json::to_string_pretty(&plan).unwrap() + "\n";
    let path = format!("tests/snapshots/{snapshot}");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "plan of {example} differs from {path} at line {}:\n  snapshot: {}\n  actual:   {}\n(UPDATE_SNAPSHOTS=1 to accept)",
            first + 1,
            expected.lines().nth(first).unwrap_or(""),
            actual.lines().nth(first).unwrap_or("")
        );
    }
}

#[test]
fn quickstart_plan() {
    check("examples/quickstart.yaml", "plan-quickstart.json");
}

#[test]
fn crm_plan() {
    check("examples/crm.yaml", "plan-crm.json");
}
