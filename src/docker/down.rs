//! Taking a stack down: its containers (dependents first), its network, and its volumes
//! only when asked.

use super::engine::{Engine, ObservedContainer};
use super::error::{ignore_not_found, DockerError};
use super::progress::Reporter;
use crate::plan::names::network_name;
use crate::plan::Plan;
use crate::plan::Tier;

/// Stops and removes every container of the stack (dependents first), then its network.
/// Volumes are removed only when `volumes` is true.
pub async fn down<E: Engine>(
    engine: &E,
    plan: &Plan,
    volumes: bool,
    reporter: &dyn Reporter,
) -> Result<usize, DockerError> {
    let observed = engine.list_containers(&plan.stack).await?;
    let order: Vec<String> = plan
        .components
        .iter()
        .rev()
        .map(|c| plan.object_name(&c.name))
        .collect();
    let mut removed = 0;
    // Dependents first: containers in reverse plan order, then anything else of the stack.
    let mut names: Vec<&ObservedContainer> = observed.iter().collect();
    names.sort_by_key(|o| {
        order
            .iter()
            .position(|n| *n == o.name)
            .unwrap_or(usize::MAX)
    });
    for o in names {
        let grace = plan
            .component(&o.component)
            .map_or(10, |c| c.stop_grace_secs);
        reporter.report(&o.component, "stopping");
        ignore_not_found(engine.stop(&o.name, grace).await)?;
        ignore_not_found(engine.remove(&o.name).await)?;
        removed += 1;
    }
    for tier in [Tier::App, Tier::Data] {
        ignore_not_found(
            engine
                .remove_network(&network_name(&plan.stack, tier))
                .await,
        )?;
    }
    if volumes {
        for v in engine.list_volumes(&plan.stack).await? {
            reporter.report(&v, "removing volume");
            ignore_not_found(engine.remove_volume(&v).await)?;
        }
    }
    Ok(removed)
}
