//! One stack's loop in `appstack run`: reload the manifest when it changes, reconcile when
//! asked (with backoff, never during an in-place restore), restart unhealthy containers with
//! damping, follow the engine's events, resync periodically.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tracing::{error, info, instrument, warn};

use super::restarts::{Decision, History};
use super::{drills, schedules, wal, Options};
use crate::docker::apply::Applier;
use crate::docker::engine::{Engine, Health};
use crate::docker::progress::Log;
use crate::docker::DockerError;
use crate::plan::Plan;
use crate::secrets::SecretStore;
use crate::telemetry::metrics::{ActionLabels, ComponentLabels, ErrorLabels, Metrics, StackLabel};

pub(super) struct StackLoop<E: Engine> {
    pub engine: Arc<E>,
    pub file: PathBuf,
    pub opts: Options,
    pub metrics: Arc<Metrics>,
    pub ready: Arc<AtomicBool>,
    pub pending_first_sync: Arc<AtomicUsize>,
    /// The exporter's role was checked since the daemon started (`monitor_role`).
    pub after_apply_done: Arc<AtomicBool>,
}

/// What identifies a version of the manifest file without reading it every second.
/// Events of a stack, read by their own task from the moment of the call.
fn subscribe<E: Engine>(
    engine: &E,
    stack: &str,
) -> tokio::sync::mpsc::Receiver<Result<crate::docker::engine::EngineEvent, DockerError>> {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    // Replay a second: nothing that happened while connecting is missed.
    let mut stream = engine.events(stack, Some(1));
    tokio::spawn(async move {
        while let Some(ev) = stream.next().await {
            if tx.send(ev).await.is_err() {
                break;
            }
        }
    });
    rx
}

