//! Kubernetes-style quantities ("20Gi", "512M", "500m" CPU) and durations ("15m", "1h30m").

/// Parses a byte quantity: a plain number or one with a binary (Ki..Ei) or decimal (k..E) suffix.
pub fn parse_bytes(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    if number.is_empty() {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    let bytes = value * factor;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 || bytes.fract() != 0.0 {
        return None;
    }
    Some(bytes as u64)
}

/// Parses a CPU quantity ("2", "0.5", "500m") into millicores.
pub fn parse_cpu_millis(text: &str) -> Option<u64> {
    let text = text.trim();
    if let Some(millis) = text.strip_suffix('m') {
        return millis.parse::<u64>().ok().filter(|m| *m > 0);
    }
    let cores: f64 = text.parse().ok()?;
    let millis = cores * 1000.0;
    (millis.is_finite() && millis >= 1.0 && millis.fract() == 0.0).then_some(millis as u64)
}

/// The longest duration a spec may name: a century. Anything longer is a typo, and date
/// arithmetic with it (a retention cutoff, a schedule's deadline) would overflow.
pub const MAX_DURATION_DAYS: u64 = 36_500;

/// Why a text is not a duration appstack can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DurationError {
    Malformed,
    TooLong,
}

/// Parses a duration made of number+unit pairs: ms, s, m, h, d, w ("90s", "1h30m", "14d"),
/// at most [`MAX_DURATION_DAYS`].
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    checked_duration(text).ok()
}

/// [`parse_duration`], saying why not.
pub fn checked_duration(text: &str) -> Result<std::time::Duration, DurationError> {
    let d = unbounded_duration(text).ok_or(DurationError::Malformed)?;
    if d > std::time::Duration::from_secs(MAX_DURATION_DAYS * 86_400) {
        return Err(DurationError::TooLong);
    }
    Ok(d)
}

fn unbounded_duration(text: &str) -> Option<std::time::Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total_ms: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u128 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_ms: u128 = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ms = total_ms.checked_add(number.checked_mul(unit_ms)?)?;
    }
    Some(std::time::Duration::from_millis(
        u64::try_from(total_ms).ok()?,
    ))
}

/// Formats bytes the way a person reads them ("1.5 GiB").
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration in the largest whole unit of the manifest's syntax (`14d`, `90m`, `45s`).
pub fn format_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn durations_are_bounded() {
        assert_eq!(
            checked_duration("36500d"),
            Ok(Duration::from_secs(36_500 * 86_400))
        );
        assert_eq!(checked_duration("36501d"), Err(DurationError::TooLong));
        assert_eq!(checked_duration("99999999d"), Err(DurationError::TooLong));
        assert_eq!(
            checked_duration("99999999999999999999999999d"),
            Err(DurationError::Malformed)
        );
        assert_eq!(checked_duration("14x"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("99999999d"), None);
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("20Gi"), Some(20 * 1024 * 1024 * 1024));
        assert_eq!(parse_bytes("512M"), Some(512_000_000));
        assert_eq!(parse_bytes("1.5Ki"), Some(1536));
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("20Gx"), None);
        assert_eq!(parse_bytes("Gi"), None);
        assert_eq!(parse_bytes("-1Gi"), None);
    }

    #[test]
    fn cpu() {
        assert_eq!(parse_cpu_millis("500m"), Some(500));
        assert_eq!(parse_cpu_millis("2"), Some(2000));
        assert_eq!(parse_cpu_millis("0.25"), Some(250));
        assert_eq!(parse_cpu_millis("0m"), None);
        assert_eq!(parse_cpu_millis("fast"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("14d"), Some(Duration::from_secs(14 * 86400)));
        assert_eq!(parse_duration("15"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("1y"), None);
    }

    #[test]
    fn human_bytes() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
    }
}
