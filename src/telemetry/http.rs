//! A minimal HTTP/1.1 endpoint for /metrics, /healthz, /readyz and the alert log receiver
//! (`POST /alerts/<stack>`). A few fixed routes do not justify a web framework in a daemon
//! whose idle memory is budgeted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::metrics::Metrics;

/// Where alert notifications posted to `/alerts/<stack>` go (the daemon's alert log).
pub trait AlertSink: Send + Sync {
    /// Err: a reason and whether the stack is unknown (404) rather than the body bad (400).
    fn deliver(&self, stack: &str, body: &[u8]) -> Result<(), (bool, String)>;
}

/// Shared state the endpoint reads.
pub struct Endpoint {
    pub metrics: Arc<Metrics>,
    /// True once every stack finished its first sync.
    pub ready: Arc<AtomicBool>,
    /// Accepts `POST /alerts/<stack>` when set (the listener containers reach).
    pub alerts: Option<Arc<dyn AlertSink>>,
}

const HEAD_LIMIT: usize = 16 * 1024;
const BODY_LIMIT: usize = 1 << 20;
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// A request: method, path and body.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
}

/// Reads one request (headers, then `Content-Length` bytes of body); None on a malformed,
/// oversized or too slow one.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > HEAD_LIMIT {
            return None;
        }
        let n = tokio::time::timeout(READ_TIMEOUT, sock.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut first = head.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let length = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if length > BODY_LIMIT {
        return None;
    }
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = tokio::time::timeout(READ_TIMEOUT, sock.read(&mut chunk))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some(Request { method, path, body })
}

pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let (code, ctype, body) = match read_request(&mut sock).await {
                Some(req) => route(&endpoint, &req),
                None => ("400 Bad Request", "text/plain", "bad request\n".into()),
            };
            let resp = format!(
                "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

fn route(e: &Endpoint, req: &Request) -> (&'static str, &'static str, String) {
    if req.method == "POST" {
        if let (Some(sink), Some(stack)) = (&e.alerts, req.path.strip_prefix("/alerts/")) {
            return match sink.deliver(stack, &req.body) {
                Ok(()) => ("200 OK", "text/plain", "logged\n".into()),
                Err((true, why)) => ("404 Not Found", "text/plain", format!("{why}\n")),
                Err((false, why)) => ("400 Bad Request", "text/plain", format!("{why}\n")),
            };
        }
    }
    if req.method != "GET" {
        return (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".into(),
        );
    }
    let path = req.path.as_str();
    match path {
        "/metrics" => (
            "200 OK",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            e.metrics.encode(),
        ),
        "/healthz" => ("200 OK", "text/plain", "ok\n".into()),
        "/readyz" if e.ready.load(Ordering::Relaxed) => ("200 OK", "text/plain", "ready\n".into()),
        "/readyz" => (
            "503 Service Unavailable",
            "text/plain",
            "first sync not finished\n".into(),
        ),
        _ => ("404 Not Found", "text/plain", "not found\n".into()),
    }
}
