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
                let ready = o.state == "running"
                    && (o.health == Health::Healthy
                        || (c.health.is_none() && o.health == Health::None));
                all_ready &= ready;
                any_failed |=
                    o.health == Health::Unhealthy || matches!(o.state.as_str(), "exited" | "dead");
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
                ComponentStatus {
                    state: "missing".into(),
                    health: "none".into(),
                    image: c.image.clone(),
                    replicas: Some("0/1".into()),
                    restarts: 0,
                    message: None,
                }
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

/// Observes the stack's serving containers; a container whose engine health is still "starting" (the engine only
/// probes once per interval) gets the same health command run now, so `status` agrees with
/// what `up` just saw.
pub async fn observe<E: super::Engine>(
    engine: &E,
    plan: &Plan,
) -> Result<Vec<ObservedContainer>, super::DockerError> {
    let mut observed = engine.list_containers(&plan.stack).await?;
    // Each component's serving container: not the previous version kept for `rollback`, a
    // replacement still booting or a migration's one-off container.
    observed.retain(|o| o.name == plan.object_name(&o.component));
    let probes = observed
        .iter()
        .enumerate()
        .filter(|(_, o)| o.health == Health::Starting && o.state == "running")
        .filter_map(|(i, o)| {
            let argv = plan
                .component(&o.component)
                .and_then(super::health::probe_argv)?;
            let name = o.name.clone();
            Some(async move { (i, engine.exec(&name, argv).await) })
        });
    for (i, result) in futures::future::join_all(probes).await {
        if matches!(result, Ok(ref out) if out.exit_code == 0) {
            if let Some(o) = observed.get_mut(i) {
                o.health = Health::Healthy;
            }
        }
    }
    Ok(observed)
}
