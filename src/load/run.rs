//! The load generator: virtual users with think time (closed model) or a fixed arrival
//! rate (open model), over keep-alive connections, latencies in HDR histograms.
//!
//! Coordinated omission: in the open model each request is timed from when the pacer
//! released it, not from when a connection got to send it, so a stalled server shows in
//! the percentiles; in
//! the closed model with think time, a response slower than the think time is recorded
//! with the samples a user who had not waited would have seen (`record_correct`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::conn::{Conn, Endpoint};
use super::pacer::Feed;
use super::stats::{Stats, MAX_LATENCY_US};

/// A path and its share of requests.
#[derive(Clone)]
pub struct Route {
    pub path: String,
    pub weight: u32,
    /// Another server than the load's own (a user's requests may mix a site's pages and
    /// its API); each user keeps one connection per server.
    pub endpoint: Option<Endpoint>,
}

/// How requests arrive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// `users` each send a request, wait for it, think (0.5–1.5 × `think`), and repeat;
    /// they arrive spread over the first think time.
    Closed { users: u32, think: Duration },
    /// `rate` requests per second in all, due at fixed intervals, on `connections`.
    Open { rate: f64, connections: u32 },
}

/// One load run.
#[derive(Clone)]
pub struct Load {
    pub endpoint: Endpoint,
    pub routes: Vec<Route>,
    pub pace: Pace,
    pub duration: Duration,
    /// A hard bound on requests sent, whatever the duration.
    pub max_requests: u64,
}

/// What the workers share: the request counter and the clock.
struct Shared {
    claimed: AtomicU64,
    start: Instant,
    stop_at: Instant,
    max: u64,
}

/// Runs `load` on the current runtime.
pub async fn run(load: &Load) -> Stats {
    let shared = shared(load);
    let (workers, _) = split(load.pace, 1);
    let stats = run_workers(load, &shared, workers, 1, 0).await;
    finish(stats, &shared)
}

/// Runs `load` on `threads` OS threads, each with its own single-threaded runtime (what
/// `--threads 1` measures: the generator on one core).
pub fn run_on_threads(load: &Load, threads: u32) -> std::io::Result<Stats> {
    let shared = shared(load);
    let threads = threads.max(1);
    let (per_thread, pace) = split(load.pace, threads);
    let mut load = load.clone();
    load.pace = pace;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (load, shared) = (load.clone(), shared.clone());
            std::thread::Builder::new().name(format!("load-{t}")).spawn(
                move || -> std::io::Result<Stats> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    Ok(rt.block_on(run_workers(&load, &shared, per_thread, threads, t)))
                },
            )
        })
        .collect::<Result<_, _>>()?;
    let mut all = Stats::new();
    for h in handles {
        let stats = h
            .join()
            .map_err(|_| std::io::Error::other("a load thread panicked"))??;
        all.merge(stats);
    }
    Ok(finish(all, &shared))
}

fn shared(load: &Load) -> Arc<Shared> {
    let start = Instant::now();
    Arc::new(Shared {
        claimed: AtomicU64::new(0),
        start,
        stop_at: start + load.duration,
        max: load.max_requests,
    })
}

fn finish(mut stats: Stats, shared: &Shared) -> Stats {
    stats.elapsed = shared
        .start
        .elapsed()
        .min(shared.stop_at - shared.start)
        .max(Duration::from_millis(1));
    stats
}

/// Workers per thread; the pace is global (the counter spaces open-model requests).
fn split(pace: Pace, threads: u32) -> (u32, Pace) {
    let n = match pace {
        Pace::Closed { users, .. } => users,
        Pace::Open { connections, .. } => connections,
    };
    (n.div_ceil(threads).max(1), pace)
}

