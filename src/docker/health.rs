//! Waiting for a container to become healthy: the engine's events stream (health_status,
//! die) plus a startup probe that runs the same health command through exec with a short
//! backoff, because the engine never probes faster than the check interval (API 1.41 has no
//! start_interval). Whichever says healthy first wins; no sleep-and-poll of container state.
//! An HTTP health endpoint is asked directly at the container's address (a connect and a
//! status line, where an exec costs ~80 ms of engine CPU), the command still deciding when
//! the address cannot tell.

use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

// Tokio's clock, so a test with paused time runs the deadlines without waiting them out.
use tokio::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use tokio::sync::broadcast;

use super::engine::{Engine, EngineEvent};
use super::error::DockerError;
use crate::plan::{Component, HttpGet};

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
/// An HTTP health endpoint is asked directly (a connect and a status line, no exec), so it
/// is polled like the port gate.
const HTTP_TIMEOUT: Duration = Duration::from_millis(500);
const EXEC_AT_LEAST_EVERY: Duration = Duration::from_secs(1);

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
    let mut next_probe = Instant::now();
    let mut deaths = 0;
    let mut last_output = String::from("no probe has completed yet");
    let mut ip: Option<Option<IpAddr>> = None;
    let gate_port = c.ports.first().map(|p| p.container_port);
    let http = c.health.as_ref().and_then(|h| h.http.as_ref());
    let mut last_exec = Instant::now();
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
                            let log_tail = log_tail(engine, container).await;
                            return Err(DockerError::Exited { component: c.name.clone(), code, log_tail });
                        }
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                // The events stream ended; the probe alone still decides.
                Err(broadcast::error::RecvError::Closed) => next_probe = next_probe.min(Instant::now() + backoff),
            },
            _ = tokio::time::sleep_until(next_probe) => {
                if ip.is_none() {
                    ip = Some(engine.container_ip(container).await.ok().flatten());
                }
                let gated = match from_outside(ip.flatten(), http, gate_port).await {
                    Outside::Healthy => return Ok(started.elapsed()),
                    Outside::NotYet(why) => Some(why),
                    Outside::Unknown => None,
                };
                // A server bound to the container's loopback only refuses us forever: the
                // command still runs now and then.
                let exec_due = last_exec.elapsed() >= EXEC_AT_LEAST_EVERY;
                if let Some(why) = gated.filter(|_| !exec_due) {
                    last_output = why;
                    next_probe = Instant::now() + GATE_POLL;
                } else {
                    last_exec = Instant::now();
                    match engine.exec(container, argv.clone()).await {
                        Ok(out) if out.exit_code == 0 => return Ok(started.elapsed()),
                        Ok(out) => last_output = format!("exit {}: {}", out.exit_code, out.output.trim()),
                        Err(e @ DockerError::NotFound(_)) => return Err(e),
                        Err(e) => last_output = e.to_string(),
                    }
                    backoff = if critical { PROBE_CRITICAL } else { (backoff * 5 / 4).min(PROBE_MAX) };
                    next_probe = Instant::now() + backoff;
                }
            },
        }
        if started.elapsed() > limit {
            return Err(DockerError::Unhealthy {
                component: c.name.clone(),
                seconds: limit.as_secs(),
                detail: if last_output.ends_with(": ") {
                    format!("{last_output}(no output)")
                } else {
                    last_output
                },
                log_tail: log_tail(engine, container).await,
            });
        }
    }
}

/// How many of a container's last log lines a health failure shows, and how much of each.
const LOG_TAIL_LINES: u64 = 12;
const LOG_LINE_CHARS: usize = 300;

/// The container's last log lines, for a failure that must say why.
pub async fn log_tail<E: Engine>(engine: &E, container: &str) -> String {
    use futures::StreamExt;
    let mut lines = Vec::new();
    let mut logs = engine.logs(container, false, Some(LOG_TAIL_LINES));
    while let Some(chunk) = logs.next().await {
        match chunk {
            Ok(text) => lines.extend(
                text.lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.chars().take(LOG_LINE_CHARS).collect::<String>()),
            ),
            Err(e) => return format!("its log could not be read: {e}"),
        }
    }
    if lines.is_empty() {
        return "its log is empty".into();
    }
    let skip = lines.len().saturating_sub(LOG_TAIL_LINES as usize);
    format!(
        "last log lines of {container}:\n  {}",
        lines[skip..].join("\n  ")
    )
}

