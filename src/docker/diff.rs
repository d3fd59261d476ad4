//! Desired (plan + hashes) vs observed containers → the steps that converge them (pure).

use std::collections::BTreeMap;

use super::engine::ObservedContainer;
use crate::plan::Plan;

/// Suffix of a container being prepared; a leftover one is from an interrupted run.
pub const PENDING_SUFFIX: &str = "-new";
/// Suffix of the stopped previous version of a blue/green component, kept for `rollback`.
pub const PREVIOUS_SUFFIX: &str = "-prev";

/// One change to a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create, fill and start a missing component.
    Create { component: String },
    /// Replace a component whose spec hash changed.
    Recreate { component: String, old_hash: String },
    /// Start an existing, up-to-date container that is not running.
    Start { component: String },
    /// Remove a container that no component owns (disabled component, leftover).
    Remove {
        container: String,
        reason: &'static str,
    },
}

impl Step {
    pub fn component(&self) -> Option<&str> {
        match self {
            Step::Create { component }
            | Step::Recreate { component, .. }
            | Step::Start { component } => Some(component),
            Step::Remove { .. } => None,
        }
    }

    pub fn verb(&self) -> &'static str {
        match self {
            Step::Create { .. } => "create",
            Step::Recreate { .. } => "recreate",
            Step::Start { .. } => "start",
            Step::Remove { .. } => "remove",
        }
    }
}

/// Computes the steps; `hashes` maps component → desired container hash.
pub fn diff(
    plan: &Plan,
    hashes: &BTreeMap<String, String>,
    observed: &[ObservedContainer],
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut by_name: BTreeMap<&str, &ObservedContainer> = BTreeMap::new();
    for o in observed {
        by_name.insert(o.name.as_str(), o);
    }
    for o in observed {
        let owned = plan.components.iter().any(|c| {
            let name = plan.object_name(&c.name);
            name == o.name
                || (o.name == format!("{name}{PREVIOUS_SUFFIX}") && o.component == c.name)
        });
        if owned {
            continue;
        }
        let reason = if o.name.ends_with(PENDING_SUFFIX) {
            "left over from an interrupted run"
        } else {
            "not in the spec"
        };
        steps.push(Step::Remove {
            container: o.name.clone(),
            reason,
        });
    }
    for c in &plan.components {
        let name = plan.object_name(&c.name);
        let want = hashes.get(&c.name).cloned().unwrap_or_default();
        let prev = by_name.get(format!("{name}{PREVIOUS_SUFFIX}").as_str());
        match by_name.get(name.as_str()) {
            None => steps.push(Step::Create {
                component: c.name.clone(),
            }),
            // An operator rolled back from the version the spec still asks for: held until
            // the spec changes (or `deploy`/`rollback` moves it again).
            Some(o)
                if o.spec_hash.as_deref() != Some(want.as_str())
                    && prev.is_some_and(|p| rolled_back_from(p, &want)) => {}
            Some(o) if o.spec_hash.as_deref() != Some(want.as_str()) => {
                steps.push(Step::Recreate {
                    component: c.name.clone(),
                    old_hash: o.spec_hash.clone().unwrap_or_default(),
                })
            }
            // `docker pause` is an operator's deliberate act (and keeps the process's memory):
            // left as it is; the stack's SiteDown/TargetDown alerts say what it costs.
            Some(o) if o.state == "paused" => {}
            Some(o) if o.state != "running" && o.state != "restarting" => steps.push(Step::Start {
                component: c.name.clone(),
            }),
            Some(_) => {}
        }
    }
    steps
}

/// Whether the kept previous container is the version `want` names, stopped: what a
/// rollback leaves.
fn rolled_back_from(prev: &ObservedContainer, want: &str) -> bool {
    prev.spec_hash.as_deref() == Some(want) && prev.state != "running"
}

