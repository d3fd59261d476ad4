//! Executes a diff: preflight (images, ports) before any change, then every component as
//! its own task that waits for its dependencies' conditions, performs its step and reports
//! readiness. Independent components proceed concurrently.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{join_all, try_join_all};
use futures::StreamExt;
use tokio::sync::{broadcast, watch};

use super::diff::{diff, Step, PENDING_SUFFIX};
use super::engine::{Engine, EngineEvent, Health, ObservedContainer};
use super::error::{ignore_not_found, DockerError};
use super::health::wait_healthy;
use super::preflight::{port_error, preflight};
use super::progress::Reporter;
use super::render::{container_body, container_hash, files_tars, later_networks};
use super::tiers::{awaited_components, dependents, lead_components, Countdown};
use crate::plan::names::{network_name, volume_name};
use crate::plan::{Component, Condition, Plan, Tier};
use crate::secrets::Resolved;

/// What happened during an apply.
#[derive(Debug, Clone)]
pub struct ApplyReport {
    pub steps: Vec<Step>,
    pub duration: Duration,
    /// Time from the start until each component was ready.
    pub ready_after: BTreeMap<String, Duration>,
}

impl ApplyReport {
    /// Number of container changes (creates, recreates, starts, removals).
    pub fn changes(&self) -> usize {
        self.steps.len()
    }
}

/// A component's task's end: (healthy, when it was ready), by component name.
type ComponentResult = (String, Result<(bool, Instant), DockerError>);

#[derive(Debug, Clone, PartialEq)]
enum Ready {
    Pending,
    Started,
    Healthy,
    Failed,
}

/// Everything an apply needs.
pub struct Applier<E: Engine> {
    pub engine: Arc<E>,
    pub plan: Arc<Plan>,
    pub secrets: Arc<Resolved>,
    pub reporter: Arc<dyn Reporter>,
    /// Wait for health (true for `up`; the daemon waits too, to gate dependents).
    pub wait: bool,
}

impl<E: Engine> Applier<E> {
    /// Desired container hash of every component.
    pub fn hashes(&self) -> BTreeMap<String, String> {
        self.plan
            .components
            .iter()
            .map(|c| (c.name.clone(), container_hash(&self.plan, c, &self.secrets)))
            .collect()
    }

    /// Observes and computes the steps, changing nothing.
    pub async fn steps(&self) -> Result<(Vec<Step>, Vec<ObservedContainer>), DockerError> {
        let observed = self.engine.list_containers(&self.plan.stack).await?;
        Ok((diff(&self.plan, &self.hashes(), &observed), observed))
    }

    /// Converges the stack and (with `wait`) waits until every component is ready.
    pub async fn apply(&self) -> Result<ApplyReport, DockerError> {
        let start = Instant::now();
        let hashes = self.hashes();
        let (observed, volumes) = tokio::try_join!(
            self.engine.list_containers(&self.plan.stack),
            self.engine.list_volumes(&self.plan.stack)
        )?;
        let steps = diff(&self.plan, &hashes, &observed);
        let by_name: HashMap<String, ObservedContainer> =
            observed.into_iter().map(|o| (o.name.clone(), o)).collect();
        let all_ready = steps.is_empty()
            && self.plan.components.iter().all(|c| {
                by_name
                    .get(&self.plan.object_name(&c.name))
                    .is_some_and(|o| {
                        o.health == Health::Healthy || (c.health.is_none() && o.state == "running")
                    })
            });
        if all_ready || (steps.is_empty() && !self.wait) {
            return Ok(ApplyReport {
                steps,
                duration: start.elapsed(),
                ready_after: BTreeMap::new(),
            });
        }
        preflight(self.engine.as_ref(), &self.plan, &steps, &by_name).await?;

        if steps
            .iter()
            .any(|s| matches!(s, Step::Create { .. } | Step::Recreate { .. }))
        {
            self.ensure_network_and_volumes(&volumes).await?;
        }
        self.remove_leftovers(&steps).await?;

        let results = self.run_components(&steps, &hashes, &by_name).await;
        outcome(results, steps, start)
    }

