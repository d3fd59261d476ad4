//! `promtool test rules` tests generated from each rule's scenario (`alert_rules`): the
//! inputs are healthy for 10 minutes, bad for 20, healthy for 20. Every rule is checked to
//! be silent before its `for` has passed, firing after it, and resolved once the inputs are
//! healthy again; and to stay silent when its inputs sit just on the safe side of the
//! threshold for the whole time.

use serde_json::{json, Value};

use super::alert_rules::{AlertRule, Series};

const HEALTHY_BEFORE: u32 = 10;
const BAD: u32 = 20;
const HEALTHY_AFTER: u32 = 20;

/// One value per minute of the 50-minute timeline, in promtool's expanding notation.
fn values(s: &Series) -> String {
    let (before, bad, after) = (HEALTHY_BEFORE - 1, BAD - 1, HEALTHY_AFTER - 1);
    match *s {
        Series::Gauge { healthy, bad: b } => {
            format!("{healthy}+0x{before} {b}+0x{bad} {healthy}+0x{after}")
        }
        Series::Counter { healthy, bad: b } => {
            // Each phase continues from the last value of the one before.
            let end_before = healthy * f64::from(before);
            let start_bad = end_before + b;
            let end_bad = start_bad + b * f64::from(bad);
            let start_after = end_bad + healthy;
            format!("0+{healthy}x{before} {start_bad}+{b}x{bad} {start_after}+{healthy}x{after}")
        }
        Series::Blip { healthy, bad: b } => {
            let rest = BAD + HEALTHY_AFTER - 2;
            format!("{healthy}+0x{before} {b} {healthy}+0x{rest}")
        }
    }
}

/// The summary as promtool renders it for the expected labels.
fn rendered_summary(r: &AlertRule) -> String {
    let mut s = r.summary.clone();
    for (k, v) in &r.labels {
        s = s.replace(&format!("{{{{ $labels.{k} }}}}"), v);
    }
    s
}

fn expected(r: &AlertRule) -> Value {
    let mut labels = serde_json::Map::new();
    for (k, v) in &r.labels {
        labels.insert(k.clone(), json!(v));
    }
    labels.insert("severity".into(), json!(r.severity));
    json!([{"exp_labels": labels, "exp_annotations": {"summary": rendered_summary(r)}}])
}

fn check(r: &AlertRule, minute: u32, alerts: Value) -> Value {
    json!({"eval_time": format!("{minute}m"), "alertname": r.name, "exp_alerts": alerts})
}

fn inputs(r: &AlertRule, below: bool) -> Value {
    r.inputs
        .iter()
        .map(|i| {
            json!({"series": i.series, "values": values(if below { &i.below } else { &i.firing })})
        })
        .collect()
}

/// The tests of one rule.
fn rule_tests(r: &AlertRule) -> Vec<Value> {
    if r.inputs.is_empty() {
        return vec![json!({
            "name": format!("{} is always firing", r.name),
            "interval": "1m",
            "alert_rule_test": [check(r, 0, expected(r)), check(r, 30, expected(r))],
        })];
    }
    let fires_at = HEALTHY_BEFORE + r.lag_minutes + r.for_minutes + 1;
    let mut firing = Vec::new();
    if r.for_minutes > 0 {
        firing.push(check(r, HEALTHY_BEFORE + r.for_minutes - 1, json!([])));
    }
    firing.push(check(r, fires_at, expected(r)));
    firing.push(check(
        r,
        HEALTHY_BEFORE + BAD + r.lag_minutes + 2,
        json!([]),
    ));
    vec![
        json!({
            "name": format!("{} fires after {}m at the threshold and resolves", r.name, r.for_minutes),
            "interval": "1m",
            "input_series": inputs(r, false),
            "alert_rule_test": firing,
        }),
        json!({
            "name": format!("{} stays silent just below the threshold", r.name),
            "interval": "1m",
            "input_series": inputs(r, true),
            "alert_rule_test": [check(r, fires_at, json!([])), check(r, HEALTHY_BEFORE + BAD - 1, json!([]))],
        }),
    ]
}

/// rules_test.yml for `promtool test rules`, beside rules.yml.
pub fn rules_test_yml(rules: &[AlertRule]) -> String {
    let doc = json!({
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": rules.iter().flat_map(rule_tests).collect::<Vec<_>>(),
    });
    format!(
        "# Rendered by appstack: `promtool test rules rules_test.yml` beside rules.yml.\n{}",
        serde_norway::to_string(&doc).unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_continues_across_phases() {
        let v = values(&Series::Counter {
            healthy: 60.0,
            bad: 9.0,
        });
        assert_eq!(v, "0+60x9 549+9x19 780+60x19");
    }

    #[test]
    fn a_blip_is_one_sample() {
        let v = values(&Series::Blip {
            healthy: 1.0,
            bad: 0.0,
        });
        assert_eq!(v, "1+0x9 0 1+0x38");
    }
}
