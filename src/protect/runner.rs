//! Where PostgreSQL's own tools run: inside the database's container (Docker) or pod
//! (Kubernetes), so their version always matches the server's. The engine only needs this.

use crate::docker::fifo::exec_via_fifo;
use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::error::ProtectError;
use crate::docker::Engine;

/// Keeps the tail of a failing tool's stderr, which is where it says why.
const STDERR_LIMIT: usize = 16 * 1024;
const CHUNK: usize = 64 * 1024;

/// Streams a running command's stdout to `stdout` in chunks while keeping the tail of its
/// stderr; a closed receiver ends the pump quietly (the consumer's error is the one to
/// report).
pub async fn drain<O, E>(
    out: &mut O,
    errs: &mut E,
    stdout: &mpsc::Sender<Bytes>,
) -> (std::io::Result<()>, String)
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let pump = async {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = out.read(&mut buf).await?;
            if n == 0
                || stdout
                    .send(Bytes::copy_from_slice(&buf[..n]))
                    .await
                    .is_err()
            {
                return Ok(());
            }
        }
    };
    let collect = async {
        let mut text = Vec::new();
        let mut buf = vec![0u8; 4096];
        loop {
            match errs.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    text.extend_from_slice(&buf[..n]);
                    if text.len() > STDERR_LIMIT {
                        text.drain(..text.len() - STDERR_LIMIT);
                    }
                }
            }
        }
        String::from_utf8_lossy(&text).into_owned()
    };
    tokio::join!(pump, collect)
}

/// Exit code and stderr of a finished command.
#[derive(Debug, Clone)]
pub struct RunOutput {
    pub exit_code: i64,
    pub stderr: String,
}

/// Runs commands in a component of the stack.
pub trait Runner: Send + Sync + 'static {
    fn run(
        &self,
        component: &str,
        argv: Vec<String>,
        stdout: mpsc::Sender<Bytes>,
    ) -> impl Future<Output = Result<RunOutput, ProtectError>> + Send;
}

/// Runs a command and returns its (small) stdout as text; a non-zero exit is an error.
pub async fn capture<R: Runner>(
    runner: &R,
    component: &str,
    argv: Vec<String>,
) -> Result<String, ProtectError> {
    let out = capture_bytes(runner, component, argv).await?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

/// Runs a command and returns its (small) stdout byte for byte.
pub async fn capture_bytes<R: Runner>(
    runner: &R,
    component: &str,
    argv: Vec<String>,
) -> Result<Vec<u8>, ProtectError> {
    let tool = argv.first().cloned().unwrap_or_default();
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    let collect = tokio::spawn(async move {
        let mut out = Vec::new();
        while let Some(c) = rx.recv().await {
            out.extend_from_slice(&c);
        }
        out
    });
    let result = runner.run(component, argv, tx).await?;
    let out = collect.await.map_err(|e| ProtectError::Exec {
        tool: tool.clone(),
        message: e.to_string(),
    })?;
    if result.exit_code != 0 {
        return Err(ProtectError::Tool {
            tool,
            code: result.exit_code,
            stderr: result.stderr.trim().to_string(),
        });
    }
    Ok(out)
}

/// Docker mode: `docker exec` in `<stack>-<component>`.
pub struct DockerRunner<E: Engine> {
    pub engine: Arc<E>,
    pub stack: String,
}

impl<E: Engine> Runner for DockerRunner<E> {
    async fn run(
        &self,
        component: &str,
        argv: Vec<String>,
        stdout: mpsc::Sender<Bytes>,
    ) -> Result<RunOutput, ProtectError> {
        let tool = argv.first().cloned().unwrap_or_default();
        let name = format!("{}-{component}", self.stack);
        let fast = exec_via_fifo(self.engine.as_ref(), &name, &argv, &stdout).await;
        let out = match fast {
            Some(out) => out,
            None => self.engine.exec_stream(&name, argv, stdout).await,
        }
        .map_err(|e| ProtectError::Exec {
            tool,
            message: e.to_string(),
        })?;
        Ok(RunOutput {
            exit_code: out.exit_code,
            stderr: out.output,
        })
    }
}