    /// Removes containers that are not (or no longer) in the plan.
    async fn remove_leftovers(&self, steps: &[Step]) -> Result<(), DockerError> {
        let removals = steps.iter().filter_map(|s| match s {
            Step::Remove { container, reason } => Some((container.clone(), *reason)),
            _ => None,
        });
        try_join_all(removals.map(|(name, reason)| {
            let engine = self.engine.clone();
            let reporter = self.reporter.clone();
            async move {
                reporter.report(&name, &format!("removing ({reason})"));
                ignore_not_found(engine.remove(&name).await)
            }
        }))
        .await?;
        Ok(())
    }

    /// Runs every component as its own task, gated on its dependencies and start tiers.
    async fn run_components(
        &self,
        steps: &[Step],
        hashes: &BTreeMap<String, String>,
        by_name: &HashMap<String, ObservedContainer>,
    ) -> Vec<ComponentResult> {
        // Subscribe before anything starts, so no health event can be missed.
        let (tx, _) = broadcast::channel::<EngineEvent>(256);
        let mut stream = self.engine.events(&self.plan.stack, None);
        let feed_tx = tx.clone();
        let feeder = tokio::spawn(async move {
            while let Some(Ok(ev)) = stream.next().await {
                let _ = feed_tx.send(ev);
            }
        });

        let mut senders = HashMap::new();
        let mut receivers = HashMap::new();
        for c in &self.plan.components {
            let (s, r) = watch::channel(Ready::Pending);
            senders.insert(c.name.clone(), s);
            receivers.insert(c.name.clone(), r);
        }
        // The roots of the longest dependency chains start first and alone; everything else
        // waits until they are ready. Database initialisation is CPU-bound and the longest
        // pole, and on a small host every concurrent create or start slows it (measured:
        // 1.7-2.5 s to a healthy database alone, 2.2-2.9 s with the rest starting beside it).
        let leads = lead_components(&self.plan);
        let (lead_tx, lead_rx) = watch::channel(leads.len());
        let lead_tx = Arc::new(lead_tx);
        // Then the components others wait for are created and started before the leaves:
        // concurrent starts share the engine (measured: a start takes ~0.2 s alone and
        // ~1 s beside four others), and a leaf's delay holds up nothing but itself.
        let awaited = awaited_components(&self.plan, &leads);
        let (awaited_tx, awaited_rx) = watch::channel(awaited.len());
        let awaited_tx = Arc::new(awaited_tx);
        let step_of: HashMap<String, Step> = steps
            .iter()
            .filter_map(|s| s.component().map(|c| (c.to_string(), s.clone())))
            .collect();
        let tasks = self.plan.components.iter().map(|c| {
            let deps: Vec<(String, Condition, watch::Receiver<Ready>)> = c
                .depends_on
                .iter()
                .filter_map(|d| {
                    receivers
                        .get(&d.component)
                        .map(|r| (d.component.clone(), d.condition, r.clone()))
                })
                .collect();
            let sender = senders.remove(&c.name);
            let step = step_of.get(&c.name).cloned();
            let observed = by_name.get(&self.plan.object_name(&c.name)).cloned();
            let hash = hashes.get(&c.name).cloned().unwrap_or_default();
            let events = tx.subscribe();
            let is_lead = leads.contains(&c.name);
            let is_awaited = awaited.contains(&c.name);
            let mut lead_rx = lead_rx.clone();
            let mut awaited_rx = awaited_rx.clone();
            let lead = is_lead.then(|| Countdown(lead_tx.clone()));
            let started = is_awaited.then(|| Countdown(awaited_tx.clone()));
            async move {
                if !is_lead {
                    let _ = lead_rx.wait_for(|booting| *booting == 0).await;
                }
                if !is_lead && !is_awaited {
                    let _ = awaited_rx.wait_for(|starting| *starting == 0).await;
                }
                let gates = Gates { deps, started };
                let result = self
                    .component_task(c, gates, step, observed, &hash, events)
                    .await;
                drop(lead);
                if let Some(s) = sender {
                    let _ = s.send(match &result {
                        Ok((true, _)) => Ready::Healthy,
                        Ok((false, _)) => Ready::Started,
                        Err(_) => Ready::Failed,
                    });
                }
                (c.name.clone(), result)
            }
        });
        let results = join_all(tasks).await;
        feeder.abort();
        results
    }

