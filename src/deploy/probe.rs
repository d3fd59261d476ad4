//! The proof while deploying: a bounded, open-loop request loop against the stack's public
//! route on this host (the edge's own port, the route's host name sent as SNI and Host),
//! at a fixed rate, each request on a fresh connection, recorded with the phase of the
//! deploy it was sent in. Failures are transport errors and 5xx answers; the maintenance
//! page (503 marked by the edge) is counted apart.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The header the edge's maintenance page carries.
pub const MAINTENANCE_HEADER: &str = "x-appstack-maintenance";
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_BODY: usize = 1 << 20;
/// In flight at once; a request beyond it is counted failed rather than queued (an open
/// loop never waits for a slow server: that is what it measures).
const MAX_IN_FLIGHT: usize = 256;

/// The part of a deploy a request was sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Before,
    During,
    After,
}

impl Phase {
    const ALL: [Phase; 3] = [Phase::Before, Phase::During, Phase::After];
    fn index(self) -> u8 {
        self as u8
    }
}

/// Where and how to send.
#[derive(Clone)]
pub struct Target {
    /// The edge's address on this host.
    pub addr: SocketAddr,
    /// The route's host name (Host header; SNI with TLS).
    pub host: String,
    pub path: String,
    /// TLS with these roots; None: plain HTTP.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

#[derive(Debug, Clone)]
struct Sample {
    phase: Phase,
    sent: Duration,
    latency: Duration,
    outcome: Outcome,
    /// What failed, for a failed request.
    why: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Maintenance,
    Failed,
}

/// Figures of one phase.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PhaseStats {
    pub phase: Phase,
    pub sent: u64,
    pub failed: u64,
    /// Answered by the maintenance page (expected, not failures).
    pub maintenance: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// The probe's whole report.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    pub url: String,
    pub rate_per_sec: u32,
    pub phases: Vec<PhaseStats>,
    pub sent: u64,
    pub failed: u64,
    /// The longest time between two successful answers (ms).
    pub longest_gap_ms: f64,
    /// Failed requests by what failed (a status, a transport error, no answer in time).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub failures: std::collections::BTreeMap<String, u64>,
}

impl ProbeReport {
    pub fn phase(&self, p: Phase) -> Option<&PhaseStats> {
        self.phases.iter().find(|s| s.phase == p)
    }
}

/// A running probe: set its phase as the deploy moves, then stop it for the report.
pub struct Probe {
    phase: Arc<AtomicU8>,
    samples: Arc<Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
    url: String,
    rate: u32,
}

impl Probe {
    /// Starts sending `rate` requests a second, at most `max_requests` and for at most
    /// `max_time` in all.
    pub fn start(target: Target, rate: u32, max_requests: u64, max_time: Duration) -> Probe {
        let phase = Arc::new(AtomicU8::new(Phase::Before.index()));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let scheme = if target.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!(
            "{scheme}://{}:{}{}",
            target.host,
            target.addr.port(),
            target.path
        );
        let task = tokio::spawn(send_loop(
            target,
            rate.max(1),
            max_requests,
            max_time,
            phase.clone(),
            samples.clone(),
        ));
        Probe {
            phase,
            samples,
            task,
            url,
            rate,
        }
    }

    pub fn set_phase(&self, p: Phase) {
        self.phase.store(p.index(), Ordering::SeqCst);
    }

    /// The figures so far (the probe keeps sending).
    pub fn snapshot(&self) -> ProbeReport {
        let samples = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
        summarise(&self.url, self.rate, &samples)
    }

    /// Stops sending, waits for the answers under way, and summarises.
    pub async fn finish(self) -> ProbeReport {
        self.task.abort();
        let _ = self.task.await;
        // Requests already sent finish within their timeout.
        let until = Instant::now() + REQUEST_TIMEOUT;
        while Arc::strong_count(&self.samples) > 1 && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let samples = self.samples.lock().map(|s| s.clone()).unwrap_or_default();
        summarise(&self.url, self.rate, &samples)
    }
}

async fn send_loop(
    target: Target,
    rate: u32,
    max_requests: u64,
    max_time: Duration,
    phase: Arc<AtomicU8>,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut sent = 0u64;
    while sent < max_requests && start.elapsed() < max_time {
        tick.tick().await;
        sent += 1;
        let p = Phase::ALL[usize::from(phase.load(Ordering::SeqCst)).min(2)];
        let sent_at = start.elapsed();
        let Ok(permit) = in_flight.clone().try_acquire_owned() else {
            let why = Some(format!("more than {MAX_IN_FLIGHT} requests in flight"));
            push(&samples, p, sent_at, Duration::ZERO, (Outcome::Failed, why));
            continue;
        };
        let target = target.clone();
        let samples = samples.clone();
        tokio::spawn(async move {
            let t0 = Instant::now();
            let outcome = match tokio::time::timeout(REQUEST_TIMEOUT, request(&target)).await {
                Ok(Ok((Outcome::Failed, status))) => {
                    (Outcome::Failed, Some(format!("status {status}")))
                }
                Ok(Ok((o, _))) => (o, None),
                Ok(Err(e)) => (Outcome::Failed, Some(format!("{}", e.kind()))),
                Err(_) => (
                    Outcome::Failed,
                    Some(format!("no answer in {}s", REQUEST_TIMEOUT.as_secs())),
                ),
            };
            push(&samples, p, sent_at, t0.elapsed(), outcome);
            drop(permit);
        });
    }
}

