//! A component's commands run in this very process's container: a Kubernetes job pod that
//! mounts the component's volume itself (the uploads backup reads the CMS's claim) or
//! shares its socket directory (the drill's restored database), so it needs no
//! `pods/exec` right at all. The argv is executed directly, never through a shell.

use std::process::Stdio;

use bytes::Bytes;
use tokio::process::Command;
use tokio::sync::mpsc;

use super::error::ProtectError;
use super::runner::{drain, RunOutput, Runner};

/// Runs argv as a child process of this one.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalRunner;

impl Runner for LocalRunner {
    async fn run(
        &self,
        _component: &str,
        argv: Vec<String>,
        stdout: mpsc::Sender<Bytes>,
    ) -> Result<RunOutput, ProtectError> {
        let tool = argv.first().cloned().unwrap_or_default();
        let err = |message: String| ProtectError::Exec {
            tool: tool.clone(),
            message,
        };
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| err("an empty command".into()))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| err(e.to_string()))?;
        let mut out = child
            .stdout
            .take()
            .ok_or_else(|| err("no stdout pipe".into()))?;
        let mut errs = child
            .stderr
            .take()
            .ok_or_else(|| err("no stderr pipe".into()))?;
        let (pumped, stderr) = drain(&mut out, &mut errs, &stdout).await;
        pumped.map_err(|e| err(e.to_string()))?;
        let status = child.wait().await.map_err(|e| err(e.to_string()))?;
        // A signal-killed tool has no code: report it as a failure all the same.
        Ok(RunOutput {
            exit_code: status.code().map_or(-1, i64::from),
            stderr,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::runner::capture;

    #[tokio::test]
    async fn runs_argv_without_a_shell_and_reports_failures() {
        let out = capture(
            &LocalRunner,
            "cms",
            vec!["printf".into(), "%s".into(), "$(touch /tmp/x);'".into()],
        )
        .await
        .unwrap();
        assert_eq!(out, "$(touch /tmp/x);'");
        let failed = capture(&LocalRunner, "cms", vec!["false".into()]).await;
        assert!(failed.is_err());
    }
}
