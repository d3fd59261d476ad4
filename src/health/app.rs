//! The application's own facts: the core tables the spec lists (Directus' by default) and
//! the backlog of a job queue kept in Redis.

use super::facts::Facts;
use super::{Check, Group, Level};
use crate::api::validated::Queue;

/// The listed tables that do not exist, one per line; the names are validated identifiers.
fn missing_tables_sql(f: &Facts) -> String {
    let values: Vec<String> = f
        .stack
        .health_check
        .core_tables
        .iter()
        .map(|t| format!("('{}', '{}')", t.schema, t.name))
        .collect();
    format!(
        "SELECT s || '.' || t FROM (VALUES {}) AS v(s, t) WHERE to_regclass(quote_ident(s) || '.' || quote_ident(t)) IS NULL ORDER BY 1",
        values.join(", ")
    )
}

pub async fn core_tables(f: &Facts) -> Option<Check> {
    let wanted = f.stack.health_check.core_tables.len();
    if wanted == 0 {
        return None;
    }
    let r = super::stack::query(f, &missing_tables_sql(f)).await;
    let (ok, evidence) = match r {
        Ok(out) => {
            let missing: Vec<&str> = out.lines().filter(|l| !l.is_empty()).collect();
            let present = wanted - missing.len().min(wanted);
            let mut text = format!("{present} of {wanted} core tables present");
            if !missing.is_empty() {
                text.push_str(&format!(" (missing: {})", missing.join(", ")));
            }
            (missing.is_empty(), text)
        }
        Err(e) => (false, format!("the core tables could not be listed: {e}")),
    };
    Some(Check::judge(
        "connectivity.core-tables",
        Group::Connectivity,
        Level::Error,
        ok,
        evidence,
        "the application has not created its schema (see `appstack logs --file <stack> cms`), or spec.healthCheck.coreTables names a table it does not have",
    ))
}

/// The queue's length in one round trip, whatever kind of key holds it; the key travels as
/// an argument, never inside the script.
pub const BACKLOG_LUA: &str = "local t = redis.call('TYPE', KEYS[1])['ok'] \
    if t == 'list' then return redis.call('LLEN', KEYS[1]) end \
    if t == 'stream' then return redis.call('XLEN', KEYS[1]) end \
    if t == 'zset' then return redis.call('ZCARD', KEYS[1]) end \
    if t == 'set' then return redis.call('SCARD', KEYS[1]) end \
    if t == 'none' then return 0 end \
    return redis.error_reply('the key holds a ' .. t .. ', not a list, stream, sorted set or set')";