    /// The stack's networks and every volume of the plan that is not in `existing`.
    async fn ensure_network_and_volumes(&self, existing: &[String]) -> Result<(), DockerError> {
        let labels: HashMap<String, String> = self.plan.stack_labels().into_iter().collect();
        let mut tiers: Vec<Tier> = vec![Tier::App];
        for c in &self.plan.components {
            tiers.extend(self.plan.networks_of(c));
        }
        for tier in [Tier::App, Tier::Data] {
            if tiers.contains(&tier) {
                // The data network has no route off the host: PostgreSQL and Redis need none.
                let internal = tier == Tier::Data;
                let name = network_name(&self.plan.stack, tier);
                self.engine
                    .ensure_network(&name, internal, labels.clone())
                    .await?;
            }
        }
        let creates = self
            .plan
            .volumes
            .iter()
            .filter(|v| !existing.contains(&volume_name(&self.plan.stack, &v.name)))
            .map(|v| {
                let mut l = labels.clone();
                l.insert("appstack.io/volume".into(), v.name.clone());
                let name = volume_name(&self.plan.stack, &v.name);
                let engine = self.engine.clone();
                async move { engine.create_volume(&name, l).await }
            });
        try_join_all(creates).await?;
        Ok(())
    }

    /// Creates the missing containers of `components` without starting them (with the
    /// network and volumes): a restore fills the database's volume between the two, and the
    /// create is what gives a new volume the image directory's owner. `apply` starts them.
    pub async fn create_stopped(&self, components: &[&str]) -> Result<(), DockerError> {
        let hashes = self.hashes();
        let (observed, volumes) = tokio::try_join!(
            self.engine.list_containers(&self.plan.stack),
            self.engine.list_volumes(&self.plan.stack)
        )?;
        self.ensure_network_and_volumes(&volumes).await?;
        for step in diff(&self.plan, &hashes, &observed) {
            let Step::Create { component } = step else {
                continue;
            };
            let Some(c) = self
                .plan
                .components
                .iter()
                .find(|c| c.name == component && components.contains(&c.name.as_str()))
            else {
                continue;
            };
            let name = self.plan.object_name(&c.name);
            let hash = hashes.get(&c.name).cloned().unwrap_or_default();
            self.engine.ensure_image(&c.image).await?;
            self.prepare(c, &name, &hash).await?;
            self.swap_in(c, &name, false).await?;
        }
        Ok(())
    }

    async fn component_task(
        &self,
        c: &Component,
        gates: Gates,
        step: Option<Step>,
        observed: Option<ObservedContainer>,
        hash: &str,
        mut events: broadcast::Receiver<EngineEvent>,
    ) -> Result<(bool, Instant), DockerError> {
        let Gates { deps, started } = gates;
        let name = self.plan.object_name(&c.name);
        let mut container_id: Option<String> = None;
        // Prepare the new container while dependencies boot; only the start waits for them.
        match &step {
            Some(Step::Create { .. }) => {
                self.reporter.report(&c.name, "creating");
                container_id = Some(self.prepare(c, &name, hash).await?);
                self.swap_in(c, &name, false).await?;
            }
            Some(Step::Recreate { .. }) => {
                self.reporter
                    .report(&c.name, "preparing replacement (spec changed)");
                container_id = Some(self.prepare(c, &name, hash).await?);
            }
            _ => {}
        }
        for (dep, cond, mut rx) in deps {
            let ok = rx
                .wait_for(|r| match cond {
                    Condition::Healthy => matches!(r, Ready::Healthy | Ready::Failed),
                    Condition::Started => !matches!(r, Ready::Pending),
                })
                .await
                .map(|r| *r != Ready::Failed)
                .unwrap_or(false);
            if !ok {
                return Err(DockerError::DependencyFailed {
                    component: c.name.clone(),
                    dependency: dep,
                });
            }
        }
        match &step {
            Some(Step::Create { .. }) => {
                self.reporter.report(&c.name, "starting");
                self.start(c, &name).await?;
            }
            Some(Step::Recreate { .. }) => {
                self.reporter.report(&c.name, "replacing");
                self.swap_in(c, &name, true).await?;
                self.start(c, &name).await?;
            }
            Some(Step::Start { .. }) => {
                self.reporter.report(&c.name, "starting");
                self.start(c, &name).await?;
            }
            Some(Step::Remove { .. }) | None => {}
        }
        drop(started);
        if c.health.is_none() {
            if step.is_some() {
                self.reporter.report(&c.name, "running");
            }
            return Ok((false, Instant::now()));
        }
        if step.is_none()
            && observed
                .as_ref()
                .is_some_and(|o| o.health == Health::Healthy)
        {
            return Ok((true, Instant::now()));
        }
        if !self.wait {
            return Ok((false, Instant::now()));
        }
        let id = container_id
            .or_else(|| observed.map(|o| o.id))
            .unwrap_or_default();
        let critical = dependents(&self.plan, &c.name).next().is_some();
        match wait_healthy(self.engine.as_ref(), c, &name, &id, critical, &mut events).await {
            Ok(took) => {
                self.reporter
                    .report(&c.name, &format!("healthy ({:.1}s)", took.as_secs_f64()));
                Ok((true, Instant::now()))
            }
            Err(e) => {
                self.reporter.report(&c.name, &format!("failed: {e}"));
                Err(e)
            }
        }
    }

