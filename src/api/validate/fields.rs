//! Checks of single fields: quantities, durations, cron, image references, names, paths.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use crate::api::errors::Collector;
use crate::api::quantity::{parse_bytes, parse_cpu_millis};
use crate::api::spec::ResourcesSpec;
use crate::api::validated::*;

pub(super) fn resources(c: &mut Collector, p: &str, r: Option<&ResourcesSpec>) -> Resources {
    let Some(r) = r else {
        return Resources::default();
    };
    let limit = r
        .memory
        .as_ref()
        .map(|m| bytes(c, &format!("{p}.resources.memory"), m));
    let request = r
        .memory_request
        .as_ref()
        .map(|m| bytes(c, &format!("{p}.resources.memoryRequest"), m));
    if let (Some(l), Some(q)) = (limit, request) {
        if q > l && l > 0 {
            c.push(
                format!("{p}.resources.memoryRequest"),
                format!(
                    "{:?} is more than the memory limit {:?}: the request must fit the limit",
                    r.memory_request.as_deref().unwrap_or_default(),
                    r.memory.as_deref().unwrap_or_default()
                ),
            );
        }
    }
    Resources {
        cpu_millis: r.cpu.as_ref().map(|cpu| {
            parse_cpu_millis(cpu).unwrap_or_else(|| {
                c.push(
                    format!("{p}.resources.cpu"),
                    format!("{cpu:?} is not a CPU quantity (e.g. 500m or 2)"),
                );
                0
            })
        }),
        memory_bytes: limit,
        memory_request_bytes: request,
    }
}

/// The largest byte quantity a renderer can carry (Docker and Kubernetes take an i64).
const MAX_BYTES: u64 = i64::MAX as u64;

pub(super) fn bytes(c: &mut Collector, path: &str, text: &str) -> u64 {
    match parse_bytes(text) {
        Some(b) if b > MAX_BYTES => {
            c.push(
                path,
                format!("{text:?} is larger than {MAX_BYTES} bytes (8 EiB), the most a runtime can carry"),
            );
            0
        }
        Some(b) if b > 0 => b,
        _ => {
            c.push(path, format!("{text:?} is not a quantity (e.g. 20Gi)"));
            0
        }
    }
}

pub(super) fn duration(c: &mut Collector, path: &str, text: &str) -> Duration {
    use crate::api::quantity::{checked_duration, DurationError, MAX_DURATION_DAYS};
    match checked_duration(text) {
        Ok(dur) if !dur.is_zero() => dur,
        Err(DurationError::TooLong) => {
            c.push(
                path,
                format!("{text:?} is longer than {MAX_DURATION_DAYS}d (a century), the most a duration may be"),
            );
            Duration::ZERO
        }
        _ => {
            c.push(
                path,
                format!("{text:?} is not a duration (e.g. 15m, 1h, 14d)"),
            );
            Duration::ZERO
        }
    }
}

/// Whether `cron` has a next time, searched from a leap year's first day (so 29 February
/// counts) over the years croner looks at.
fn fires(cron: &croner::Cron) -> bool {
    use chrono::TimeZone;
    chrono::Utc
        .with_ymd_and_hms(2028, 1, 1, 0, 0, 0)
        .single()
        .is_some_and(|from| cron.find_next_occurrence(&from, true).is_ok())
}

pub(super) fn cron(c: &mut Collector, path: &str, text: &str) -> String {
    if text.split_whitespace().count() != 5 {
        c.push(path, format!("{text:?} is not a cron expression (expected 5 fields: minute hour day month weekday, e.g. \"0 2 * * *\")"));
    } else {
        match croner::Cron::from_str(text) {
            Err(err) => c.push(path, format!("{text:?} is not a cron expression: {err}")),
            // A day that never comes (31 February) would end its schedule without a run.
            Ok(cron) if !fires(&cron) => c.push(
                path,
                format!("{text:?} never fires (no such day in any month and year)"),
            ),
            Ok(_) => {}
        }
    }
    text.to_string()
}