fn push(
    samples: &Mutex<Vec<Sample>>,
    phase: Phase,
    sent: Duration,
    latency: Duration,
    (outcome, why): (Outcome, Option<String>),
) {
    if let Ok(mut s) = samples.lock() {
        s.push(Sample {
            phase,
            sent,
            latency,
            outcome,
            why,
        });
    }
}

/// One GET on a fresh connection: the outcome by status (and the maintenance mark).
async fn request(t: &Target) -> std::io::Result<(Outcome, u16)> {
    let tcp = TcpStream::connect(t.addr).await?;
    tcp.set_nodelay(true)?;
    let head = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: appstack-deploy-probe\r\nAccept: text/html\r\nConnection: close\r\n\r\n",
        t.path, t.host
    );
    let raw = match &t.tls {
        Some(cfg) => {
            let name = ServerName::try_from(t.host.clone())
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            let mut s = tokio_rustls::TlsConnector::from(cfg.clone())
                .connect(name, tcp)
                .await?;
            s.write_all(head.as_bytes()).await?;
            read_bounded(&mut s).await?
        }
        None => {
            let mut s = tcp;
            s.write_all(head.as_bytes()).await?;
            read_bounded(&mut s).await?
        }
    };
    Ok((classify(&raw), status_of(&raw)))
}

async fn read_bounded<R: AsyncReadExt + Unpin>(r: &mut R) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match r.read(&mut buf).await {
            Ok(n) => n,
            // A server closing without TLS close_notify after a full answer is common.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 || out.len() >= MAX_BODY {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

/// The status of a raw answer (0 when there is none).
fn status_of(raw: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(16)]).to_ascii_lowercase();
    text.strip_prefix("http/1.1 ")
        .or_else(|| text.strip_prefix("http/1.0 "))
        .and_then(|r| r.get(..3))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn classify(raw: &[u8]) -> Outcome {
    let text = String::from_utf8_lossy(&raw[..raw.len().min(8192)]).to_ascii_lowercase();
    let status = status_of(raw);
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    match status {
        503 if head.contains(&format!("\r\n{MAINTENANCE_HEADER}:")) => Outcome::Maintenance,
        100..=499 => Outcome::Ok,
        _ => Outcome::Failed,
    }
}

fn percentile(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1000.0
}

fn summarise(url: &str, rate: u32, samples: &[Sample]) -> ProbeReport {
    let mut phases = Vec::new();
    for p in Phase::ALL {
        let of: Vec<&Sample> = samples.iter().filter(|s| s.phase == p).collect();
        let mut lat: Vec<Duration> = of
            .iter()
            .filter(|s| s.outcome != Outcome::Failed)
            .map(|s| s.latency)
            .collect();
        lat.sort();
        phases.push(PhaseStats {
            phase: p,
            sent: of.len() as u64,
            failed: of.iter().filter(|s| s.outcome == Outcome::Failed).count() as u64,
            maintenance: of
                .iter()
                .filter(|s| s.outcome == Outcome::Maintenance)
                .count() as u64,
            p50_ms: percentile(&lat, 0.50),
            p99_ms: percentile(&lat, 0.99),
        });
    }
    let mut done: Vec<Duration> = samples
        .iter()
        .filter(|s| s.outcome == Outcome::Ok)
        .map(|s| s.sent + s.latency)
        .collect();
    done.sort();
    let longest_gap = done
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or_default();
    ProbeReport {
        url: url.to_string(),
        rate_per_sec: rate,
        sent: samples.len() as u64,
        failed: samples
            .iter()
            .filter(|s| s.outcome == Outcome::Failed)
            .count() as u64,
        longest_gap_ms: longest_gap.as_secs_f64() * 1000.0,
        failures: samples.iter().filter_map(|s| s.why.clone()).fold(
            std::collections::BTreeMap::new(),
            |mut m, why| {
                *m.entry(why).or_default() += 1;
                m
            },
        ),
        phases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_the_maintenance_mark_classify() {
        assert_eq!(classify(b"HTTP/1.1 200 OK\r\n\r\nhi"), Outcome::Ok);
        assert_eq!(classify(b"HTTP/1.1 404 Not Found\r\n\r\n"), Outcome::Ok);
        assert_eq!(
            classify(b"HTTP/1.1 502 Bad Gateway\r\n\r\n"),
            Outcome::Failed
        );
        assert_eq!(
            classify(b"HTTP/1.1 503 Service Unavailable\r\nX-Appstack-Maintenance: 1\r\n\r\n"),
            Outcome::Maintenance
        );
        assert_eq!(
            classify(b"HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            Outcome::Failed
        );
        assert_eq!(classify(b""), Outcome::Failed);
    }

    #[test]
    fn summary_counts_phases_and_the_longest_gap() {
        let s = |phase, sent_ms, outcome| Sample {
            phase,
            sent: Duration::from_millis(sent_ms),
            latency: Duration::from_millis(10),
            outcome,
            why: (outcome == Outcome::Failed).then(|| "status 502".to_string()),
        };
        let samples = vec![
            s(Phase::Before, 0, Outcome::Ok),
            s(Phase::During, 50, Outcome::Failed),
            s(Phase::During, 100, Outcome::Maintenance),
            s(Phase::After, 400, Outcome::Ok),
        ];
        let r = summarise("u", 20, &samples);
        assert_eq!((r.sent, r.failed), (4, 1));
        assert_eq!(r.phase(Phase::During).unwrap().maintenance, 1);
        assert_eq!(r.longest_gap_ms.round(), 400.0);
        assert_eq!(r.failures.get("status 502"), Some(&1));
    }
}
