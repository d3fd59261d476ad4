//! Each route's phases as a browser meets them on a new connection — DNS, connect, TLS,
//! time to first byte, total — over repeated requests, as percentiles.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::load::{Conn, Endpoint};

/// A route of the stack and how the audit reaches it.
#[derive(Clone)]
pub struct RouteTarget {
    /// What the report calls it: `frontend /`, `cms /server/ping`.
    pub name: String,
    /// The component that answers it.
    pub component: String,
    /// The public URL (what a visitor types).
    pub url: String,
    pub endpoint: Endpoint,
    pub path: String,
    /// The public host name and port, resolved through the system's resolver for the DNS
    /// phase (the requests themselves go to `endpoint.addr`, this host's own address).
    pub public: Option<(String, u16)>,
}

/// Percentiles of one phase, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Spread {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

impl Spread {
    pub fn of(samples: &mut [f64]) -> Self {
        samples.sort_by(f64::total_cmp);
        let q = |x: f64| {
            if samples.is_empty() {
                return 0.0;
            }
            let i = ((samples.len() as f64 * x).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i]
        };
        Spread {
            p50: q(0.50),
            p95: q(0.95),
            p99: q(0.99),
        }
    }
}

/// A route's timings.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteTiming {
    pub name: String,
    pub url: String,
    pub requests: u32,
    pub failed: u32,
    /// The status of the last answer.
    pub status: u16,
    pub body_bytes: usize,
    /// None when the public name does not resolve here (then measured on this host's
    /// address, as the audit always is).
    pub dns: Option<Spread>,
    pub connect: Spread,
    pub tls: Option<Spread>,
    pub ttfb: Spread,
    pub total: Spread,
}

/// `n` requests to `t`, each on a new connection (a first visit's cost), one at a time.
pub async fn time_route(t: &RouteTarget, n: u32) -> RouteTiming {
    let request = t.endpoint.get(&t.path);
    let (mut dns, mut connect, mut tls, mut ttfb, mut total) =
        (vec![], vec![], vec![], vec![], vec![]);
    let (mut failed, mut status, mut body_bytes) = (0, 0, 0);
    for _ in 0..n {
        if let Some((host, port)) = &t.public {
            let start = Instant::now();
            if tokio::net::lookup_host((host.as_str(), *port))
                .await
                .is_ok()
            {
                dns.push(ms(start.elapsed()));
            }
        }
        let started = Instant::now();
        let answer = async {
            let (mut conn, setup) = Conn::open(&t.endpoint).await?;
            let reply = conn.send(&request).await?;
            Ok::<_, std::io::Error>((setup, reply))
        };
        match tokio::time::timeout(Duration::from_secs(30), answer).await {
            Ok(Ok((setup, reply))) => {
                connect.push(ms(setup.connect));
                if let Some(d) = setup.tls {
                    tls.push(ms(d));
                }
                // From the first byte sent on the new connection, as curl's time_starttransfer.
                ttfb.push(ms(setup.connect
                    + setup.tls.unwrap_or_default()
                    + reply.ttfb));
                total.push(ms(started.elapsed()));
                status = reply.status;
                body_bytes = reply.body_bytes;
                if reply.status >= 500 {
                    failed += 1;
                }
            }
            _ => failed += 1,
        }
    }
    RouteTiming {
        name: t.name.clone(),
        url: t.url.clone(),
        requests: n,
        failed,
        status,
        body_bytes,
        dns: (!dns.is_empty()).then(|| Spread::of(&mut dns)),
        connect: Spread::of(&mut connect),
        tls: (!tls.is_empty()).then(|| Spread::of(&mut tls)),
        ttfb: Spread::of(&mut ttfb),
        total: Spread::of(&mut total),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            Spread::of(&mut v),
            Spread {
                p50: 50.0,
                p95: 95.0,
                p99: 99.0
            }
        );
        let mut one = vec![7.0];
        assert_eq!(Spread::of(&mut one).p99, 7.0);
        assert_eq!(Spread::of(&mut []).p50, 0.0);
    }
}
