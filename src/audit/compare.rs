//! `--compare PREVIOUS.json`: this audit beside an earlier one, check by check against the
//! targets, and the capacity rows' p95 before and after — the users' implementation report.

use std::fmt::Write;

use serde::Serialize;
use serde_json::Value;

use super::AuditReport;

/// One check before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckChange {
    pub check: String,
    pub target: String,
    pub before: Option<String>,
    pub before_pass: Option<bool>,
    pub after: Option<String>,
    pub after_pass: Option<bool>,
}

/// One capacity row's p95 before and after.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowChange {
    pub scenario: String,
    pub users: u64,
    pub before_p95_ms: Option<f64>,
    pub after_p95_ms: Option<f64>,
    pub before_rps: Option<f64>,
    pub after_rps: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Comparison {
    pub previous_started_at: Option<String>,
    pub checks: Vec<CheckChange>,
    pub rows: Vec<RowChange>,
}

/// Why a previous report cannot be compared with.
pub fn check_shape(previous: &Value) -> Result<(), String> {
    if previous.get("verdicts").and_then(Value::as_array).is_none() {
        return Err("expected an `appstack audit -o json` report (no `verdicts` list)".into());
    }
    Ok(())
}

pub fn compare(previous: &Value, now: &AuditReport) -> Comparison {
    let before: Vec<&Value> = previous["verdicts"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let mut checks: Vec<CheckChange> = now
        .verdicts
        .iter()
        .map(|v| {
            let b = before.iter().find(|p| p["check"] == v.check.as_str());
            CheckChange {
                check: v.check.clone(),
                target: v.target.clone(),
                before: b.and_then(|p| p["measured"].as_str()).map(str::to_string),
                before_pass: b.and_then(|p| p["pass"].as_bool()),
                after: Some(v.measured.clone()),
                after_pass: Some(v.pass),
            }
        })
        .collect();
    for p in &before {
        let name = p["check"].as_str().unwrap_or_default();
        if !checks.iter().any(|c| c.check == name) {
            checks.push(CheckChange {
                check: name.to_string(),
                target: p["target"].as_str().unwrap_or_default().to_string(),
                before: p["measured"].as_str().map(str::to_string),
                before_pass: p["pass"].as_bool(),
                after: None,
                after_pass: None,
            });
        }
    }
    let old_rows: Vec<&Value> = previous["capacity"]["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let rows = now
        .capacity
        .iter()
        .flat_map(|c| c.rows.iter())
        .map(|r| {
            let b = old_rows
                .iter()
                .find(|p| p["scenario"] == r.scenario.as_str() && p["users"] == r.users);
            RowChange {
                scenario: r.scenario.clone(),
                users: u64::from(r.users),
                before_p95_ms: b.and_then(|p| p["p95Ms"].as_f64()),
                after_p95_ms: Some(r.point.p95_ms),
                before_rps: b.and_then(|p| p["rps"].as_f64()),
                after_rps: Some(r.point.rps),
            }
        })
        .collect();
    Comparison {
        previous_started_at: previous["startedAt"].as_str().map(str::to_string),
        checks,
        rows,
    }
}

pub fn markdown(o: &mut String, c: &Comparison) {
    let since = c
        .previous_started_at
        .as_deref()
        .unwrap_or("the previous audit");
    let _ = writeln!(
        o,
        "\n## Before and after (against {since})\n\n| Check | Target | Before | After | |\n|---|---|---|---|---|"
    );
    let mark = |p: Option<bool>| match p {
        Some(true) => "✅",
        Some(false) => "❌",
        None => "–",
    };
    for ch in &c.checks {
        let _ = writeln!(
            o,
            "| {} | {} | {} {} | {} | {} |",
            ch.check,
            ch.target,
            ch.before.as_deref().unwrap_or("–"),
            mark(ch.before_pass),
            ch.after.as_deref().unwrap_or("–"),
            mark(ch.after_pass)
        );
    }
    let passed = c
        .checks
        .iter()
        .filter(|x| x.after_pass == Some(true))
        .count();
    let passed_before = c
        .checks
        .iter()
        .filter(|x| x.before_pass == Some(true))
        .count();
    let _ = writeln!(
        o,
        "\n{passed} of {} checks pass (before: {passed_before}).",
        c.checks.len()
    );
    if c.rows.iter().any(|r| r.before_p95_ms.is_some()) {
        let _ = writeln!(o, "\n| Scenario | Users | p95 before | p95 after | Requests/s before | after |\n|---|---:|---:|---:|---:|---:|");
        let f = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.0}"));
        for r in &c.rows {
            let _ = writeln!(
                o,
                "| {} | {} | {} ms | {} ms | {} | {} |",
                r.scenario,
                r.users,
                f(r.before_p95_ms),
                f(r.after_p95_ms),
                f(r.before_rps),
                f(r.after_rps)
            );
        }
    }
}
