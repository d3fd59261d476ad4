//! The PostgreSQL role the exporter signs in as: `appstack_monitor`, a member of
//! `pg_monitor` (statistics and settings, no data, no superuser), with the password of the
//! stack's `database/monitor-password` secret. Created or brought in line after every apply
//! that may have changed the database (a new volume, a restore): idempotent, one psql call.

use crate::api::validated::Database;
use crate::plan::Plan;
use crate::protect::backup::psql_argv;
use crate::protect::error::ProtectError;
use crate::protect::restore::credentials::scram_verifier;
use crate::protect::runner::{capture, Runner};
use crate::secrets::Resolved;

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The role exists with the secret's password and `pg_monitor`.
    Ensured,
    /// The plan has no PostgreSQL exporter: nothing to do.
    NotMonitored,
    /// The database is still recovering (a restore): read-only, asked again later.
    Recovering,
}

/// The password goes in as a SCRAM verifier, so the clear text never reaches the server or
/// its logs.
fn statements(verifier: &str) -> Vec<String> {
    crate::plan::monitor_role_sql(&format!("'{verifier}'"))
}

/// Creates or updates the exporter's role in the running database.
pub async fn ensure<R: Runner>(
    runner: &R,
    db: &Database,
    plan: &Plan,
    secrets: &Resolved,
) -> Result<Outcome, ProtectError> {
    if plan.component("postgres-exporter").is_none() {
        return Ok(Outcome::NotMonitored);
    }
    let key = ("database".to_string(), "monitor-password".to_string());
    let Some(password) = secrets.get(&key) else {
        return Ok(Outcome::NotMonitored);
    };
    let recovering = capture(
        runner,
        "database",
        psql_argv(&db.user, &db.name, &["SELECT pg_is_in_recovery()"]),
    )
    .await?;
    if recovering.trim() == "t" {
        return Ok(Outcome::Recovering);
    }
    let sql = statements(&scram_verifier(password.expose()));
    let refs: Vec<&str> = sql.iter().map(String::as_str).collect();
    capture(runner, "database", psql_argv(&db.user, &db.name, &refs)).await?;
    Ok(Outcome::Ensured)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_gets_pg_monitor_and_nothing_more() {
        let sql = statements("SCRAM-SHA-256$4096:x$y:z").join(";\n");
        assert!(sql.contains("GRANT pg_monitor TO appstack_monitor"));
        assert!(sql.contains("NOSUPERUSER"));
        assert!(sql.contains("NOREPLICATION"));
        assert!(!sql.contains("GRANT ALL"));
    }
}
