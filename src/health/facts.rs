//! What the checks look at, gathered once: the containers as the engine shows them (with
//! their environment, bindings and restarts), the store's recoverability facts, the
//! shipper's state and the daemon's heartbeat.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::HealthError;
use crate::api::status::RecoverabilityStatus;
use crate::api::ValidatedStack;
use crate::docker::engine::{ExecOutput, ObservedContainer, RuntimeFacts};
use crate::docker::Engine;
use crate::plan::Plan;
use crate::protect::shipper::ShipStatus;

/// Runs a command in a component's container (argv, never a shell line).
pub type ExecFn = Arc<
    dyn Fn(String, Vec<String>) -> futures::future::BoxFuture<'static, Option<ExecOutput>>
        + Send
        + Sync,
>;

pub struct Facts {
    pub stack: ValidatedStack,
    pub plan: Plan,
    pub state_dir: PathBuf,
    pub observed: Vec<ObservedContainer>,
    pub runtime: BTreeMap<String, RuntimeFacts>,
    pub recoverability: Option<RecoverabilityStatus>,
    pub wal: Option<ShipStatus>,
    /// Why the daemon counts as silent; None while it beats.
    pub daemon_silence: Option<String>,
    pub exec: ExecFn,
    /// Each component's address on the stack's network.
    pub ips: BTreeMap<String, std::net::IpAddr>,
}

impl Facts {
    pub async fn gather<E: Engine>(
        engine: Arc<E>,
        stack: &ValidatedStack,
        plan: &Plan,
        state_dir: &Path,
    ) -> Result<Facts, HealthError> {
        let observed = crate::docker::status::observe(engine.as_ref(), plan)
            .await
            .map_err(|e| HealthError::Engine(e.to_string()))?;
        if observed.is_empty() {
            return Err(HealthError::NoStack(format!(
                "stack {} does not run on this engine (no container): `appstack up -f` it first",
                stack.name
            )));
        }
        let mut runtime = BTreeMap::new();
        let mut ips = BTreeMap::new();
        for o in &observed {
            if let Ok(r) = engine.inspect_runtime(&o.name).await {
                runtime.insert(o.component.clone(), r);
            }
            if let Ok(Some(ip)) = engine.container_ip(&o.name).await {
                ips.insert(o.component.clone(), ip);
            }
        }
        let recoverability = match &stack.backup {
            Some(_) => crate::daemon::status::recoverability(stack).await,
            None => None,
        };
        let wal = crate::daemon::status::wal_status(stack, state_dir);
        let daemon_silence =
            crate::daemon::liveness::silence(state_dir, &stack.name, chrono::Utc::now());
        let exec_engine = engine.clone();
        let exec: ExecFn = Arc::new(move |container, argv| {
            let e = exec_engine.clone();
            Box::pin(async move { e.exec(&container, argv).await.ok() })
        });
        Ok(Facts {
            stack: stack.clone(),
            plan: plan.clone(),
            state_dir: state_dir.to_path_buf(),
            observed,
            runtime,
            recoverability,
            wal,
            daemon_silence,
            exec,
            ips,
        })
    }

    /// Runs `argv` in `component`'s container; None when it could not run.
    pub async fn run(&self, component: &str, argv: &[&str]) -> Option<ExecOutput> {
        let argv = argv.iter().map(|a| a.to_string()).collect();
        (self.exec)(self.plan.object_name(component), argv).await
    }

    /// The stack's secrets directory (read, never written, by the checks).
    pub fn secret_file(&self, secret: &str, key: &str) -> PathBuf {
        self.state_dir
            .join("stacks")
            .join(&self.stack.name)
            .join("secrets")
            .join(secret)
            .join(key)
    }

    pub fn observed(&self, component: &str) -> Option<&ObservedContainer> {
        self.observed.iter().find(|o| o.component == component)
    }
}