    /// Creates the container under a pending name and fills it with its files, so an
    /// interrupted run leaves either the old container or a leftover the next run removes.
    async fn prepare(&self, c: &Component, name: &str, hash: &str) -> Result<String, DockerError> {
        let pending = format!("{name}{PENDING_SUFFIX}");
        ignore_not_found(self.engine.remove(&pending).await)?;
        let body = container_body(&self.plan, c, hash);
        let id = match self.engine.create_container(&pending, body.clone()).await {
            // A killed run's create can land after our remove (the engine finishes a request
            // whose client is gone): that leftover goes too, once.
            Err(DockerError::Conflict(_)) => {
                ignore_not_found(self.engine.remove(&pending).await)?;
                self.engine.create_container(&pending, body).await?
            }
            other => other?,
        };
        for (network, aliases) in later_networks(&self.plan, c) {
            self.engine
                .connect_network(&network, &pending, aliases)
                .await?;
        }
        let tars = files_tars(c, &self.secrets)
            .map_err(|e| DockerError::Other(format!("packing files of {}: {e}", c.name)))?;
        for (dir, tar) in tars {
            self.engine.upload(&pending, &dir, tar).await?;
        }
        Ok(id)
    }

    /// Renames the prepared container into place, replacing the old one when `replace`.
    async fn swap_in(&self, c: &Component, name: &str, replace: bool) -> Result<(), DockerError> {
        let pending = format!("{name}{PENDING_SUFFIX}");
        if replace {
            ignore_not_found(self.engine.stop(name, c.stop_grace_secs).await)?;
            ignore_not_found(self.engine.remove(name).await)?;
        }
        match self.engine.rename(&pending, name).await {
            Ok(()) => Ok(()),
            // A container with the final name appeared meanwhile (another run): replace it.
            Err(DockerError::Conflict(_)) => {
                ignore_not_found(self.engine.remove(name).await)?;
                self.engine.rename(&pending, name).await
            }
            Err(e) => Err(e),
        }
    }

    async fn start(&self, c: &Component, name: &str) -> Result<(), DockerError> {
        self.engine.start(name).await.map_err(|e| port_error(e, c))
    }
}

/// The apply's report, or its root cause (a dependency failure is only a consequence).
fn outcome(
    results: Vec<ComponentResult>,
    steps: Vec<Step>,
    start: Instant,
) -> Result<ApplyReport, DockerError> {
    let mut ready_after = BTreeMap::new();
    let mut first_error = None;
    for (name, r) in results {
        match r {
            Ok((_, at)) => {
                ready_after.insert(name, at.saturating_duration_since(start));
            }
            Err(e) => {
                // A dependency failure is a consequence; report the root cause.
                if first_error.is_none()
                    || matches!(first_error, Some(DockerError::DependencyFailed { .. }))
                {
                    first_error = Some(e);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(ApplyReport {
            steps,
            duration: start.elapsed(),
            ready_after,
        }),
    }
}

/// What a component's start waits for (its dependencies), and what it releases once
/// started (its share of the awaited components still starting).
struct Gates {
    deps: Vec<(String, Condition, watch::Receiver<Ready>)>,
    started: Option<Countdown>,
}

#[cfg(test)]
#[path = "apply_tests.rs"]
mod tests;
