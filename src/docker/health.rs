//! Waiting for a container to become healthy: the engine's events stream (health_status,
//! die) plus a startup probe that runs the same health command through exec with a short
//! backoff, because the engine never probes faster than the check interval (API 1.41 has no
//! start_interval). Whichever says healthy first wins; no sleep-and-poll of container state.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use tokio::sync::broadcast;

use super::engine::{Engine, EngineEvent};
use super::error::DockerError;
use crate::plan::Component;

// Startup probing is brief and cheap (one exec, ~80 ms of engine time): a short cap keeps
// the detection lag of every level of the dependency chain small.
const PROBE_START: Duration = Duration::from_millis(100);
const PROBE_MAX: Duration = Duration::from_millis(250);
/// Components others wait for are probed at a steady 100 ms: their detection lag adds up
/// along the dependency chain, a leaf's does not.
const PROBE_CRITICAL: Duration = Duration::from_millis(100);
const MAX_DEATHS: u32 = 3;
/// While the component's port refuses connections its health command cannot pass, and a
/// connect costs microseconds where an exec costs ~80 ms of engine CPU — CPU a database's
/// initdb on a small machine is waiting for.
const GATE_POLL: Duration = Duration::from_millis(50);
const GATE_TIMEOUT: Duration = Duration::from_millis(100);

/// The health command as an exec argv, as Docker runs it.
pub fn probe_argv(c: &Component) -> Option<Vec<String>> {
    let h = c.health.as_ref()?;
    Some(if h.shell {
        vec!["/bin/sh".into(), "-c".into(), h.command.join(" ")]
    } else {
        h.command.clone()
    })
}

/// How long a component may take to become healthy.
pub fn deadline(c: &Component) -> Duration {
    let h = c.health.as_ref().map_or(0, |h| {
        h.start_period_ms + h.interval_ms * u64::from(h.retries)
    });
    Duration::from_millis(h) + Duration::from_secs(30)
}

/// Waits until `container` (component `c`, container id `id`) is healthy.
pub async fn wait_healthy<E: Engine>(
    engine: &E,
    c: &Component,
    container: &str,
    id: &str,
    critical: bool,
    events: &mut broadcast::Receiver<EngineEvent>,
) -> Result<Duration, DockerError> {
    let started = Instant::now();
    let Some(argv) = probe_argv(c) else {
        return Ok(Duration::ZERO);
    };
    let limit = deadline(c);
    let mut backoff = PROBE_START;
    let mut next_probe = tokio::time::Instant::now();
    let mut deaths = 0;
    let mut last_output = String::from("no probe has completed yet");
    let mut gate: Option<Option<SocketAddr>> = None;
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(ev) if ev.id == id => {
                    if ev.action == "health_status: healthy" {
                        return Ok(started.elapsed());
                    }
                    // Removed while we wait: give up now so the caller's next pass recreates it.
                    if ev.action == "destroy" {
                        return Err(DockerError::NotFound(format!("container {container}")));
                    }
                    if ev.action == "die" {
                        deaths += 1;
                        if deaths >= MAX_DEATHS {
                            let code = engine.inspect_exit_code(container).await?.unwrap_or(-1);
                            return Err(DockerError::Exited { component: c.name.clone(), code });
                        }
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                // The events stream ended; the probe alone still decides.
                Err(broadcast::error::RecvError::Closed) => next_probe = next_probe.min(tokio::time::Instant::now() + backoff),
            },
            _ = tokio::time::sleep_until(next_probe) => {
                if gate.is_none() {
                    gate = Some(gate_address(engine, c, container).await);
                }
                if refused(gate.flatten()).await {
                    last_output = "port not listening yet".into();
                    next_probe = tokio::time::Instant::now() + GATE_POLL;
                } else {
                    match engine.exec(container, argv.clone()).await {
                        Ok(out) if out.exit_code == 0 => return Ok(started.elapsed()),
                        Ok(out) => last_output = format!("exit {}: {}", out.exit_code, out.output.trim()),
                        Err(e @ DockerError::NotFound(_)) => return Err(e),
                        Err(e) => last_output = e.to_string(),
                    }
                    backoff = if critical { PROBE_CRITICAL } else { (backoff * 5 / 4).min(PROBE_MAX) };
                    next_probe = tokio::time::Instant::now() + backoff;
                }
            },
        }
        if started.elapsed() > limit {
            return Err(DockerError::Unhealthy {
                component: c.name.clone(),
                seconds: limit.as_secs(),
                detail: last_output,
            });
        }
    }
}

/// The component's first port at the container's address; `None` (no gating) when it has
/// no port or the engine does not say where it lives.
async fn gate_address<E: Engine>(engine: &E, c: &Component, container: &str) -> Option<SocketAddr> {
    let port = c.ports.first()?.container_port;
    let ip = engine.container_ip(container).await.ok().flatten()?;
    Some(SocketAddr::new(ip, port))
}

/// True only on a definite refusal: a timeout or an unreachable network (an engine in a VM)
/// falls through to the exec probe, so gating can delay nothing it cannot see.
async fn refused(addr: Option<SocketAddr>) -> bool {
    let Some(addr) = addr else {
        return false;
    };
    matches!(
        tokio::time::timeout(GATE_TIMEOUT, TcpStream::connect(addr)).await,
        Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused
    )
}
