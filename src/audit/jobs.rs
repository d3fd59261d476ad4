//! The job queues of spec.audit.queues: pending and failed counts, from Redis keys (any of
//! list, stream, sorted set, set) or read-only SQL.

use serde::Serialize;

use super::database::psql::Psql;
use super::exec::Exec;
use crate::api::validated::{AuditQueue, JobCount, ValidatedStack};

/// A queue as found.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueFigures {
    pub name: String,
    pub pending: Option<u64>,
    pub failed: Option<u64>,
    /// Why a count is missing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

pub async fn measure<X: Exec>(exec: &X, stack: &ValidatedStack) -> Vec<QueueFigures> {
    let mut out = Vec::new();
    for q in &stack.audit.queues {
        out.push(queue(exec, stack, q).await);
    }
    out
}

async fn queue<X: Exec>(exec: &X, stack: &ValidatedStack, q: &AuditQueue) -> QueueFigures {
    let mut errors = Vec::new();
    let mut count = |r: Option<Result<u64, String>>, what: &str| match r {
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            errors.push(format!("{what}: {e}"));
            None
        }
        None => None,
    };
    let pending = match &q.pending {
        Some(c) => Some(one(exec, stack, c).await),
        None => None,
    };
    let failed = match &q.failed {
        Some(c) => Some(one(exec, stack, c).await),
        None => None,
    };
    let pending = count(pending, "pending");
    let failed = count(failed, "failed");
    QueueFigures {
        name: q.name.clone(),
        pending,
        failed,
        errors,
    }
}

async fn one<X: Exec>(exec: &X, stack: &ValidatedStack, c: &JobCount) -> Result<u64, String> {
    let argv = match c {
        JobCount::RedisKey(key) => {
            crate::health::app::redis_argv(&["EVAL", crate::health::app::BACKLOG_LUA, "1", key])
        }
        JobCount::Sql(sql) => {
            let psql = Psql::of(exec, stack).ok_or("no database")?;
            let read_only = "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY".to_string();
            let lines = psql.session(&[read_only, sql.clone()]).await?;
            return parse_count(&lines.join("\n"));
        }
    };
    let out = exec.run("cache", argv).await?;
    if out.exit_code != 0 {
        return Err(format!("{}{}", out.stdout.trim(), out.stderr.trim()));
    }
    parse_count(&out.stdout)
}

/// A count as redis-cli (`(integer) N`) or psql (`N`) prints it.
fn parse_count(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let n = t.strip_prefix("(integer) ").unwrap_or(t).trim();
    n.parse()
        .map_err(|_| format!("expected one number, got {t:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parse_from_either_client() {
        assert_eq!(parse_count("(integer) 250\n"), Ok(250));
        assert_eq!(parse_count("12\n"), Ok(12));
        assert!(parse_count("(error) WRONGTYPE").is_err());
    }
}
