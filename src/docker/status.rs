//! Observed containers → `AppStackStatus` (pure).

use crate::api::status::{AppStackStatus, ComponentStatus, Phase};
use crate::plan::Plan;

use super::engine::{Health, ObservedContainer};

/// The status of a stack from what the engine shows.
pub fn stack_status(plan: &Plan, observed: &[ObservedContainer]) -> AppStackStatus {
    let mut status = AppStackStatus::default();
    let mut all_ready = true;
    let mut any_failed = false;
    let mut any_present = false;
    for c in &plan.components {
        let name = plan.object_name(&c.name);
        let s = match observed.iter().find(|o| o.name == name) {
            Some(o) => {
                any_present = true;
                let ready = o.state == "running" && (o.health == Health::Healthy || (c.health.is_none() && o.health == Health::None));
                all_ready &= ready;
                any_failed |= o.health == Health::Unhealthy || matches!(o.state.as_str(), "exited" | "dead");
                ComponentStatus {
                    state: o.state.clone(),
                    health: o.health.as_str().to_string(),
                    image: o.image.clone(),
                    replicas: Some(format!("{}/1", u8::from(ready))),
                    restarts: 0,
                    message: None,
                }
            }
            None => {
                all_ready = false;
                ComponentStatus { state: "missing".into(), health: "none".into(), image: c.image.clone(), replicas: Some("0/1".into()), restarts: 0, message: None }
            }
        };
        status.components.insert(c.name.clone(), s);
    }
    status.phase = if !any_present {
        Phase::Pending
    } else if all_ready {
        Phase::Ready
    } else if any_failed {
        Phase::Degraded
    } else {
        Phase::Progressing
    };
    status
}
