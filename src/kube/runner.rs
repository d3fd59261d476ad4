//! Kubernetes mode of the backup engine's [`Runner`]: PostgreSQL's tools run through
//! `pods/exec` in the component's own container (the database pod for `pg_basebackup` and
//! `pg_dump`, the CMS pod for its uploads), so their version is always the server's.

use bytes::Bytes;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, ListParams};
use kube::Client;
use tokio::sync::mpsc;

use super::workloads::{database_pod, DATABASE};
use crate::plan::{LABEL_COMPONENT, LABEL_STACK};
use crate::protect::error::ProtectError;
use crate::protect::local_runner::LocalRunner;
use crate::protect::runner::{drain, RunOutput, Runner};

pub struct KubeRunner {
    pub client: Client,
    pub namespace: String,
    pub stack: String,
    /// Exec in this pod instead of the component's workload pod.
    pub pod: Option<String>,
    /// Components whose commands run in this process's own container instead (their
    /// volume is mounted here, or their socket directory shared): no exec needed.
    pub local: Vec<String>,
}

impl KubeRunner {
    /// A running pod of `component` (pods carry the stack's selector labels).
    pub async fn pod(&self, component: &str) -> Result<String, ProtectError> {
        if let Some(pod) = &self.pod {
            return Ok(pod.clone());
        }
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        // The database is a StatefulSet's one pod: read by name, which is all the backup
        // identity's Role grants (`kube::access`).
        if component == DATABASE {
            let name = database_pod(&self.stack);
            let pod = api
                .get(&name)
                .await
                .map_err(|e| exec_error(component, format!("pod {name}: {e}")))?;
            let running = pod.metadata.deletion_timestamp.is_none()
                && pod.status.and_then(|s| s.phase).as_deref() == Some("Running");
            return if running {
                Ok(name)
            } else {
                Err(exec_error(
                    component,
                    format!("pod {}/{name} is not running", self.namespace),
                ))
            };
        }
        let selector = format!("{LABEL_STACK}={},{LABEL_COMPONENT}={component}", self.stack);
        let pods = api
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| exec_error(component, e.to_string()))?;
        pods.items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .find(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .is_some_and(|phase| phase == "Running")
            })
            .and_then(|p| p.metadata.name)
            .ok_or_else(|| {
                exec_error(
                    component,
                    format!(
                        "no running pod of {}/{}-{component} (selector {selector})",
                        self.namespace, self.stack
                    ),
                )
            })
    }
}

fn exec_error(component: &str, message: String) -> ProtectError {
    ProtectError::Exec {
        tool: format!("exec in {component}"),
        message,
    }
}

impl Runner for KubeRunner {
    async fn run(
        &self,
        component: &str,
        argv: Vec<String>,
        stdout: mpsc::Sender<Bytes>,
    ) -> Result<RunOutput, ProtectError> {
        if self.local.iter().any(|c| c == component) {
            return LocalRunner.run(component, argv, stdout).await;
        }
        let tool = argv.first().cloned().unwrap_or_default();
        let err = |message: String| ProtectError::Exec {
            tool: tool.clone(),
            message,
        };
        let pod = self.pod(component).await?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let params = AttachParams::default()
            .container(component)
            .stdin(false)
            .stdout(true)
            .stderr(true);
        let mut process = api
            .exec(&pod, argv.clone(), &params)
            .await
            .map_err(|e| err(format!("pod {pod}: {e}")))?;
        let status = process
            .take_status()
            .ok_or_else(|| err("the exec stream carries no status channel".into()))?;
        let mut out = process
            .stdout()
            .ok_or_else(|| err("no stdout stream".into()))?;
        let mut errs = process
            .stderr()
            .ok_or_else(|| err("no stderr stream".into()))?;
        let (pumped, stderr) = drain(&mut out, &mut errs, &stdout).await;
        pumped.map_err(|e| err(e.to_string()))?;
        let status = status.await;
        process
            .join()
            .await
            .map_err(|e| err(format!("pod {pod}: {e}")))?;
        Ok(RunOutput {
            exit_code: exit_code(status.as_ref()),
            stderr,
        })
    }
}

/// The exit code the API server reports: `Success`, or a `NonZeroExitCode` failure whose
/// `ExitCode` cause carries the number.
fn exit_code(status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> i64 {
    let Some(s) = status else {
        return -1;
    };
    if s.status.as_deref() == Some("Success") {
        return 0;
    }
    s.details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|causes| {
            causes
                .iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
                .and_then(|c| c.message.as_deref())
                .and_then(|m| m.parse().ok())
        })
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

    #[test]
    fn exit_codes_come_from_the_status_the_server_sends() {
        let ok = Status {
            status: Some("Success".into()),
            ..Default::default()
        };
        assert_eq!(exit_code(Some(&ok)), 0);
        let failed = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause {
                    reason: Some("ExitCode".into()),
                    message: Some("3".into()),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(exit_code(Some(&failed)), 3);
        let internal = Status {
            status: Some("Failure".into()),
            message: Some("container not found".into()),
            ..Default::default()
        };
        assert_eq!(exit_code(Some(&internal)), 1);
        assert_eq!(exit_code(None), -1);
    }
}
