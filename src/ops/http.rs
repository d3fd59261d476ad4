//! A small HTTP/1.1 client for plain-HTTP endpoints inside the engine's networks
//! (Alertmanager's API, a component's health page): one request per connection, read to the
//! end, bounded in time and size.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const LIMIT: usize = 4 << 20;

/// A response: status code, headers (lower-case names) and body.
#[derive(Debug, Clone, Default)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` with an optional JSON body to `addr` (Host: `host`).
pub async fn request(
    addr: SocketAddr,
    host: &str,
    method: &str,
    path: &str,
    json: Option<&str>,
    timeout: Duration,
) -> std::io::Result<Response> {
    let connect = async { TcpStream::connect(addr).await };
    let conn = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| timed_out(&addr.to_string(), timeout))??;
    request_over(conn, &addr.to_string(), host, method, path, json, timeout).await
}

/// The same request over a connection already open (a port-forward's stream); `shown`
/// names the far end in a timeout.
pub async fn request_over<S: AsyncRead + AsyncWrite + Unpin>(
    mut conn: S,
    shown: &str,
    host: &str,
    method: &str,
    path: &str,
    json: Option<&str>,
    timeout: Duration,
) -> std::io::Result<Response> {
    let work = async {
        let body = json.unwrap_or_default();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: appstack\r\n");
        if json.is_some() {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        conn.write_all(head.as_bytes()).await?;
        conn.write_all(body.as_bytes()).await?;
        let mut raw = Vec::new();
        (&mut conn).take(LIMIT as u64).read_to_end(&mut raw).await?;
        parse(&raw)
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| timed_out(shown, timeout))?
}

fn timed_out(shown: &str, timeout: Duration) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{shown}: no answer within {timeout:?}"),
    )
}

fn parse(raw: &[u8]) -> std::io::Result<Response> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(bad)?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Ok(Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if size == 0 || i + 2 + size > b.len() {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + size]);
        b = &b[(i + 4 + size).min(b.len())..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunked_response_is_put_together() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
        let r = parse(raw).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, "abcde");
        assert_eq!(r.header("x-a"), Some("b"));
    }
}
