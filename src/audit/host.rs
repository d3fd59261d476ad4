//! The host's headroom: CPU busy over a short window, load, memory available, disk free.

use std::time::Duration;

use serde::Serialize;

/// The host as measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub cores: u32,
    /// Percent of all cores busy over the sampling window.
    pub cpu_busy_percent: f64,
    pub load1: f64,
    pub load5: f64,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub disks: Vec<Disk>,
}

/// A filesystem's space.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Disk {
    pub path: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
}

/// Busy and total jiffies of all cores, from /proc/stat's first line.
pub fn cpu_times(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    // idle + iowait are not busy.
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// A /proc/meminfo field in bytes.
pub fn meminfo(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let kib: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kib * 1024)
    })
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Busy percent of all cores between two /proc/stat readings.
pub fn busy_percent(before: (u64, u64), after: (u64, u64)) -> f64 {
    let busy = after.0.saturating_sub(before.0) as f64;
    let total = after.1.saturating_sub(before.1) as f64;
    if total > 0.0 {
        100.0 * busy / total
    } else {
        0.0
    }
}

/// Samples the host over `window`; `paths` are the filesystems to report (missing ones are
/// left out).
pub async fn measure(window: Duration, paths: &[&str]) -> Host {
    let before = cpu_times(&read("/proc/stat")).unwrap_or_default();
    tokio::time::sleep(window).await;
    let after = cpu_times(&read("/proc/stat")).unwrap_or_default();
    let load = read("/proc/loadavg");
    let mut loads = load
        .split_whitespace()
        .filter_map(|x| x.parse::<f64>().ok());
    let mem = read("/proc/meminfo");
    Host {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u32),
        cpu_busy_percent: busy_percent(before, after),
        load1: loads.next().unwrap_or(0.0),
        load5: loads.next().unwrap_or(0.0),
        memory_total_bytes: meminfo(&mem, "MemTotal").unwrap_or(0),
        memory_available_bytes: meminfo(&mem, "MemAvailable").unwrap_or(0),
        disks: paths.iter().filter_map(|p| disk(p)).collect(),
    }
}

fn disk(path: &str) -> Option<Disk> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let frag = s.fragment_size() as u64;
    Some(Disk {
        path: path.to_string(),
        total_bytes: s.blocks() as u64 * frag,
        free_bytes: s.blocks_available() as u64 * frag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        let a = cpu_times("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        assert_eq!(a, (200, 1000));
        let b = (a.0 + 50, a.1 + 100);
        assert!((busy_percent(a, b) - 50.0).abs() < 1e-9);
        let m = "MemTotal:       24000000 kB\nMemAvailable:   1000 kB\n";
        assert_eq!(meminfo(m, "MemAvailable"), Some(1_024_000));
        assert_eq!(meminfo(m, "Nope"), None);
    }
}