async fn run_workers(
    load: &Load,
    shared: &Arc<Shared>,
    workers: u32,
    threads: u32,
    thread: u32,
) -> Stats {
    let mut endpoints = vec![load.endpoint.clone()];
    let mut requests: Vec<Request> = Vec::new();
    for r in &load.routes {
        let ep = r.endpoint.as_ref().unwrap_or(&load.endpoint);
        let at = match endpoints
            .iter()
            .position(|e| e.addr == ep.addr && e.host == ep.host)
        {
            Some(i) => i,
            None => {
                endpoints.push(ep.clone());
                endpoints.len() - 1
            }
        };
        requests.push(Request {
            endpoint: at,
            bytes: ep.get(&r.path),
            weight: r.weight.max(1),
        });
    }
    let (requests, endpoints) = (Arc::new(requests), Arc::new(endpoints));
    // The open model's requests are released by one pacer per thread, each stamped with
    // when it was released: a worker that picks one up late (all busy) counts the wait.
    let feed = match load.pace {
        Pace::Open { rate, .. } => {
            let rate = rate / f64::from(threads.max(1));
            let (stop_at, shared) = (shared.stop_at, shared.clone());
            let claim = move || shared.claimed.fetch_add(1, Ordering::Relaxed) < shared.max;
            Some(Feed::start(rate, workers, stop_at, claim))
        }
        Pace::Closed { .. } => None,
    };
    let mut set = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (ep, reqs, shared, pace) = (
            endpoints.clone(),
            requests.clone(),
            shared.clone(),
            load.pace,
        );
        let feed = feed.clone();
        let seed = u64::from(thread) << 32 | u64::from(w);
        set.spawn(async move { worker(ep, reqs, pace, shared, feed, seed).await });
    }
    let mut all = Stats::new();
    while let Some(done) = set.join_next().await {
        if let Ok(stats) = done {
            all.merge(stats);
        }
    }
    all
}

/// The closed model's next start: now, while the run's bounds allow.
fn closed_start(shared: &Shared) -> Option<Instant> {
    let i = shared.claimed.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    (i < shared.max && now < shared.stop_at).then_some(now)
}

/// A route's request, ready to send, and which server it goes to.
struct Request {
    endpoint: usize,
    bytes: Vec<u8>,
    weight: u32,
}

async fn worker(
    eps: Arc<Vec<Endpoint>>,
    reqs: Arc<Vec<Request>>,
    pace: Pace,
    shared: Arc<Shared>,
    feed: Option<Feed>,
    seed: u64,
) -> Stats {
    let mut rng = StdRng::seed_from_u64(seed);
    let total_weight: u32 = reqs.iter().map(|r| r.weight).sum();
    let mut stats = Stats::new();
    let mut conns: Vec<Option<Conn>> = eps.iter().map(|_| None).collect();
    // The open model's clock starts once every worker holds its connections: a connect
    // (or the runtime's start) before the first request is not the server's latency.
    if let Some(f) = &feed {
        for (ep, conn) in eps.iter().zip(conns.iter_mut()) {
            *conn = Conn::open(ep).await.ok().map(|(c, _)| c);
        }
        f.ready();
    }
    // Users arrive spread over one think time, as visitors do, not all in the first instant.
    if let Pace::Closed { think, .. } = pace {
        if !think.is_zero() {
            let arrive = Instant::now() + think.mul_f64(rng.random_range(0.0..1.0));
            tokio::time::sleep_until(arrive.min(shared.stop_at).into()).await;
        }
    }
    loop {
        let free_at = Instant::now();
        let next = match &feed {
            Some(f) => f.next().await,
            None => closed_start(&shared),
        };
        let Some(released) = next else {
            break;
        };
        // Released while this worker was busy: the wait counts (coordinated omission).
        // Released while it waited: it starts when it wakes; the wake-up is the generator's
        // own scheduling, not the server's latency.
        let start = if released < free_at {
            released
        } else {
            Instant::now()
        };
        let Some(req) = pick(&reqs, total_weight, &mut rng) else {
            break;
        };
        stats.sent += 1;
        let result = send(&eps[req.endpoint], &mut conns[req.endpoint], &req.bytes).await;
        let latency_us = (start.elapsed().as_micros() as u64).clamp(1, MAX_LATENCY_US);
        match result {
            Ok(status) => {
                *stats.statuses.entry(status).or_default() += 1;
                if status >= 500 {
                    stats.failed += 1;
                } else {
                    stats.ok += 1;
                }
            }
            Err(e) => {
                stats.failed += 1;
                *stats.errors.entry(e.kind().to_string()).or_default() += 1;
                // A refused connection answers at once: do not spin on it.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        if let Pace::Closed { think, .. } = pace {
            let think_us = think.as_micros() as u64;
            let _ = stats.latency.record_correct(latency_us, think_us);
            if !think.is_zero() {
                let factor: f64 = rng.random_range(0.5..1.5);
                let wake = Instant::now() + think.mul_f64(factor);
                tokio::time::sleep_until(wake.min(shared.stop_at).into()).await;
            }
        } else {
            let _ = stats.latency.record(latency_us);
        }
    }
    stats
}

fn pick<'a>(reqs: &'a [Request], total: u32, rng: &mut StdRng) -> Option<&'a Request> {
    let mut roll = rng.random_range(0..total.max(1));
    for r in reqs {
        if roll < r.weight {
            return Some(r);
        }
        roll -= r.weight;
    }
    reqs.first()
}

