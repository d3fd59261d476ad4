//! One HTTP/1.1 keep-alive connection, plain or TLS, timed phase by phase: what the load
//! generator and the audit's route timings send their requests on.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// The most a response may hold: the generator measures pages, not downloads.
const MAX_RESPONSE: usize = 16 << 20;

/// Where requests go: an address, the Host header, and TLS when the route is HTTPS.
#[derive(Clone)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// The Host header (with the port when not the scheme's default).
    pub host: String,
    /// The name the server's certificate must carry.
    pub server_name: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Endpoint {
    /// The bytes of a GET of `path` (built once, sent many times).
    pub fn get(&self, path: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: appstack-load\r\nAccept: */*\r\n\r\n",
            self.host
        )
        .into_bytes()
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// How long a new connection took to set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct Setup {
    pub connect: Duration,
    pub tls: Option<Duration>,
}

/// One answer, timed from the request's first byte written.
#[derive(Debug, Clone, Copy)]
pub struct Reply {
    pub status: u16,
    pub ttfb: Duration,
    pub total: Duration,
    pub body_bytes: usize,
    /// False when the server said it closes the connection.
    pub keep_alive: bool,
}

/// An open connection.
pub struct Conn {
    io: Box<dyn Io>,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects (and shakes hands, for TLS).
    pub async fn open(ep: &Endpoint) -> io::Result<(Conn, Setup)> {
        let start = Instant::now();
        let tcp = TcpStream::connect(ep.addr).await?;
        tcp.set_nodelay(true)?;
        let connect = start.elapsed();
        let Some(cfg) = &ep.tls else {
            let conn = Conn {
                io: Box::new(tcp),
                buf: Vec::with_capacity(16 << 10),
            };
            return Ok((conn, Setup { connect, tls: None }));
        };
        let name = ServerName::try_from(ep.server_name.clone())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let tls_start = Instant::now();
        let stream = tokio_rustls::TlsConnector::from(cfg.clone())
            .connect(name, tcp)
            .await?;
        let setup = Setup {
            connect,
            tls: Some(tls_start.elapsed()),
        };
        let conn = Conn {
            io: Box::new(stream),
            buf: Vec::with_capacity(16 << 10),
        };
        Ok((conn, setup))
    }

    /// Sends `request` and reads the whole response.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<Reply> {
        let start = Instant::now();
        self.io.write_all(request).await?;
        self.buf.clear();
        let mut ttfb = None;
        let head = loop {
            self.fill().await?;
            ttfb.get_or_insert_with(|| start.elapsed());
            if let Some(h) = parse_head(&self.buf)? {
                break h;
            }
        };
        let body_bytes = self.read_body(&head).await?;
        Ok(Reply {
            status: head.status,
            ttfb: ttfb.unwrap_or_default(),
            total: start.elapsed(),
            body_bytes,
            keep_alive: head.keep_alive && head.framing != Framing::UntilClose,
        })
    }

    /// Reads more bytes into the buffer; the peer closing is an error here.
    async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.len() >= MAX_RESPONSE {
            return Err(io::Error::other("response larger than 16 MiB"));
        }
        self.buf.reserve(16 << 10);
        let n = self.io.read_buf(&mut self.buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(n)
    }

    async fn read_body(&mut self, head: &Head) -> io::Result<usize> {
        match head.framing {
            Framing::Length(n) => {
                while self.buf.len() < head.len + n {
                    self.fill().await?;
                }
                Ok(n)
            }
            Framing::Chunked => loop {
                if let Some(n) = chunked_len(&self.buf[head.len..])? {
                    return Ok(n);
                }
                self.fill().await?;
            },
            Framing::UntilClose => loop {
                match self.fill().await {
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        return Ok(self.buf.len() - head.len)
                    }
                    Err(e) => return Err(e),
                }
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

#[derive(Debug)]
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    keep_alive: bool,
}

/// The response head, once complete.
fn parse_head(buf: &[u8]) -> io::Result<Option<Head>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut r = httparse::Response::new(&mut headers);
    let len = match r.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
    };
    let status = r.code.unwrap_or(0);
    let mut framing = Framing::UntilClose;
    let mut keep_alive = r.version == Some(1);
    for h in r.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = value
                .trim()
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
            framing = Framing::Length(n);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") && value.contains("chunked") {
            framing = Framing::Chunked;
        } else if h.name.eq_ignore_ascii_case("connection") {
            keep_alive = !value.eq_ignore_ascii_case("close");
        }
    }
    // No body for these, whatever the headers say.
    if status == 204 || status == 304 || (100..200).contains(&status) {
        framing = Framing::Length(0);
    }
    Ok(Some(Head {
        status,
        len,
        framing,
        keep_alive,
    }))
}

/// The data length of a complete chunked body, or None while it is incomplete.
fn chunked_len(body: &[u8]) -> io::Result<Option<usize>> {
    let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunked encoding");
    let mut pos = 0;
    let mut total = 0;
    loop {
        let Some(eol) = find_crlf(&body[pos..]) else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&body[pos..pos + eol]).map_err(|_| bad())?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad())?;
        pos += eol + 2;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            loop {
                let Some(eol) = find_crlf(&body[pos..]) else {
                    return Ok(None);
                };
                pos += eol + 2;
                if eol == 0 {
                    return Ok(Some(total));
                }
            }
        }
        if body.len() < pos + size + 2 {
            return Ok(None);
        }
        total += size;
        pos += size + 2;
    }
}

fn find_crlf(b: &[u8]) -> Option<usize> {
    b.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heads_and_bodies_are_framed() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (200, Framing::Length(5), true)
        );
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nContent-Le")
            .unwrap()
            .is_none());
        let h = parse_head(b"HTTP/1.1 503 x\r\nConnection: close\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(
            (h.status, h.framing, h.keep_alive),
            (503, Framing::UntilClose, false)
        );
        let h = parse_head(b"HTTP/1.1 304 x\r\nContent-Length: 9\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.framing, Framing::Length(0));
    }

    #[test]
    fn chunked_bodies_complete_only_at_the_last_chunk() {
        assert_eq!(chunked_len(b"5\r\nhello\r\n").unwrap(), None);
        assert_eq!(chunked_len(b"5\r\nhello\r\n0\r\n\r\n").unwrap(), Some(5));
        assert_eq!(
            chunked_len(b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n").unwrap(),
            Some(5)
        );
        assert!(chunked_len(b"zz\r\n").is_err());
    }
}
