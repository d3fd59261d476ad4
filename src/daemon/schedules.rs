//! Scheduled backups in `appstack run`: one task per scheduled kind. Each run is bounded by
//! the spec's timeout and followed by retention. Last success, failures by category and a
//! "missing" flag (no success within 1.5× the period) go to /metrics and the log.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::supervise::supervised;
use crate::api::ValidatedStack;
use crate::docker::Engine;
use crate::protect::backup::{self, Target};
use crate::protect::manifest::Kind;
use crate::protect::retention::{prune, Policy};
use crate::protect::runner::DockerRunner;
use crate::protect::schedule::Schedule;
use crate::protect::target::AnyStore;
use crate::telemetry::metrics::{KindErrorLabels, KindLabels, Metrics};

/// How often a waiting schedule re-evaluates "missing".
const CHECK: Duration = Duration::from_secs(30);

/// Starts the schedule tasks of a stack; abort the handles when the spec changes.
pub fn spawn<E: Engine>(
    engine: Arc<E>,
    stack: &ValidatedStack,
    metrics: Arc<Metrics>,
    state_dir: &std::path::Path,
) -> Vec<JoinHandle<()>> {
    let Some(b) = &stack.backup else {
        return Vec::new();
    };
    let (store, target) = match (
        crate::protect::store::open_store(stack),
        crate::protect::store::backup_target(stack),
    ) {
        (Ok(s), Ok(t)) => (s, t),
        (Err(e), _) | (_, Err(e)) => {
            error!(stack = %stack.name, "scheduled backups disabled: {e}");
            return Vec::new();
        }
    };
    let policy = Policy {
        keep_last: b.keep_last,
        max_age: b.max_age,
    };
    let mut kinds = vec![
        (Kind::Base, b.base_backup_schedule.clone()),
        (Kind::Dump, b.dump_schedule.clone()),
    ];
    if target.uploads_path.is_some() {
        kinds.push((Kind::Files, b.files_schedule.clone()));
    }
    kinds
        .into_iter()
        .filter_map(|(kind, expr)| Schedule::new(kind, expr.as_deref()?))
        .map(|schedule| {
            let job = Arc::new(Job {
                engine: engine.clone(),
                store: store.clone(),
                target: target.clone(),
                policy,
                metrics: metrics.clone(),
                stack: Arc::new(stack.clone()),
                state_dir: state_dir.to_path_buf(),
            });
            let task = format!("backup-{}", schedule.kind.as_str());
            supervised(&stack.name, &task, metrics.clone(), move || {
                job.clone().run(schedule.clone())
            })
        })
        .collect()
}

struct Job<E: Engine> {
    engine: Arc<E>,
    store: AnyStore,
    target: Target,
    policy: Policy,
    metrics: Arc<Metrics>,
    /// What the stack record kept beside each base backup is made of.
    stack: Arc<ValidatedStack>,
    state_dir: std::path::PathBuf,
}

impl<E: Engine> Job<E> {
    /// The stack record beside the base backups (written only when it changed).
    async fn keep_record(&self) {
        match crate::protect::stack_record::keep_from_state(&self.stack, &self.state_dir).await {
            Ok(Some(key)) => info!(stack = %self.stack.name, key, "stack record kept in the store"),
            Ok(None) => {}
            Err(e) => {
                warn!(stack = %self.stack.name, category = e.category(), "could not keep the stack record in the store: {e}")
            }
        }
    }

