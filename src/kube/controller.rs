//! The operator's reconcile, a named pipeline where only the ends touch the network:
//! validate (pure) → build (pure) → sync (apply/prune children) → observe (workload
//! readiness) → status (pure, patched only when it changed). Invalid specs go to status and
//! an Event, and wait for the next change instead of requeueing hot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolumeClaim, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use rand::distr::{Alphanumeric, SampleString};
use tracing::{info, instrument, warn};

use super::error::KubeError;
use super::lease::Leadership;
use super::status;
use super::sync::{sync, SyncReport};
use super::{build, Images, Owner};
use crate::api::conditions::Clock;
use crate::api::status::AppStackStatus;
use crate::api::AppStack;
use crate::plan::LABEL_STACK;
use crate::telemetry::metrics::{ErrorLabels, Metrics, StackLabel};

/// Requeue of a converged stack (drift is also caught by the owned-object watches).
const RESYNC: Duration = Duration::from_secs(300);
/// Reconciles running at once.
const CONCURRENCY: u16 = 4;
/// Requeue while components are still becoming ready.
const WAITING: Duration = Duration::from_secs(10);
/// Re-check of a stack whose WAL shipper must keep reporting (WalShipping condition).
const WAL_WATCH: Duration = Duration::from_secs(60);

/// What every reconcile shares.
pub struct Context {
    pub client: Client,
    pub images: Images,
    pub clock: Arc<dyn Clock>,
    pub leadership: Leadership,
    pub metrics: Arc<Metrics>,
    /// Events; None in tests that do not look at them.
    pub recorder: Option<Recorder>,
    /// Makes generated secret values.
    pub generate: fn(usize) -> String,
}

/// Random alphanumeric secret values.
pub fn random_secret(len: usize) -> String {
    Alphanumeric.sample_string(&mut rand::rng(), len)
}

impl Context {
    pub fn new(
        client: Client,
        images: Images,
        clock: Arc<dyn Clock>,
        leadership: Leadership,
        metrics: Arc<Metrics>,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: "appstack-operator".into(),
                instance: std::env::var("POD_NAME").ok(),
            },
        );
        Self {
            client,
            images,
            clock,
            leadership,
            metrics,
            recorder: Some(recorder),
            generate: random_secret,
        }
    }

    async fn event(&self, stack: &AppStack, type_: EventType, reason: &str, note: String) {
        if let Some(r) = &self.recorder {
            let ev = Event {
                type_,
                reason: reason.into(),
                note: Some(note),
                action: "Reconcile".into(),
                secondary: None,
            };
            if let Err(e) = r.publish(&ev, &stack.object_ref(&())).await {
                warn!("cannot publish event: {e}");
            }
        }
    }
}

/// The outcome of one reconcile, for tests and logs.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub report: SyncReport,
    pub status_patched: bool,
    pub action: Action,
}

/// The reconcile as the Controller calls it.
pub async fn reconcile(stack: Arc<AppStack>, ctx: Arc<Context>) -> Result<Action, KubeError> {
    let started = Instant::now();
    let label = StackLabel {
        stack: format!(
            "{}/{}",
            stack.namespace().unwrap_or_default(),
            stack.name_any()
        ),
    };
    let result = reconcile_once(&stack, &ctx).await;
    ctx.metrics
        .reconcile_seconds
        .get_or_create(&label)
        .observe(started.elapsed().as_secs_f64());
    if let Err(e) = &result {
        ctx.metrics
            .reconcile_errors
            .get_or_create(&ErrorLabels {
                stack: label.stack.clone(),
                category: e.category().into(),
            })
            .inc();
    }
    result.map(|o| o.action)
}

/// Backoff after a failure; a non-leader simply checks again later.
pub fn error_policy(_stack: Arc<AppStack>, error: &KubeError, _ctx: Arc<Context>) -> Action {
    match error {
        KubeError::NotLeader(_) => Action::requeue(Duration::from_secs(5)),
        _ => Action::requeue(Duration::from_secs(15)),
    }
}

