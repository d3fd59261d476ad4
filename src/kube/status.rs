//! The AppStack status from what the reconcile saw (pure): phase, per-component readiness
//! from the workloads' own status, and the conditions. Transition times move only when a
//! condition's status changes (the shared conditions helper), so an unchanged world
//! produces an identical status and no patch.

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use std::collections::BTreeMap;

use crate::api::conditions::{set_condition, Clock, Observation};
use crate::api::status::{AppStackStatus, ComponentStatus, Phase};
use crate::plan::LABEL_COMPONENT;
use crate::protect::verdicts::{backup_health, last_drill, wal_shipping, Protection};

/// Ready and desired replicas of one workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub ready: i32,
    pub desired: i32,
}

/// Readiness by component name, from the stack's Deployments and StatefulSets.
pub fn readiness(
    deployments: &[Deployment],
    stateful_sets: &[StatefulSet],
) -> BTreeMap<String, Readiness> {
    let from_deployments = deployments.iter().map(|d| {
        let spec = d.spec.as_ref().and_then(|s| s.replicas);
        let ready = d.status.as_ref().and_then(|s| s.ready_replicas);
        (&d.metadata, spec, ready)
    });
    let from_stateful_sets = stateful_sets.iter().map(|s| {
        let spec = s.spec.as_ref().and_then(|s| s.replicas);
        let ready = s.status.as_ref().and_then(|s| s.ready_replicas);
        (&s.metadata, spec, ready)
    });
    from_deployments
        .chain(from_stateful_sets)
        .filter_map(|(meta, desired, ready)| {
            let component = meta.labels.as_ref()?.get(LABEL_COMPONENT)?.clone();
            let r = Readiness {
                ready: ready.unwrap_or(0),
                desired: desired.unwrap_or(1),
            };
            Some((component, r))
        })
        .collect()
}

/// The status after a successful apply.
pub fn applied(
    previous: Option<&AppStackStatus>,
    generation: Option<i64>,
    components: &BTreeMap<String, Readiness>,
    protection: &Protection,
    clock: &dyn Clock,
) -> AppStackStatus {
    let mut st = previous.cloned().unwrap_or_default();
    st.observed_generation = generation;
    st.components = components
        .iter()
        .map(|(name, r)| {
            let healthy = r.ready >= r.desired;
            (
                name.clone(),
                ComponentStatus {
                    state: if r.ready > 0 { "running" } else { "starting" }.into(),
                    health: if healthy { "healthy" } else { "starting" }.into(),
                    image: st
                        .components
                        .get(name)
                        .map(|c| c.image.clone())
                        .unwrap_or_default(),
                    replicas: Some(format!("{}/{}", r.ready, r.desired)),
                    restarts: 0,
                    message: None,
                },
            )
        })
        .collect();
    let waiting: Vec<&str> = components
        .iter()
        .filter(|(_, r)| r.ready < r.desired)
        .map(|(n, _)| n.as_str())
        .collect();
    let ready = waiting.is_empty();
    st.phase = if ready {
        Phase::Ready
    } else {
        Phase::Progressing
    };
    let mut set = |type_, status, reason, message: String| {
        set_condition(
            &mut st.conditions,
            Observation {
                type_,
                status,
                reason,
                message,
            },
            generation,
            clock,
        );
    };
    let waiting_msg = format!("waiting for {}", waiting.join(", "));
    set(
        "Ready",
        Some(ready),
        if ready { "AllReady" } else { "Waiting" },
        if ready {
            "every component is ready".into()
        } else {
            waiting_msg.clone()
        },
    );
    // Progressing is about the rollout, not about this pass: an apply that changed nothing
    // must leave the status identical.
    set(
        "Progressing",
        Some(!ready),
        if ready { "Stable" } else { "Rolling" },
        if ready { String::new() } else { waiting_msg },
    );
    set("Degraded", Some(false), "AsExpected", String::new());
    let facts = st.recoverability.clone().unwrap_or_default();
    let now = clock.now();
    let (status, reason, message) = backup_health(&facts, protection, now);
    set("BackupHealthy", status, reason, message);
    let (status, reason, message) = wal_shipping(&facts, protection, now);
    set("WalShipping", status, reason, message);
    let (status, reason, message) = last_drill(&facts, protection, now);
    set("LastDrillPassed", status, reason, message);
    unobserved(&mut st, generation, clock);
    st
}

/// The status of an invalid spec: nothing applied until it changes.
pub fn invalid(
    previous: Option<&AppStackStatus>,
    generation: Option<i64>,
    message: String,
    clock: &dyn Clock,
) -> AppStackStatus {
    with_conditions(
        previous,
        generation,
        Phase::Invalid,
        [
            ("Ready", false, "InvalidSpec", message),
            (
                "Progressing",
                false,
                "InvalidSpec",
                "waiting for a corrected spec".into(),
            ),
        ],
        clock,
    )
}

/// The status after a failed apply.
pub fn failed(
    previous: Option<&AppStackStatus>,
    generation: Option<i64>,
    message: String,
    clock: &dyn Clock,
) -> AppStackStatus {
    with_conditions(
        previous,
        generation,
        Phase::Degraded,
        [("Degraded", true, "ApplyFailed", message)],
        clock,
    )
}

/// `previous` moved to `phase` with the given (type, status, reason, message) conditions.
fn with_conditions<const N: usize>(
    previous: Option<&AppStackStatus>,
    generation: Option<i64>,
    phase: Phase,
    conditions: [(&str, bool, &str, String); N],
    clock: &dyn Clock,
) -> AppStackStatus {
    let mut st = previous.cloned().unwrap_or_default();
    st.observed_generation = generation;
    st.phase = phase;
    for (type_, status, reason, message) in conditions {
        let obs = Observation {
            type_,
            status: Some(status),
            reason,
            message,
        };
        set_condition(&mut st.conditions, obs, generation, clock);
    }
    unobserved(&mut st, generation, clock);
    st
}

/// Conditions a status does not decide keep their value, or start as Unknown.
fn unobserved(st: &mut AppStackStatus, generation: Option<i64>, clock: &dyn Clock) {
    for type_ in ["BackupHealthy", "WalShipping", "LastDrillPassed"] {
        if !st.conditions.iter().any(|c| c.type_ == type_) {
            set_condition(
                &mut st.conditions,
                Observation {
                    type_,
                    status: None,
                    reason: "NotObservedYet",
                    message: String::new(),
                },
                generation,
                clock,
            );
        }
    }
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
