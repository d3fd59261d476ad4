//! The image reference grammar (the distribution project's): `[host[:port]/]path[:tag][@digest]`,
//! path components of lower-case letters and digits joined by `.`, `_`, `__` or dashes, a tag
//! of at most 128 word characters, dots and dashes, a digest `algorithm:hex`. What Docker and
//! the kubelet would refuse later is refused here, naming the field.

/// Why `image` is not a reference, if it is not.
pub fn check(image: &str) -> Result<(), String> {
    if image.len() > 255 {
        return Err("longer than 255 characters".into());
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest {
        digest_ok(d)?;
    }
    // A tag follows the last ':' after the last '/' (a ':' before it is a registry port).
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(t) = tag {
        tag_ok(t)?;
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    if parts.len() > 1 && looks_like_host(parts[0]) {
        host_ok(parts[0])?;
        parts.remove(0);
    }
    for p in parts {
        component_ok(p)?;
    }
    Ok(())
}

fn looks_like_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

fn host_ok(host: &str) -> Result<(), String> {
    let (name, port) = match host.rsplit_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.chars().all(|ch| ch.is_ascii_digit()) {
            return Err(format!("registry port {p:?} is not a number"));
        }
    }
    let label = |l: &str| {
        !l.is_empty()
            && l.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.split('.').all(label) {
        Ok(())
    } else {
        Err(format!("registry host {name:?} is not a host name"))
    }
}

fn component_ok(p: &str) -> Result<(), String> {
    let alnum = |ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit();
    let bad = || {
        Err(format!(
            "path component {p:?}: lower-case letters and digits, joined by '.', '_', '__' or '-'"
        ))
    };
    let (Some(first), Some(last)) = (p.chars().next(), p.chars().last()) else {
        return bad();
    };
    if !alnum(first)
        || !alnum(last)
        || !p
            .chars()
            .all(|ch| alnum(ch) || matches!(ch, '.' | '_' | '-'))
    {
        return bad();
    }
    // Separators: one '.', one or two '_', or any run of '-'; never mixed.
    let mut run = String::new();
    for ch in p.chars() {
        if alnum(ch) {
            if !matches!(run.as_str(), "" | "." | "_" | "__") && !run.chars().all(|c| c == '-') {
                return bad();
            }
            run.clear();
        } else {
            run.push(ch);
        }
    }
    Ok(())
}

fn tag_ok(t: &str) -> Result<(), String> {
    let ok = !t.is_empty()
        && t.len() <= 128
        && t.chars()
            .next()
            .is_some_and(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        && t.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!("tag {t:?}: at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"))
    }
}

fn digest_ok(d: &str) -> Result<(), String> {
    let ok = d.split_once(':').is_some_and(|(algo, hex)| {
        !algo.is_empty()
            && algo.chars().all(|ch| {
                ch.is_ascii_lowercase()
                    || ch.is_ascii_digit()
                    || matches!(ch, '+' | '.' | '_' | '-')
            })
            && hex.len() >= 32
            && hex.chars().all(|ch| ch.is_ascii_hexdigit())
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "digest {d:?}: expected algorithm:hex (e.g. sha256:…)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn references_follow_the_grammar() {
        for good in [
            "redis:7.2-alpine",
            "postgis/postgis:15-3.4",
            "ghcr.io/acme/crm-web:1.4.2",
            "localhost:5000/app",
            "registry.example.com:5000/team/name__x:v1.0_rc-2",
            "appstack/directus:11.16.1",
            "busybox@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "Redis:7",
            "redis:",
            ":7",
            "a//b",
            "a/-b",
            "redis:7 alpine",
            "redis:.x",
            "a..b",
            "a._b",
            "host:port/x",
            "x@sha256:zz",
            "redis;rm -rf /",
            "$(id)",
        ] {
            assert!(check(bad).is_err(), "{bad} passed");
        }
    }
}