/// One request on the worker's connection, opening it when needed and dropping it when
/// it failed or the server closes it. A kept-alive connection the server closed while it
/// sat idle (Node.js closes them after 5 s) fails before any answer: the GET is sent again
/// once on a new connection, as browsers do.
async fn send(ep: &Endpoint, conn: &mut Option<Conn>, req: &[u8]) -> std::io::Result<u16> {
    let reused = conn.is_some();
    match send_once(ep, conn, req).await {
        Err(e) if reused && stale(&e) => send_once(ep, conn, req).await,
        other => other,
    }
}

/// How a request on a connection the server already closed fails.
fn stale(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | BrokenPipe | ConnectionAborted
    )
}

async fn send_once(ep: &Endpoint, conn: &mut Option<Conn>, req: &[u8]) -> std::io::Result<u16> {
    if conn.is_none() {
        *conn = Some(Conn::open(ep).await?.0);
    }
    let Some(c) = conn.as_mut() else {
        return Err(std::io::ErrorKind::NotConnected.into());
    };
    match c.send(req).await {
        Ok(reply) => {
            if !reply.keep_alive {
                *conn = None;
            }
            Ok(reply.status)
        }
        Err(e) => {
            *conn = None;
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A keep-alive HTTP/1.1 server on loopback answering each request after `delay`,
    /// alternating Content-Length and chunked bodies.
    async fn server(delay: Duration) -> std::net::SocketAddr {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut n = 0u64;
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        tokio::time::sleep(delay).await;
                        n += 1;
                        let reply: &[u8] = if n.is_multiple_of(2) {
                            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
                        } else {
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                        };
                        if s.write_all(reply).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn load(addr: std::net::SocketAddr, pace: Pace, duration: Duration, max: u64) -> Load {
        Load {
            endpoint: Endpoint {
                addr,
                host: "test".into(),
                server_name: "test".into(),
                tls: None,
            },
            routes: vec![Route {
                endpoint: None,
                path: "/".into(),
                weight: 1,
            }],
            pace,
            duration,
            max_requests: max,
        }
    }

    #[tokio::test]
    async fn a_closed_run_stops_at_its_request_bound() {
        let addr = server(Duration::ZERO).await;
        let pace = Pace::Closed {
            users: 4,
            think: Duration::ZERO,
        };
        let s = run(&load(addr, pace, Duration::from_secs(30), 200)).await;
        assert_eq!((s.sent, s.ok, s.failed), (200, 200, 0), "{s:?}");
        assert_eq!(s.statuses.get(&200), Some(&200));
        assert_eq!(s.latency.len(), 200);
    }

    #[tokio::test]
    async fn an_open_run_keeps_its_rate() {
        let addr = server(Duration::ZERO).await;
        let pace = Pace::Open {
            rate: 200.0,
            connections: 4,
        };
        let s = run(&load(addr, pace, Duration::from_secs(1), 10_000)).await;
        assert!((190..=201).contains(&s.sent), "{s:?}");
        assert_eq!(s.failed, 0);
    }

    #[tokio::test]
    async fn a_stalled_server_shows_in_the_open_models_percentiles() {
        // 20 ms per answer on one connection can serve 50/s; at 100/s requests queue and
        // their latency, counted from when each was due, keeps growing.
        let addr = server(Duration::from_millis(20)).await;
        let pace = Pace::Open {
            rate: 100.0,
            connections: 1,
        };
        let s = run(&load(addr, pace, Duration::from_secs(2), 10_000)).await;
        assert!(s.quantile_ms(0.5) > 100.0, "p50 {}", s.quantile_ms(0.5));
        assert!(s.quantile_ms(0.99) > 500.0, "p99 {}", s.quantile_ms(0.99));
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_failure_not_a_hang() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let pace = Pace::Closed {
            users: 1,
            think: Duration::ZERO,
        };
        let s = run(&load(addr, pace, Duration::from_millis(300), 5)).await;
        assert_eq!((s.sent, s.failed), (5, 5));
        assert!(
            s.errors.contains_key("connection refused"),
            "{:?}",
            s.errors
        );
    }
}
