//! A minimal HTTP/1.1 endpoint for /metrics, /healthz and /readyz. Three fixed GET routes
//! do not justify a web framework in a daemon whose idle memory is budgeted.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::metrics::Metrics;

/// Shared state the endpoint reads.
pub struct Endpoint {
    pub metrics: Arc<Metrics>,
    /// True once every stack finished its first sync.
    pub ready: Arc<AtomicBool>,
}

pub async fn serve(listener: TcpListener, endpoint: Arc<Endpoint>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let endpoint = endpoint.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            let n =
                match tokio::time::timeout(std::time::Duration::from_secs(5), sock.read(&mut buf))
                    .await
                {
                    Ok(Ok(n)) => n,
                    _ => return,
                };
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("/");
            let (code, ctype, body) = route(&endpoint, head.starts_with("GET "), path);
            let resp = format!(
                "HTTP/1.1 {code}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
            let _ = sock.shutdown().await;
        });
    }
}

fn route(e: &Endpoint, get: bool, path: &str) -> (&'static str, &'static str, String) {
    if !get {
        return (
            "405 Method Not Allowed",
            "text/plain",
            "method not allowed\n".into(),
        );
    }
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
