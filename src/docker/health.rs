//! Waiting for a container to become healthy: the engine's events stream (health_status,
//! die) plus a startup probe that runs the same health command through exec with a short
//! backoff, because the engine never probes faster than the check interval (API 1.41 has no
//! start_interval). Whichever says healthy first wins; no sleep-and-poll of container state.

use std::time::{Duration, Instant};

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
                match engine.exec(container, argv.clone()).await {
                    Ok(out) if out.exit_code == 0 => return Ok(started.elapsed()),
                    Ok(out) => last_output = format!("exit {}: {}", out.exit_code, out.output.trim()),
                    Err(e @ DockerError::NotFound(_)) => return Err(e),
                    Err(e) => last_output = e.to_string(),
                }
                backoff = if critical { PROBE_CRITICAL } else { (backoff * 5 / 4).min(PROBE_MAX) };
                next_probe = tokio::time::Instant::now() + backoff;
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
