//! Executes a diff: preflight (images, ports) before any change, then every component as
//! its own task that waits for its dependencies' conditions, performs its step and reports
//! readiness. Independent components proceed concurrently.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::{join_all, try_join_all};
use futures::StreamExt;
use tokio::sync::{broadcast, watch};

use super::diff::{diff, Step, PREVIOUS_SUFFIX};
use super::engine::{Engine, EngineEvent, Health, ObservedContainer};
use super::error::{ignore_not_found, DockerError};
use super::health::wait_healthy;
use super::preflight::preflight;
use super::progress::Reporter;
use super::render::container_hash;
use super::tiers::{awaited_components, dependents, lead_components, Countdown};
use crate::plan::rollout::{rollout, Rollout};
use crate::plan::{Component, Condition, Plan};
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
        self.stop_running_previous(&observed).await?;
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
        let report = outcome(results, steps, start)?;
        if self.wait {
            self.pin_edge().await;
        }
        Ok(report)
    }

    /// A previous version runs only while a deploy watches or a rollback drains, both under
    /// the maintenance lock `up` and `run` respect: one found running was left so by an
    /// interrupted run, and stops (kept for `rollback`).
    async fn stop_running_previous(
        &self,
        observed: &[ObservedContainer],
    ) -> Result<(), DockerError> {
        for o in observed.iter().filter(|o| {
            o.state == "running"
                && o.name == format!("{}{PREVIOUS_SUFFIX}", self.plan.object_name(&o.component))
        }) {
            self.reporter.report(
                &o.component,
                "stopping the previous version an interrupted run left running",
            );
            let grace = self
                .plan
                .component(&o.component)
                .map_or(10, |c| c.stop_grace_secs);
            ignore_not_found(self.engine.stop(&o.name, grace).await)?;
        }
        Ok(())
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

    /// Reports a component's health wait and turns it into its task's end.
    fn ready(
        &self,
        c: &Component,
        waited: Result<Duration, DockerError>,
    ) -> Result<(bool, Instant), DockerError> {
        match waited {
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

    /// Whether a replacement of `c` starts beside the running container (blue/green).
    fn beside(&self, c: &Component, observed: Option<&ObservedContainer>) -> bool {
        self.wait
            && rollout(c) == Rollout::BlueGreen
            && observed.is_some_and(|o| o.state == "running")
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
            Some(Step::Recreate { .. }) if self.beside(c, observed.as_ref()) => {
                let id = container_id.clone().unwrap_or_default();
                let result = self.replace_beside(c, &id, &mut events).await;
                drop(started);
                return self.ready(c, result);
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
        let result = wait_healthy(self.engine.as_ref(), c, &name, &id, critical, &mut events).await;
        self.ready(c, result)
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