/// Components held at an older version by `rollback` (the spec's version is the one
/// rolled back from): `plan` and `status` say so.
pub fn held_back(
    plan: &Plan,
    hashes: &BTreeMap<String, String>,
    observed: &[ObservedContainer],
) -> Vec<String> {
    plan.components
        .iter()
        .filter(|c| {
            let name = plan.object_name(&c.name);
            let want = hashes.get(&c.name).map(String::as_str).unwrap_or_default();
            let current = observed.iter().find(|o| o.name == name);
            let prev = observed
                .iter()
                .find(|o| o.name == format!("{name}{PREVIOUS_SUFFIX}"));
            current.is_some_and(|o| o.spec_hash.as_deref() != Some(want))
                && prev.is_some_and(|p| rolled_back_from(p, want))
        })
        .map(|c| c.name.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::engine::Health;
    use crate::plan::build;

    fn plan() -> Plan {
        let text = include_str!("../../examples/quickstart.yaml");
        let stack = crate::api::load::parse_str(text, "q").unwrap();
        build(&crate::api::validate::validate(&stack, "q").unwrap())
    }

    fn obs(name: &str, hash: &str, state: &str) -> ObservedContainer {
        ObservedContainer {
            id: name.into(),
            name: name.into(),
            component: name.trim_start_matches("quickstart-").into(),
            spec_hash: Some(hash.into()),
            state: state.into(),
            health: Health::Healthy,
            image: String::new(),
        }
    }

    fn hashes(p: &Plan) -> BTreeMap<String, String> {
        p.components
            .iter()
            .map(|c| (c.name.clone(), format!("h-{}", c.name)))
            .collect()
    }

    #[test]
    fn fresh_stack_creates_everything_in_order() {
        let p = plan();
        let steps = diff(&p, &hashes(&p), &[]);
        let names: Vec<&str> = steps.iter().filter_map(Step::component).collect();
        assert_eq!(
            names,
            vec![
                "database",
                "wal-receiver",
                "cache",
                "cms",
                "frontend",
                "prometheus",
                "node-exporter",
                "blackbox-exporter",
                "postgres-exporter",
                "redis-exporter",
                "alertmanager"
            ]
        );
        assert!(steps.iter().all(|s| matches!(s, Step::Create { .. })));
    }

    #[test]
    fn converged_stack_needs_nothing() {
        let p = plan();
        let h = hashes(&p);
        let observed: Vec<_> = p
            .components
            .iter()
            .map(|c| obs(&p.object_name(&c.name), &h[&c.name], "running"))
            .collect();
        assert_eq!(diff(&p, &h, &observed), vec![]);
    }

    #[test]
    fn a_paused_container_is_left_paused() {
        let p = plan();
        let h = hashes(&p);
        let observed: Vec<_> = p
            .components
            .iter()
            .map(|c| {
                let state = if c.name == "frontend" {
                    "paused"
                } else {
                    "running"
                };
                obs(&p.object_name(&c.name), &h[&c.name], state)
            })
            .collect();
        assert_eq!(diff(&p, &h, &observed), vec![]);
    }

    #[test]
    fn changed_hash_stopped_container_orphan_and_leftover() {
        let p = plan();
        let h = hashes(&p);
        let mut observed: Vec<_> = p
            .components
            .iter()
            .map(|c| obs(&p.object_name(&c.name), &h[&c.name], "running"))
            .collect();
        let at = |name: &str| p.components.iter().position(|c| c.name == name).unwrap();
        observed[at("cms")].spec_hash = Some("old".into());
        observed[at("cache")].state = "exited".into();
        observed.push(obs("quickstart-worker", "x", "running"));
        observed.push(obs("quickstart-cms-new", "x", "created"));
        let steps = diff(&p, &h, &observed);
        assert_eq!(
            steps,
            vec![
                Step::Remove {
                    container: "quickstart-worker".into(),
                    reason: "not in the spec"
                },
                Step::Remove {
                    container: "quickstart-cms-new".into(),
                    reason: "left over from an interrupted run"
                },
                Step::Start {
                    component: "cache".into()
                },
                Step::Recreate {
                    component: "cms".into(),
                    old_hash: "old".into()
                },
            ]
        );
    }
}
