//! Draining a replaced container: the edge's connections still open on the component's
//! port, read from the kernel's table inside the container (`/proc/net/tcp`: the stack's
//! networks are IPv4), until none is left or the drain time has passed. The edge's own counts cannot say: Caddy drops
//! an upstream from its pool as soon as a new config replaces the old, requests in flight or
//! not (measured: the old container stopped under them, 502 "unexpected EOF"). The edge
//! opens one connection per request (no keep-alive to upstreams), so an open connection is a
//! request under way. Other clients keep idle keep-alive connections open indefinitely, so
//! theirs cannot say; they get the component's stop grace period (SIGTERM first).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::engine::Engine;
use super::error::DockerError;

const POLL: Duration = Duration::from_millis(200);
const UNREADABLE_GRACE: Duration = Duration::from_secs(2);
/// ESTABLISHED, and CLOSE_WAIT (the client is done sending; the answer may still be due).
const OPEN_STATES: [&str; 2] = ["01", "08"];

/// An IPv4 address as /proc/net/tcp writes it (the 32-bit value in host order, hex).
fn proc_hex(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("{d:02X}{c:02X}{b:02X}{a:02X}")
}

/// Connections in `table` (the text of /proc/net/tcp) from `peer` to local port `port`.
pub fn open_connections(table: &str, port: u16, peer: Ipv4Addr) -> usize {
    let (want_port, want_peer) = (format!("{port:04X}"), proc_hex(peer));
    table
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let local = f.nth(1)?;
            let remote = f.next()?;
            let state = f.next()?;
            Some((local.rsplit(':').next()?, remote.split(':').next()?, state))
        })
        .filter(|(p, r, st)| *p == want_port && *r == want_peer && OPEN_STATES.contains(st))
        .count()
}

/// Waits until `container` has no open connection from `peer` (the edge) on `port`, at
/// most `limit`. Ok(true):
/// drained; Ok(false): the limit passed first, or the table could not be read (then after a
/// grace of 2 s).
pub async fn drain<E: Engine>(
    engine: &E,
    container: &str,
    port: u16,
    peer: Ipv4Addr,
    limit: Duration,
) -> Result<bool, DockerError> {
    let end = Instant::now() + limit;
    let cmd: Vec<String> = ["cat", "/proc/net/tcp"].map(String::from).to_vec();
    loop {
        let table = match engine.exec(container, cmd.clone()).await {
            Ok(out) if out.output.contains("local_address") => out.output,
            // An image without `cat` (distroless): a short grace instead of a count.
            _ => {
                tokio::time::sleep(UNREADABLE_GRACE.min(limit)).await;
                return Ok(false);
            }
        };
        if open_connections(&table, port, peer) == 0 {
            return Ok(true);
        }
        if Instant::now() >= end {
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_open_connections_on_the_port_count() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000 10002        0 1 1
   1: 0300A8C0:0BB8 0B00A8C0:D9A2 01 00000000:00000000 00:00000000 00000000 10002        0 2 1
   2: 0300A8C0:0BB8 0B00A8C0:D9A4 06 00000000:00000000 03:00000000 00000000     0        0 0 3
   3: 0300A8C0:0BB8 0B00A8C0:D9A6 08 00000000:00000000 00:00000000 00000000 10002        0 3 1
   4: 0300A8C0:A1B2 0200A8C0:1F6F 01 00000000:00000000 00:00000000 00000000 10002        0 4 1
";
        // The listener (0A) and a TIME_WAIT (06) are not requests; the outgoing one is
        // another port; only the edge's connections count.
        let edge = Ipv4Addr::new(192, 168, 0, 11);
        assert_eq!(open_connections(table, 3000, edge), 2);
        assert_eq!(
            open_connections(table, 3000, Ipv4Addr::new(192, 168, 0, 12)),
            0
        );
        assert_eq!(open_connections(table, 8055, edge), 0);
    }
}