pub(super) fn image(c: &mut Collector, path: &str, image: &str) {
    if image.trim().is_empty() {
        c.push(path, "an image is required (e.g. postgis/postgis:15-3.4)");
    } else if let Err(why) = super::reference::check(image) {
        c.push(
            path,
            format!("{image:?} is not an image reference ({why}; e.g. registry.example.com:5000/team/name:tag)"),
        );
    }
}

/// An http(s) URL with a host (a webhook, an S3 endpoint), parsed as a URL.
pub(super) fn http_url(c: &mut Collector, path: &str, text: &str) {
    let parsed = url::Url::parse(text);
    let problem = match &parsed {
        Err(e) => Some(format!("{text:?} is not a URL: {e}")),
        Ok(u) if !matches!(u.scheme(), "http" | "https") => {
            Some(format!("{text:?}: expected an http:// or https:// URL"))
        }
        Ok(u) if u.host_str().is_none_or(str::is_empty) => {
            Some(format!("{text:?}: the URL has no host"))
        }
        Ok(_) if text.chars().any(|ch| ch.is_whitespace() || ch.is_control()) => Some(format!(
            "{text:?}: a URL holds no spaces or control characters"
        )),
        Ok(_) => None,
    };
    if let Some(p) = problem {
        c.push(path, p);
    }
}

pub(super) fn env(c: &mut Collector, p: &str, env: &BTreeMap<String, String>) {
    for key in env.keys() {
        let ok = key
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
            && key
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !ok {
            c.push(format!("{p}.env.{key}"), "is not an environment variable name (expected letters, digits and '_', not starting with a digit)");
        }
    }
}

pub(super) fn port_nonzero(c: &mut Collector, path: &str, port: u16) {
    if port == 0 {
        c.push(path, "0 is not a port (expected 1 to 65535)");
    }
}

pub(super) fn replicas(c: &mut Collector, path: &str, n: u32) {
    if !(1..=100).contains(&n) {
        c.push(path, format!("{n} is out of range (expected 1 to 100; use enabled: false to turn a component off)"));
    }
}

pub(super) fn ident(c: &mut Collector, path: &str, text: &str) {
    let ok = text.len() <= 63
        && text
            .chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_lowercase() || ch == '_')
        && text
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
    if !ok {
        c.push(path, format!("{text:?} is not a PostgreSQL identifier (expected lowercase letters, digits and '_')"));
    }
}

pub(super) fn abs_path(c: &mut Collector, path: &str, text: &str) -> String {
    if !text.starts_with('/') {
        c.push(path, format!("{text:?} must be an absolute path"));
    } else if text.split('/').any(|part| part == "..")
        || !text
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '/' | '.' | '_' | '-'))
    {
        // It becomes a mount target and a tool's argument: plain characters only.
        c.push(
            path,
            format!(
                "{text:?}: a path of letters, digits, '/', '.', '_' and '-' only, without '..'"
            ),
        );
    }
    text.to_string()
}

pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|ch: char| ch.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
}

pub(super) fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
        })
}

/// An address or a CIDR range, in canonical form (`10.0.0.0/8`, `2001:db8::1`).
pub(super) fn network(c: &mut Collector, path: &str, text: &str) -> Option<String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (text, None),
    };
    let parsed = std::net::IpAddr::from_str(addr.trim()).ok().and_then(|ip| {
        let max = if ip.is_ipv4() { 32 } else { 128 };
        match prefix {
            None => Some(ip.to_string()),
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= max)
                .map(|n| format!("{ip}/{n}")),
        }
    });
    if parsed.is_none() {
        c.push(
            path,
            format!("{text:?} is not an IP address or CIDR range (expected e.g. 203.0.113.7, 10.0.0.0/8 or 2001:db8::/32)"),
        );
    }
    parsed
}
