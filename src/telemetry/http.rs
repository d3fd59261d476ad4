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

/// Appends what the peer sends next to `buf`; None when it closed, failed or went quiet.
async fn read_more(sock: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 4096];
    let n = tokio::time::timeout(READ_TIMEOUT, sock.read(&mut chunk))
        .await
        .ok()?
        .ok()?;
    (n > 0).then(|| buf.extend_from_slice(&chunk[..n]))
}

/// Reads one request (headers, then `Content-Length` bytes of body); None on a malformed,
/// oversized or too slow one.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::with_capacity(2048);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > HEAD_LIMIT {
            return None;
        }
        read_more(sock, &mut buf).await?;
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
        read_more(sock, &mut body).await?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Keep(Mutex<Vec<(String, Vec<u8>)>>);

    impl AlertSink for Keep {
        fn deliver(&self, stack: &str, body: &[u8]) -> Result<(), (bool, String)> {
            if stack != "shop" {
                return Err((true, "unknown".into()));
            }
            self.0.lock().unwrap().push((stack.into(), body.to_vec()));
            Ok(())
        }
    }

    async fn send(addr: std::net::SocketAddr, raw: &[u8]) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    #[tokio::test]
    async fn a_posted_body_reaches_the_sink_whole() {
        let sink = Arc::new(Keep(Mutex::new(Vec::new())));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(
            listener,
            Arc::new(Endpoint {
                metrics: Arc::new(Metrics::new()),
                ready: Arc::new(AtomicBool::new(true)),
                alerts: Some(sink.clone()),
            }),
        ));
        let body = vec![b'x'; 10_000];
        let mut raw = format!(
            "POST /alerts/shop HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        raw.extend_from_slice(&body);
        assert!(send(addr, &raw).await.starts_with("HTTP/1.1 200"));
        assert_eq!(sink.0.lock().unwrap()[0].1, body);
        let other = send(
            addr,
            b"POST /alerts/other HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
        )
        .await;
        assert!(other.starts_with("HTTP/1.1 404"), "{other}");
        let get = send(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
        assert!(get.starts_with("HTTP/1.1 200"), "{get}");
    }
}
