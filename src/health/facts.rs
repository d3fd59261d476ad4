//! What the checks look at, gathered once by the runtime's gatherer (`docker_facts` from
//! the engine and the state directory, `kube_facts` from the cluster): each component as the
//! runtime shows it (state, health, restarts, environment, how it is exposed), the store's
//! recoverability facts, the shipper's state, whether appstack's own processes report, and
//! two ways in: a command in a component and an HTTP request to it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::future::BoxFuture;

use crate::api::status::RecoverabilityStatus;
use crate::api::ValidatedStack;
use crate::docker::engine::{ExecOutput, Health};
use crate::ops::http::Response;
use crate::plan::Plan;
use crate::protect::shipper::ShipStatus;

/// Runs a command (argv, never a shell line) in a component; None when it could not run.
pub type ExecFn =
    Arc<dyn Fn(String, Vec<String>) -> BoxFuture<'static, Option<ExecOutput>> + Send + Sync>;

/// GETs `path` from a component's `port`; the answer, or why there is none. The text says
/// where the request went (shown as evidence).
pub type HttpFn = Arc<
    dyn Fn(String, u16, String) -> BoxFuture<'static, (String, Result<Response, String>)>
        + Send
        + Sync,
>;

/// One way a component can be reached from outside its own network.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    /// What publishes it, as the runtime names it ("0.0.0.0:5432", "NodePort 30432").
    pub shown: String,
    /// Only this host's loopback can reach it.
    pub loopback_only: bool,
    /// An address outside the host or cluster where a connection attempt tests it.
    pub probe: Option<SocketAddr>,
}

/// A component as the runtime shows it (the worst of its replicas).
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// "running", or what the runtime says instead (exited, CrashLoopBackOff, Pending…).
    pub state: String,
    pub health: Health,
    /// Restarts by the runtime (engine or kubelet) since the container was created.
    pub restarts: u32,
    pub env: BTreeMap<String, String>,
    pub exposed: Vec<Exposure>,
}

/// Where the stack runs: it decides how a fix is worded.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Docker,
    Kubernetes { namespace: String },
}

pub struct Facts {
    pub stack: ValidatedStack,
    pub plan: Plan,
    pub mode: Mode,
    pub components: BTreeMap<String, Seen>,
    pub recoverability: Option<RecoverabilityStatus>,
    pub wal: Option<ShipStatus>,
    /// Why appstack's own processes count as silent; None while they report.
    pub daemon_silence: Option<String>,
    /// What shows they report (evidence while they do).
    pub daemon_beat: String,
    /// Every password the stack's secrets hold, as ("secret/key", value); never printed.
    pub passwords: Vec<(String, String)>,
    pub exec: ExecFn,
    pub http: HttpFn,
}

impl Facts {
    /// Runs `argv` in `component`; None when it could not run.
    pub async fn run(&self, component: &str, argv: &[&str]) -> Option<ExecOutput> {
        let argv = argv.iter().map(|a| a.to_string()).collect();
        (self.exec)(component.to_string(), argv).await
    }

    pub fn seen(&self, component: &str) -> Option<&Seen> {
        self.components.get(component)
    }

    /// `key` in `component`'s environment.
    pub fn env(&self, component: &str, key: &str) -> Option<&str> {
        self.seen(component)
            .and_then(|s| s.env.get(key))
            .map(String::as_str)
    }

    /// How to replace a weak password, where this stack keeps its secrets.
    pub fn password_fix(&self) -> String {
        match &self.mode {
            Mode::Docker => "delete the weak secret file under <state-dir>/stacks/<stack>/secrets (appstack generates a strong one) or put a strong one there, then `appstack up`".into(),
            Mode::Kubernetes { namespace } => format!("delete the weak key from its Secret in namespace {namespace} (the operator generates a strong one) or write a strong one there, then restart the pods that use it"),
        }
    }

    /// How to get appstack's own processes reporting again.
    pub fn daemon_fix(&self) -> &'static str {
        match self.mode {
            Mode::Docker => "start `appstack run -f <stack>` (it ships WAL, runs the schedules and repairs drift)",
            Mode::Kubernetes { .. } => "check the operator's pod and the database pod's wal-shipper container (`kubectl logs`): they must be running and allowed to patch the AppStack's status",
        }
    }
}
