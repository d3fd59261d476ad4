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
const BACKLOG_LUA: &str = "local t = redis.call('TYPE', KEYS[1])['ok'] \
    if t == 'list' then return redis.call('LLEN', KEYS[1]) end \
    if t == 'stream' then return redis.call('XLEN', KEYS[1]) end \
    if t == 'zset' then return redis.call('ZCARD', KEYS[1]) end \
    if t == 'set' then return redis.call('SCARD', KEYS[1]) end \
    if t == 'none' then return 0 end \
    return redis.error_reply('the key holds a ' .. t .. ', not a list, stream, sorted set or set')";

/// `redis-cli` signed in with the cache's password file; `args` are passed as argv.
fn redis_argv(args: &[&str]) -> Vec<String> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_an_argument_not_part_of_the_shell_line() {
        let argv = redis_argv(&["EVAL", BACKLOG_LUA, "1", "jobs'; rm -rf /; '"]);
        assert_eq!(argv[0], "/bin/sh");
        assert!(!argv[2].contains("jobs"));
        assert_eq!(argv.last().unwrap(), "jobs'; rm -rf /; '");
    }
}