/// What the container's address says, before any exec.
enum Outside {
    /// The HTTP health endpoint answered 2xx.
    Healthy,
    /// The health command cannot pass yet (the port refuses, the endpoint answers an error).
    NotYet(String),
    /// Only the health command can tell.
    Unknown,
}

/// Asks the HTTP health endpoint when there is one, else checks that the component's first
/// port accepts connections.
async fn from_outside(
    ip: Option<IpAddr>,
    http: Option<&HttpGet>,
    gate_port: Option<u16>,
) -> Outside {
    let Some(ip) = ip else {
        return Outside::Unknown;
    };
    let not_listening = || Outside::NotYet("port not listening yet".to_string());
    if let Some(get) = http {
        match http_get(SocketAddr::new(ip, get.port), &get.path).await {
            Answer::Status(code) if (200..300).contains(&code) => return Outside::Healthy,
            Answer::Status(code) => return Outside::NotYet(format!("HTTP {code}")),
            Answer::Refused => return not_listening(),
            Answer::Unknown => {}
        }
    }
    match gate_port {
        Some(port) if refused(SocketAddr::new(ip, port)).await => not_listening(),
        _ => Outside::Unknown,
    }
}

/// What an HTTP health endpoint said.
enum Answer {
    Status(u16),
    /// Nothing listens there yet.
    Refused,
    /// Unreachable, timed out or not HTTP: only the health command can tell.
    Unknown,
}

/// `GET path` at `addr` (HTTP/1.0, so the server closes when done); only the status line
/// is read.
async fn http_get(addr: SocketAddr, path: &str) -> Answer {
    let exchange = async {
        let mut conn = TcpStream::connect(addr).await?;
        let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: appstack\r\n\r\n");
        conn.write_all(req.as_bytes()).await?;
        let mut head = Vec::with_capacity(64);
        let mut buf = [0u8; 256];
        while !head.contains(&b'\n') && head.len() < 1024 {
            let n = conn.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Ok::<_, std::io::Error>(head)
    };
    match tokio::time::timeout(HTTP_TIMEOUT, exchange).await {
        Ok(Ok(head)) => status_code(&head).map_or(Answer::Unknown, Answer::Status),
        Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused => Answer::Refused,
        _ => Answer::Unknown,
    }
}

/// The status of an `HTTP/1.x NNN ...` status line.
fn status_code(head: &[u8]) -> Option<u16> {
    let line = std::str::from_utf8(head).ok()?.lines().next()?;
    let mut parts = line.split_whitespace();
    parts.next().filter(|v| v.starts_with("HTTP/"))?;
    parts.next()?.parse().ok()
}

/// True only on a definite refusal: a timeout or an unreachable network (an engine in a VM)
/// falls through to the exec probe, so gating can delay nothing it cannot see.
async fn refused(addr: SocketAddr) -> bool {
    matches!(
        tokio::time::timeout(GATE_TIMEOUT, TcpStream::connect(addr)).await,
        Ok(Err(e)) if e.kind() == ErrorKind::ConnectionRefused
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server answering every connection with `reply`.
    async fn serve(reply: &'static str) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let mut buf = [0u8; 512];
                let _ = conn.read(&mut buf).await;
                let _ = conn.write_all(reply.as_bytes()).await;
            }
        });
        addr
    }

    #[tokio::test]
    async fn http_endpoint_answers_are_told_apart() {
        let ok = serve("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await;
        assert!(matches!(http_get(ok, "/health").await, Answer::Status(200)));
        let busy = serve("HTTP/1.0 503 Service Unavailable\r\n\r\n").await;
        assert!(matches!(
            http_get(busy, "/health").await,
            Answer::Status(503)
        ));
        let not_http = serve("+PONG\r\n").await;
        assert!(matches!(http_get(not_http, "/").await, Answer::Unknown));
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gone = closed.local_addr().unwrap();
        drop(closed);
        assert!(matches!(http_get(gone, "/").await, Answer::Refused));
    }

    #[test]
    fn status_lines() {
        assert_eq!(status_code(b"HTTP/1.1 204 No Content\r\n"), Some(204));
        assert_eq!(status_code(b"HTTP/1.0 500"), Some(500));
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b""), None);
    }
}
