//! Where the audit's clients (psql, redis-cli) run: in the component's container through
//! the engine (Docker mode), or in its pod through `pods/exec` (Kubernetes mode). Each
//! command is an argv, never a shell line; its output is capped, since the findings are
//! small and a runaway is not.

use std::future::Future;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::docker::Engine;
use crate::kube::runner::KubeRunner;
use crate::plan::Plan;
use crate::protect::runner::Runner;

/// A cap on what one command may print.
pub const MAX_OUTPUT: usize = 8 << 20;

/// A finished command.
#[derive(Debug, Clone)]
pub struct Ran {
    pub exit_code: i64,
    pub stdout: String,
    /// What it said on stderr (where psql and redis-cli say why).
    pub stderr: String,
}

/// Runs an argv in a component of the stack.
pub trait Exec: Send + Sync {
    fn run(
        &self,
        component: &str,
        argv: Vec<String>,
    ) -> impl Future<Output = Result<Ran, String>> + Send;
}

/// Docker mode: `docker exec` in the component's container.
pub struct InContainer<'a, E: Engine> {
    pub engine: &'a E,
    pub plan: &'a Plan,
}

impl<E: Engine> Exec for InContainer<'_, E> {
    async fn run(&self, component: &str, argv: Vec<String>) -> Result<Ran, String> {
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        let container = self.plan.object_name(component);
        let (result, stdout) =
            tokio::join!(self.engine.exec_stream(&container, argv, tx), collect(rx));
        let result = result.map_err(|e| e.to_string())?;
        Ok(Ran {
            exit_code: result.exit_code,
            stdout,
            stderr: result.output,
        })
    }
}

/// Kubernetes mode: `pods/exec` in a running pod of the component (the database's
/// StatefulSet pod by name).
pub struct InPod {
    pub runner: KubeRunner,
}

impl Exec for InPod {
    async fn run(&self, component: &str, argv: Vec<String>) -> Result<Ran, String> {
        let (tx, rx) = mpsc::channel::<Bytes>(16);
        let (result, stdout) = tokio::join!(self.runner.run(component, argv, tx), collect(rx));
        let result = result.map_err(|e| e.to_string())?;
        Ok(Ran {
            exit_code: result.exit_code,
            stdout,
            stderr: result.stderr,
        })
    }
}

/// A command's stdout as text, up to [`MAX_OUTPUT`].
async fn collect(mut rx: mpsc::Receiver<Bytes>) -> String {
    let mut out = Vec::new();
    while let Some(chunk) = rx.recv().await {
        if out.len() < MAX_OUTPUT {
            out.extend_from_slice(&chunk);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