/// `redis-cli` signed in with the cache's password file; `args` are passed as argv.
pub fn redis_argv(args: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = [
        "/bin/sh",
        "-c",
        "REDISCLI_AUTH=\"$(cat /run/secrets/cache-password)\" exec redis-cli --no-raw -h 127.0.0.1 \"$@\"",
        "redis-cli",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(args.iter().map(|s| s.to_string()));
    argv
}

pub async fn queue_backlog(f: &Facts, q: &Queue) -> Check {
    let argv = redis_argv(&["EVAL", BACKLOG_LUA, "1", &q.key]);
    let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = f.run("cache", &refs).await;
    // `--no-raw` prints an integer reply as "(integer) N" and an error as "(error) …".
    let reply = out.map(|o| o.output.trim().to_string());
    let length = reply
        .as_deref()
        .and_then(|r| r.strip_prefix("(integer) "))
        .and_then(|n| n.trim().parse::<u64>().ok());
    let (ok, evidence) = match (length, reply) {
        (Some(n), _) => (
            n <= q.max_backlog,
            format!(
                "queue {:?} holds {n} entries (at most {})",
                q.key, q.max_backlog
            ),
        ),
        (None, Some(r)) => (false, format!("queue {:?}: {r}", q.key)),
        (None, None) => (false, "the cache container does not answer".to_string()),
    };
    Check::judge(
        "connectivity.queue-backlog",
        Group::Connectivity,
        Level::Error,
        ok,
        evidence,
        "the workers do not keep up: check the services that consume the queue (`appstack logs`), add replicas, or raise spec.healthCheck.queue.maxBacklog",
    )
}

/// Directus from 11.14.0 to 12.3.x caches a user's admin access without the client's address
/// (directus/directus#28190, fixed in 12.4.0): whichever address asks first decides for all
/// of them, so an address allowlist is not enforced. Checked in the running image.
async fn cache_flaw(f: &Facts) -> Option<String> {
    let out = f
        .run(
            "cms",
            &["node", "-p", "require('directus/package.json').version"],
        )
        .await
        .filter(|o| o.exit_code == 0)?;
    let version = out.output.trim().to_string();
    flawed(&version).then(|| {
        format!("Directus {version} caches admin access without the client's address (directus/directus#28190, fixed in 12.4.0), so the allowlist is not enforced")
    })
}

fn flawed(version: &str) -> bool {
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let v = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    ((11, 14, 0)..(12, 4, 0)).contains(&v)
}

/// The admins' allowlist as the CMS keeps it (every admin policy), and whether the CMS
/// judges a client by its own address rather than by a header the client writes.
pub async fn admin_allowlist(f: &Facts) -> Option<Check> {
    let list = f.stack.cms.as_ref()?.admin_allowlist.as_ref()?;
    let mut wanted = crate::ops::admin_access::wanted(list);
    wanted.sort();
    let rows = super::stack::query(
        f,
        "SELECT 'list:' || coalesce(ip_access, '') FROM directus_policies WHERE admin_access ORDER BY id",
    )
    .await;
    let trust = f
        .env("cms", "IP_TRUST_PROXY")
        .unwrap_or("true (Directus' default)");
    let header = f
        .env("cms", "IP_CUSTOM_HEADER")
        .filter(|h| !h.is_empty() && *h != "false");
    let (ok, evidence) = match rows {
        Ok(text) => {
            let policies: Vec<Vec<String>> = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("list:"))
                .map(|l| {
                    let mut v: Vec<String> = l
                        .split(',')
                        .map(|a| a.trim().to_string())
                        .filter(|a| !a.is_empty())
                        .collect();
                    v.sort();
                    v
                })
                .collect();
            let off = policies.iter().filter(|p| **p != wanted).count();
            let spoofable = trust.starts_with("true") || header.is_some();
            let flaw = cache_flaw(f).await;
            let mut text = format!(
                "{} of {} admin policies allow exactly [{}]; IP_TRUST_PROXY={trust}",
                policies.len() - off,
                policies.len(),
                wanted.join(", ")
            );
            if let Some(h) = header {
                text.push_str(&format!("; IP_CUSTOM_HEADER={h}"));
            }
            if let Some(flaw) = &flaw {
                text.push_str(&format!("; {flaw}"));
            }
            (
                off == 0 && !policies.is_empty() && !spoofable && flaw.is_none(),
                text,
            )
        }
        Err(e) => (false, format!("the admin policies could not be read: {e}")),
    };
    Some(Check::judge(
        "security.admin-allowlist",
        Group::Security,
        Level::Error,
        ok,
        evidence,
        "let `appstack up` or the daemon set spec.cms.adminAllowlist (see the daemon's log for why it could not); set spec.cms.env.IP_TRUST_PROXY to your proxy's address, not true, and drop IP_CUSTOM_HEADER; run Directus 12.4.0 or later, or keep the admin app off the public network (ingress) instead",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directus_versions_with_the_address_blind_cache() {
        assert!(!flawed("11.13.4"));
        assert!(flawed("11.14.0"));
        assert!(flawed("11.16.1"));
        assert!(flawed("12.3.1"));
        assert!(!flawed("12.4.0"));
        assert!(!flawed("13.0.0"));
    }

    #[test]
    fn the_key_is_an_argument_not_part_of_the_shell_line() {
        let argv = redis_argv(&["EVAL", BACKLOG_LUA, "1", "jobs'; rm -rf /; '"]);
        assert_eq!(argv[0], "/bin/sh");
        assert!(!argv[2].contains("jobs"));
        assert_eq!(argv.last().unwrap(), "jobs'; rm -rf /; '");
    }
}