#[instrument(skip_all, fields(stack = %stack.name_any(), namespace = stack.namespace().unwrap_or_default()))]
pub async fn reconcile_once(stack: &AppStack, ctx: &Context) -> Result<Outcome, KubeError> {
    if !ctx.leadership.is_leader() {
        return Err(KubeError::NotLeader(ctx.leadership.why_not()));
    }
    let ns = stack.namespace().unwrap_or_else(|| "default".into());
    let name = stack.name_any();
    let generation = stack.meta().generation;
    let previous = stack.status.as_ref();
    let origin = format!("AppStack {ns}/{name}");
    let label = StackLabel {
        stack: format!("{ns}/{name}"),
    };

    // validate (pure)
    let validated = match crate::api::validate::validate(stack, &origin) {
        Ok(v) => v,
        Err(errors) => {
            ctx.metrics.spec_valid.get_or_create(&label).set(0);
            let message = errors.to_string();
            let next = status::invalid(previous, generation, message.clone(), ctx.clock.as_ref());
            let patched = patch_status(ctx, stack, &ns, previous, &next).await?;
            if patched {
                ctx.event(stack, EventType::Warning, "InvalidSpec", message)
                    .await;
            }
            return Ok(Outcome {
                report: SyncReport::default(),
                status_patched: patched,
                action: Action::await_change(),
            });
        }
    };
    ctx.metrics.spec_valid.get_or_create(&label).set(1);

    // build (pure)
    let plan = crate::plan::build(&validated).without_edge();
    let owner = Owner {
        name: name.clone(),
        uid: stack.meta().uid.clone(),
    };
    let children = build(&plan, &owner, &ctx.images, &mut |n| (ctx.generate)(n));

    // sync (network)
    let report = match sync(&ctx.client, &ns, &name, &children).await {
        Ok(r) => r,
        Err(e) => {
            let next = status::failed(previous, generation, e.to_string(), ctx.clock.as_ref());
            if patch_status(ctx, stack, &ns, previous, &next).await? {
                ctx.event(stack, EventType::Warning, "ApplyFailed", e.to_string())
                    .await;
            }
            return Err(e);
        }
    };
    if report.changed() {
        info!(applied = ?report.applied, created = ?report.created, deleted = ?report.deleted, "children synced");
    }

    // observe (network)
    let selector = ListParams::default().labels(&format!("{LABEL_STACK}={name}"));
    let deployments = Api::<Deployment>::namespaced(ctx.client.clone(), &ns)
        .list(&selector)
        .await?
        .items;
    let stateful_sets = Api::<StatefulSet>::namespaced(ctx.client.clone(), &ns)
        .list(&selector)
        .await?
        .items;
    let readiness = status::readiness(&deployments, &stateful_sets);

    // status (pure, patched only when changed)
    let protection = crate::protect::verdicts::Protection::of(
        &validated,
        &plan,
        stack
            .meta()
            .creation_timestamp
            .as_ref()
            .and_then(|t| chrono::DateTime::from_timestamp(t.0.as_second(), 0)),
    );
    let next = status::applied(
        previous,
        generation,
        &readiness,
        &protection,
        ctx.clock.as_ref(),
    );
    let ready = next.phase == crate::api::status::Phase::Ready;
    let patched = patch_status(ctx, stack, &ns, previous, &next).await?;
    Ok(Outcome {
        report,
        status_patched: patched,
        action: Action::requeue(match (ready, protection.ship_interval) {
            (false, _) => WAITING,
            // A shipper that dies reports nothing: only the clock notices its silence.
            (true, Some(_)) => WAL_WATCH,
            (true, None) => RESYNC,
        }),
    })
}

/// Patches `.status` when it differs from what the object carries; true when patched.
async fn patch_status(
    ctx: &Context,
    stack: &AppStack,
    ns: &str,
    previous: Option<&AppStackStatus>,
    next: &AppStackStatus,
) -> Result<bool, KubeError> {
    if previous == Some(next) {
        return Ok(false);
    }
    if !ctx.leadership.is_leader() {
        return Err(KubeError::NotLeader(ctx.leadership.why_not()));
    }
    let api: Api<AppStack> = Api::namespaced(ctx.client.clone(), ns);
    // The facts under `recoverability` belong to the shipper and the backup jobs; leaving
    // the key out of a merge patch leaves them as they are.
    let mut body = serde_json::json!({ "status": next });
    if let Some(st) = body.get_mut("status").and_then(|s| s.as_object_mut()) {
        st.remove("recoverability");
    }
    api.patch_status(
        &stack.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&body),
    )
    .await?;
    Ok(true)
}

/// Runs the controller until shutdown; `namespace` None watches every namespace.
pub async fn run(
    ctx: Arc<Context>,
    namespace: Option<String>,
    ready: Arc<std::sync::atomic::AtomicBool>,
) {
    let client = ctx.client.clone();
    let api: Api<AppStack> = match &namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    fn owned<K>(client: &Client, ns: &Option<String>) -> Api<K>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        match ns {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }
    let wc = || watcher::Config::default().labels(LABEL_STACK);
    let controller = Controller::new(api, watcher::Config::default());
    // Secrets are watched only in a single watched namespace: across the cluster that would
    // need the right to read every Secret, which the operator never holds (it has Secrets
    // only where a RoleBinding grants them). A deleted Secret comes back on the next resync.
    let controller = match &namespace {
        Some(ns) => controller.owns(Api::<Secret>::namespaced(client.clone(), ns), wc()),
        None => controller,
    };
    controller
        // A few reconciles at a time: bounded load on the API server and a bounded memory
        // high-water mark when many stacks start at once.
        .with_config(kube::runtime::controller::Config::default().concurrency(CONCURRENCY))
        .owns(owned::<StatefulSet>(&client, &namespace), wc())
        .owns(owned::<Deployment>(&client, &namespace), wc())
        .owns(owned::<Service>(&client, &namespace), wc())
        .owns(owned::<ConfigMap>(&client, &namespace), wc())
        .owns(owned::<PersistentVolumeClaim>(&client, &namespace), wc())
        .owns(owned::<Ingress>(&client, &namespace), wc())
        .owns(owned::<NetworkPolicy>(&client, &namespace), wc())
        .owns(owned::<CronJob>(&client, &namespace), wc())
        .owns(owned::<PodDisruptionBudget>(&client, &namespace), wc())
        .owns(owned::<ServiceAccount>(&client, &namespace), wc())
        .owns(owned::<Role>(&client, &namespace), wc())
        .owns(owned::<RoleBinding>(&client, &namespace), wc())
        .shutdown_on_signal()
        .run(reconcile, error_policy, ctx)
        .for_each(|r| {
            match r {
                // Ready once a first reconcile went through (the caches are synced).
                Ok(_) => ready.store(true, std::sync::atomic::Ordering::SeqCst),
                // A standby replica says why it waits, without raising a warning every pass.
                Err(kube::runtime::controller::Error::ReconcilerFailed(
                    KubeError::NotLeader(why),
                    obj,
                )) => info!(stack = %obj.name, "{why}"),
                Err(e) => warn!("reconcile: {e}"),
            }
            futures::future::ready(())
        })
        .await;
}
