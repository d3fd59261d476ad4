//! Exec and one-off containers over the Docker Engine API: a command's output streamed
//! with bounded memory, and a helper container fed on stdin (or a FIFO in its volume).

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters as q;
use futures::stream::StreamExt;

use super::bollard_impl::BollardEngine;
use super::{Containers, DResult, Exec, ExecOutput, Volumes};
use crate::docker::error::DockerError;

impl Exec for BollardEngine {
    async fn exec(&self, name: &str, cmd: Vec<String>) -> DResult<ExecOutput> {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(4);
        let collect = async move {
            let mut out = String::new();
            while let Some(chunk) = rx.recv().await {
                if out.len() < 4096 {
                    out.push_str(&String::from_utf8_lossy(&chunk));
                }
            }
            out
        };
        let (result, stdout) = tokio::join!(self.exec_stream(name, cmd, tx), collect);
        let result = result?;
        Ok(ExecOutput {
            exit_code: result.exit_code,
            output: format!("{stdout}{}", result.output),
        })
    }

    async fn exec_stream(
        &self,
        name: &str,
        cmd: Vec<String>,
        stdout: tokio::sync::mpsc::Sender<bytes::Bytes>,
    ) -> DResult<ExecOutput> {
        use bollard::container::LogOutput;
        use bollard::exec::{CreateExecOptions, StartExecResults};
        let map = |e| DockerError::from_bollard(e, &format!("container {name}"));
        let created = self
            .docker
            .create_exec(
                name,
                CreateExecOptions {
                    cmd: Some(cmd),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    ..Default::default()
                },
            )
            .await
            .map_err(map)?;
        let mut stderr = String::new();
        if let StartExecResults::Attached {
            output: mut stream, ..
        } = self
            .docker
            .start_exec(&created.id, None)
            .await
            .map_err(map)?
        {
            while let Some(chunk) = stream.next().await {
                match chunk.map_err(map)? {
                    LogOutput::StdOut { message } => stdout.send(message).await.map_err(|_| {
                        DockerError::Other(format!("the reader of {name}'s output went away"))
                    })?,
                    LogOutput::StdErr { message } if stderr.len() < 8192 => {
                        stderr.push_str(&String::from_utf8_lossy(&message))
                    }
                    _ => {}
                }
            }
        }
        drop(stdout);
        let inspect = self.docker.inspect_exec(&created.id).await.map_err(map)?;
        Ok(ExecOutput {
            exit_code: inspect.exit_code.unwrap_or(-1),
            output: stderr,
        })
    }

    async fn run_with_stdin(
        &self,
        name: &str,
        image: &str,
        script: &str,
        volumes: Vec<(String, String)>,
        labels: HashMap<String, String>,
        stdin: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    ) -> DResult<ExecOutput> {
        let map = |e| DockerError::from_bollard(e, &format!("container {name}"));
        let _ = self.remove(name).await;
        // Through a FIFO in the first volume when its directory is reachable (see fifo.rs).
        let planned = match volumes.first().filter(|_| self.direct_volume_io) {
            Some((volume, inside)) => self.volume_mountpoint(volume).await.ok().and_then(|m| {
                crate::docker::fifo::PlannedFifo::new(std::path::Path::new(&m), inside)
            }),
            None => None,
        };
        let script = match &planned {
            Some(f) => f.wrap(script),
            None => script.to_string(),
        };
        let attach_stdin = planned.is_none();
        let body = one_off_body(image, script, volumes, labels, attach_stdin);
        self.create_container(name, body).await?;
        let opts = q::AttachContainerOptionsBuilder::default()
            .stdin(attach_stdin)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .build();
        let attached = self
            .docker
            .attach_container(name, Some(opts))
            .await
            .map_err(map)?;
        self.start(name).await?;
        let fifo = match planned {
            Some(p) => match p.open().await {
                Ok(f) => Some(f),
                Err(e) => {
                    let _ = self.remove(name).await;
                    return Err(DockerError::Other(format!("input FIFO of {name}: {e}")));
                }
            },
            None => None,
        };
        let (fed, text) = pump(attached, fifo, stdin).await;
        let mut wait = self
            .docker
            .wait_container(name, None::<q::WaitContainerOptions>);
        let mut code = -1;
        while let Some(item) = wait.next().await {
            match item {
                Ok(r) => code = r.status_code,
                // bollard reports a non-zero exit as an error carrying the code.
                Err(bollard::errors::Error::DockerContainerWaitError { code: c, .. }) => code = c,
                Err(e) => return Err(map(e)),
            }
        }
        let _ = self.remove(name).await;
        fed.map_err(|e| DockerError::Other(format!("writing to {name}: {e}")))?;
        Ok(ExecOutput {
            exit_code: code,
            output: text,
        })
    }
}

/// The one-off container: `script` under `sh -c`, the volumes mounted, no network; stdin
/// attached unless its input comes through a FIFO.
fn one_off_body(
    image: &str,
    script: String,
    volumes: Vec<(String, String)>,
    labels: HashMap<String, String>,
    attach_stdin: bool,
) -> ContainerCreateBody {
    let mounts = volumes
        .into_iter()
        .map(|(source, target)| Mount {
            typ: Some(MountType::VOLUME),
            source: Some(source),
            target: Some(target),
            ..Default::default()
        })
        .collect();
    ContainerCreateBody {
        image: Some(image.to_string()),
        entrypoint: Some(vec!["/bin/sh".into(), "-c".into(), script]),
        cmd: Some(vec![]),
        open_stdin: Some(attach_stdin),
        stdin_once: Some(attach_stdin),
        attach_stdin: Some(attach_stdin),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        labels: Some(labels),
        host_config: Some(HostConfig {
            mounts: Some(mounts),
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Feeds `stdin` to the container (through the FIFO, or its attached stdin) while its
/// output is drained; returns how the feed ended and the (truncated) output.
async fn pump(
    attached: bollard::container::AttachContainerResults,
    fifo: Option<crate::docker::fifo::StdinFifo>,
    mut stdin: tokio::sync::mpsc::Receiver<bytes::Bytes>,
) -> (std::io::Result<()>, String) {
    use tokio::io::AsyncWriteExt;
    let mut input = attached.input;
    let mut output = attached.output;
    let feed = async move {
        match fifo {
            Some(mut f) => {
                while let Some(chunk) = stdin.recv().await {
                    f.sender.write_all(&chunk).await?;
                }
                Ok(())
            }
            None => {
                while let Some(chunk) = stdin.recv().await {
                    input.write_all(&chunk).await?;
                }
                input.shutdown().await
            }
        }
    };
    let drain = async move {
        let mut text = String::new();
        while let Some(Ok(log)) = output.next().await {
            if text.len() < 8192 {
                text.push_str(&String::from_utf8_lossy(&log.into_bytes()));
            }
        }
        text
    };
    tokio::pin!(feed, drain);
    let mut fed = None;
    let text = loop {
        tokio::select! {
            r = &mut feed, if fed.is_none() => fed = Some(r),
            text = &mut drain => break text,
        }
    };
    // The container has exited: a feed still writing gets a moment (the attach stream may
    // still be taking input the tool left unread), no more.
    let fed = match fed {
        Some(r) => r,
        None => tokio::time::timeout(std::time::Duration::from_secs(2), &mut feed)
            .await
            .unwrap_or_else(|_| {
                Err(std::io::Error::other(
                    "the container exited before reading all of its input",
                ))
            }),
    };
    (fed, text)
}