    async fn run(self: Arc<Self>, schedule: Schedule) {
        let stack = self.target.stack.clone();
        let labels = KindLabels {
            stack: stack.clone(),
            kind: schedule.kind.as_str().into(),
        };
        // The store's facts, not this process's start: a restarted daemon must not forget
        // that the last success was days ago.
        let mut last_ok = self.last_success_in_store(schedule.kind).await;
        if let Some(t) = self.newest_of_kind(schedule.kind).await {
            self.metrics
                .backup_last_success
                .get_or_create(&labels)
                .set(t.timestamp());
        }
        self.metrics
            .backup_last_failed
            .get_or_create(&labels)
            .set(0);
        info!(stack, kind = schedule.kind.as_str(), schedule = %schedule.cadence.expression, since = %last_ok, "backup schedule active");
        loop {
            let Some(next) = schedule.cadence.next_after(Utc::now()) else {
                // Validation refuses such a schedule; should one get here, it is said.
                error!(stack, kind = schedule.kind.as_str(), schedule = %schedule.cadence.expression, "the schedule has no next time: no more backups of this kind");
                self.metrics.backup_missing.get_or_create(&labels).set(1);
                return;
            };
            while Utc::now() < next {
                let missing = schedule.cadence.missing(last_ok, Utc::now());
                self.metrics
                    .backup_missing
                    .get_or_create(&labels)
                    .set(i64::from(missing));
                if missing {
                    warn!(
                        stack,
                        kind = schedule.kind.as_str(),
                        "missing backup: no success within 1.5x the schedule's period"
                    );
                }
                let left = (next - Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(left.min(CHECK)).await;
            }
            match self.once(schedule.kind).await {
                Ok(id) => {
                    last_ok = Utc::now();
                    self.metrics
                        .backup_last_success
                        .get_or_create(&labels)
                        .set(last_ok.timestamp());
                    self.metrics.backup_missing.get_or_create(&labels).set(0);
                    self.metrics
                        .backup_last_failed
                        .get_or_create(&labels)
                        .set(0);
                    info!(stack, id, "scheduled backup done");
                    if schedule.kind == Kind::Base {
                        self.keep_record().await;
                    }
                    if let Err(e) = prune(&self.store, &stack, self.policy, Utc::now(), false).await
                    {
                        warn!(stack, category = e.category(), "retention failed: {e}");
                    }
                }
                Err((category, message)) => {
                    self.metrics
                        .backup_last_failed
                        .get_or_create(&labels)
                        .set(1);
                    self.metrics
                        .backup_failures
                        .get_or_create(&KindErrorLabels {
                            stack: stack.clone(),
                            kind: schedule.kind.as_str().into(),
                            category: category.into(),
                        })
                        .inc();
                    error!(
                        stack,
                        kind = schedule.kind.as_str(),
                        category,
                        "scheduled backup failed: {message}"
                    );
                }
            }
        }
    }

    /// The newest backup of `kind` in the store.
    async fn newest_of_kind(&self, kind: Kind) -> Option<chrono::DateTime<Utc>> {
        let all = crate::protect::manifest::catalog(&self.store, &self.stack.name)
            .await
            .ok()?;
        all.iter()
            .filter(|m| m.kind == kind)
            .map(|m| m.finished_at)
            .max()
    }

    /// Where the "missing" clock starts: the newest backup of `kind` in the store; without
    /// one, the oldest record of the stack in the store (when it was first applied); for a
    /// stack the store has never seen, now.
    async fn last_success_in_store(&self, kind: Kind) -> chrono::DateTime<Utc> {
        if let Some(t) = self.newest_of_kind(kind).await {
            return t;
        }
        crate::protect::stack_record::list(&self.store, &self.stack.name)
            .await
            .ok()
            .and_then(|r| r.iter().map(|r| r.saved_at).min())
            .unwrap_or_else(Utc::now)
    }

    async fn once(&self, kind: Kind) -> Result<String, (&'static str, String)> {
        let runner = DockerRunner {
            engine: self.engine.clone(),
            stack: self.target.stack.clone(),
        };
        let t = &self.target;
        let work = async {
            match kind {
                Kind::Base => backup::base_backup(&self.store, &runner, t).await,
                Kind::Dump => backup::dump(&self.store, &runner, t).await,
                Kind::Files => backup::files(&self.store, &runner, t).await,
            }
        };
        // The tools are killed in the container at the timeout; this bounds the wait too.
        match tokio::time::timeout(t.timeout + Duration::from_secs(60), work).await {
            Ok(Ok(m)) => Ok(m.id),
            Ok(Err(e)) => Err((e.category(), e.to_string())),
            Err(_) => Err((
                "timeout",
                format!("still running after the {}s timeout", t.timeout.as_secs()),
            )),
        }
    }
}