fn fingerprint(path: &Path) -> Option<(std::time::SystemTime, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

/// What one stack's loop keeps from one pass to the next.
struct LoopState {
    plan: Option<Arc<Plan>>,
    current_spec: Option<crate::api::ValidatedStack>,
    /// The spec last kept in the store (its stack record).
    recorded: Option<crate::api::ValidatedStack>,
    schedules: Vec<tokio::task::JoinHandle<()>>,
    seen: Option<(std::time::SystemTime, u64)>,
    need_reconcile: bool,
    first_done: bool,
    in_maintenance: bool,
    histories: HashMap<String, History>,
    deferred: HashMap<String, Instant>,
    retry_backoff: Duration,
    next_retry: Option<tokio::time::Instant>,
    /// One events subscription, renewed only when it ends or the stack is renamed.
    events: Option<(String, EventsRx)>,
}

type EventsRx =
    tokio::sync::mpsc::Receiver<Result<crate::docker::engine::EngineEvent, DockerError>>;

impl Default for LoopState {
    fn default() -> Self {
        Self {
            plan: None,
            current_spec: None,
            recorded: None,
            schedules: Vec::new(),
            seen: None,
            need_reconcile: true,
            first_done: false,
            in_maintenance: false,
            histories: HashMap::new(),
            deferred: HashMap::new(),
            retry_backoff: Duration::from_secs(1),
            next_retry: None,
            events: None,
        }
    }
}

impl<E: Engine> StackLoop<E> {
    /// Reload, subscribe, reconcile when due, wait for the next reason to act; forever.
    pub(super) async fn run(self) {
        let mut st = LoopState::default();
        let mut poll = tokio::time::interval(Duration::from_secs(1));
        let mut resync = tokio::time::interval(self.opts.resync);
        resync.tick().await;
        loop {
            self.reload(&mut st);
            let Some(current) = st.plan.clone() else {
                poll.tick().await;
                continue;
            };
            // Subscribe before reconciling (watch, then list), polled eagerly by its own task,
            // so nothing after the state the reconcile observed can be missed.
            if st
                .events
                .as_ref()
                .is_none_or(|(stack, _)| *stack != current.stack)
            {
                st.events = Some((
                    current.stack.clone(),
                    subscribe(self.engine.as_ref(), &current.stack),
                ));
            }
            self.reconcile_if_due(&mut st, &current).await;
            self.wait(&mut st, &current, &mut poll, &mut resync).await;
        }
    }

    /// Reads the manifest when its file changed; schedules follow the spec.
    fn reload(&self, st: &mut LoopState) {
        let fp = fingerprint(&self.file);
        if fp != st.seen {
            st.seen = fp;
            match self.load() {
                Ok((p, validated)) => {
                    // Schedules follow the spec: restarted only when it changed.
                    if st.current_spec.as_ref() != Some(&validated) {
                        for h in st.schedules.drain(..) {
                            h.abort();
                        }
                        st.schedules = schedules::spawn(
                            self.engine.clone(),
                            &validated,
                            self.metrics.clone(),
                            &self.opts.state_dir,
                        );
                        st.schedules.extend(wal::spawn(
                            self.engine.clone(),
                            &validated,
                            self.metrics.clone(),
                            &self.opts.state_dir,
                        ));
                        st.schedules.extend(super::heartbeat::spawn(
                            self.engine.clone(),
                            &validated,
                            &self.opts.state_dir,
                            self.metrics.clone(),
                        ));
                        st.schedules.extend(drills::spawn(
                            &validated,
                            &self.file,
                            &self.opts.state_dir,
                            if self.engine.direct_volume_io() {
                                crate::docker::VolumeIo::Auto
                            } else {
                                crate::docker::VolumeIo::Engine
                            },
                            self.metrics.clone(),
                        ));
                        st.current_spec = Some(validated);
                    }
                    if st.plan.as_deref() != Some(&p) {
                        info!(file = %self.file.display(), stack = %p.stack, "manifest loaded");
                        st.plan = Some(Arc::new(p));
                        st.need_reconcile = true;
                    }
                }
                Err(msg) => {
                    // Keep running what was last valid; wait for the next edit.
                    error!(file = %self.file.display(), "{msg}");
                    if let Some(p) = &st.plan {
                        self.metrics
                            .spec_valid
                            .get_or_create(&StackLabel {
                                stack: p.stack.clone(),
                            })
                            .set(0);
                    }
                    if !st.first_done {
                        st.first_done = true;
                        self.mark_first_sync();
                    }
                }
            }
        }
    }

    /// Reconciles when asked and not backing off, unless an in-place restore owns the stack.
    async fn reconcile_if_due(&self, st: &mut LoopState, current: &Arc<Plan>) {
        let due = st.need_reconcile
            && st
                .next_retry
                .is_none_or(|t| t <= tokio::time::Instant::now());
        // An in-place restore owns the stack's containers until it finishes.
        let paused = due && crate::maintenance::active(&self.opts.state_dir, &current.stack);
        if due && paused != st.in_maintenance {
            st.in_maintenance = paused;
            if paused {
                info!(stack = %current.stack, "stack is under maintenance (restore, deploy or rollback); not reconciling until it finishes");
            } else {
                info!(stack = %current.stack, "in-place restore finished; reconciling");
            }
        }
        if paused {
            st.next_retry = Some(tokio::time::Instant::now() + Duration::from_secs(2));
        } else if due {
            st.need_reconcile = false;
            match self.reconcile(current).await {
                Ok(()) => {
                    st.retry_backoff = Duration::from_secs(1);
                    st.next_retry = None;
                    self.keep_record(st).await;
                }
                Err(_) => {
                    st.need_reconcile = true;
                    st.next_retry = Some(tokio::time::Instant::now() + st.retry_backoff);
                    st.retry_backoff = (st.retry_backoff * 2).min(Duration::from_secs(60));
                }
            }
            if !st.first_done {
                st.first_done = true;
                self.mark_first_sync();
            }
        }
    }

    /// The store keeps each applied spec (and the sealed secrets) beside the backups.
    async fn keep_record(&self, st: &mut LoopState) {
        let Some(spec) = st.current_spec.as_ref() else {
            return;
        };
        if st.recorded.as_ref() == Some(spec) {
            return;
        }
        match crate::protect::stack_record::keep_from_state(spec, &self.opts.state_dir).await {
            Ok(key) => {
                if let Some(key) = key {
                    info!(stack = %spec.name, key, "applied spec kept in the store");
                }
                st.recorded = Some(spec.clone());
            }
            Err(e) => {
                warn!(stack = %spec.name, category = e.category(), "could not keep the applied spec in the store: {e}")
            }
        }
    }

    /// Until an event, a resync, a deferred restart or a retry is due.
    async fn wait(
        &self,
        st: &mut LoopState,
        current: &Arc<Plan>,
        poll: &mut tokio::time::Interval,
        resync: &mut tokio::time::Interval,
    ) {
        let Some((_, stream)) = st.events.as_mut() else {
            return;
        };
        let next_deferred = st.deferred.values().min().copied();
        tokio::select! {
            ev = stream.recv() => match ev {
                Some(Ok(ev)) => match ev.action.as_str() {
                    "destroy" => st.need_reconcile = true,
                    "health_status: unhealthy" if !ev.component.is_empty() => {
                        self.on_unhealthy(current, &ev.component, &mut st.histories, &mut st.deferred).await;
                    }
                    _ => {}
                },
                Some(Err(e)) => {
                    warn!(error = %e, "st.events stream failed; resubscribing");
                    st.events = None;
                    st.need_reconcile = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                None => {
                    st.events = None;
                    st.need_reconcile = true;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            _ = poll.tick() => {}
            _ = resync.tick() => {
                st.need_reconcile = true;
                self.check_unhealthy(current, &mut st.histories, &mut st.deferred).await;
            }
            _ = async {
                match next_deferred {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            } => {
                let due: Vec<String> = st.deferred.iter().filter(|(_, t)| **t <= Instant::now()).map(|(c, _)| c.clone()).collect();
                for c in due {
                    st.deferred.remove(&c);
                    self.on_unhealthy(current, &c, &mut st.histories, &mut st.deferred).await;
                }
            }
            _ = async {
                match st.next_retry {
                    Some(at) if st.need_reconcile => tokio::time::sleep_until(at).await,
                    _ => std::future::pending().await,
                }
            } => {}
        }
    }

    fn mark_first_sync(&self) {
        if self.pending_first_sync.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.ready.store(true, Ordering::SeqCst);
        }
    }

    fn load(&self) -> Result<(Plan, crate::api::ValidatedStack), String> {
        let (_, stack) = crate::api::load_validated(&self.file).map_err(|e| e.to_string())?;
        self.metrics
            .spec_valid
            .get_or_create(&StackLabel {
                stack: stack.name.clone(),
            })
            .set(1);
        Ok((crate::plan::build(&stack), stack))
    }

    #[instrument(skip_all, fields(stack = %plan.stack))]
    async fn reconcile(&self, plan: &Arc<Plan>) -> Result<(), DockerError> {
        let started = Instant::now();
        let secrets = SecretStore::new(&self.opts.state_dir, &plan.stack)
            .ensure(&plan.secrets)
            .map_err(|e| DockerError::Other(e.to_string()))?;
        let secrets = Arc::new(secrets);
        let applier = Applier {
            engine: self.engine.clone(),
            plan: plan.clone(),
            secrets: secrets.clone(),
            reporter: Arc::new(Log),
            wait: true,
        };
        let result = applier.apply().await;
        self.metrics
            .reconcile_seconds
            .get_or_create(&StackLabel {
                stack: plan.stack.clone(),
            })
            .observe(started.elapsed().as_secs_f64());
        match &result {
            Ok(report) => {
                for s in &report.steps {
                    self.metrics
                        .changes
                        .get_or_create(&ActionLabels {
                            stack: plan.stack.clone(),
                            action: s.verb().into(),
                        })
                        .inc();
                }
                if report.changes() > 0 || !self.after_apply_done.load(Ordering::Relaxed) {
                    self.after_apply(plan, &secrets).await;
                }
                if report.changes() > 0 {
                    info!(
                        changes = report.changes(),
                        seconds = report.duration.as_secs_f64(),
                        "converged"
                    );
                }
            }
            Err(e) => {
                error!(category = e.category(), "reconcile failed: {e}");
                self.metrics
                    .reconcile_errors
                    .get_or_create(&ErrorLabels {
                        stack: plan.stack.clone(),
                        category: e.category().into(),
                    })
                    .inc();
            }
        }
        if let Ok(observed) = self.engine.list_containers(&plan.stack).await {
            for c in &plan.components {
                let ok = observed.iter().any(|o| {
                    o.name == plan.object_name(&c.name)
                        && o.state == "running"
                        && (o.health == Health::Healthy || c.health.is_none())
                });
                self.metrics
                    .healthy
                    .get_or_create(&ComponentLabels {
                        stack: plan.stack.clone(),
                        component: c.name.clone(),
                    })
                    .set(i64::from(ok));
            }
        }
        result.map(|_| ())
    }

    /// Resync path: catches unhealthy containers whose event was missed.
    async fn check_unhealthy(
        &self,
        plan: &Plan,
        histories: &mut HashMap<String, History>,
        deferred: &mut HashMap<String, Instant>,
    ) {
        let Ok(observed) = self.engine.list_containers(&plan.stack).await else {
            return;
        };
        for o in observed
            .iter()
            .filter(|o| o.health == Health::Unhealthy && o.state != "paused")
        {
            if !deferred.contains_key(&o.component) {
                self.on_unhealthy(plan, &o.component, histories, deferred)
                    .await;
            }
        }
    }

    async fn on_unhealthy(
        &self,
        plan: &Plan,
        component: &str,
        histories: &mut HashMap<String, History>,
        deferred: &mut HashMap<String, Instant>,
    ) {
        let Some(c) = plan.component(component) else {
            return;
        };
        if crate::maintenance::active(&self.opts.state_dir, &plan.stack) {
            return;
        }
        let name = plan.object_name(component);
        // Re-check: it may have recovered since the event.
        match self.engine.list_containers(&plan.stack).await {
            Ok(obs)
                if obs.iter().any(|o| {
                    o.name == name && o.health == Health::Unhealthy && o.state != "paused"
                }) => {}
            _ => return,
        }
        let history = histories.entry(component.to_string()).or_default();
        match history.decide(&self.opts.policy, Instant::now()) {
            Decision::Restart => {
                warn!(component, "unhealthy: restarting");
                history.record(Instant::now());
                self.metrics
                    .unhealthy_restarts
                    .get_or_create(&ComponentLabels {
                        stack: plan.stack.clone(),
                        component: component.into(),
                    })
                    .inc();
                if let Err(e) = self.engine.restart(&name, c.stop_grace_secs).await {
                    error!(component, category = e.category(), "restart failed: {e}");
                }
            }
            Decision::Wait(at) => {
                deferred.insert(component.to_string(), at);
            }
            Decision::Flapping => {
                error!(
                    component,
                    restarts = history.total,
                    "unhealthy and restarted too often: flapping, leaving it for an operator"
                );
            }
        }
    }
}
