//! Runs the plan's application-role script (`plan::app_role`) in the running database over
//! the local socket: after a restore (the restored data may predate the role, or carry
//! another password) and after each apply (a database image that does not run it at start).

use crate::api::validated::Database;
use crate::plan::{app_role, Plan};
use crate::protect::error::ProtectError;
use crate::protect::runner::{capture, Runner};

/// What `ensure` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The CMS's role exists, with its password and the application's objects.
    Ensured,
    /// The stack has no CMS, so no role of its own.
    NoCms,
    /// The database is still recovering (read-only): asked again later.
    Recovering,
}

/// Runs the script unless the plan has none or the server is still in recovery.
pub async fn ensure<R: Runner>(
    runner: &R,
    db: &Database,
    plan: &Plan,
) -> Result<Outcome, ProtectError> {
    let has_script = plan
        .component("database")
        .is_some_and(|c| c.files.iter().any(|f| f.path == app_role::SCRIPT_PATH));
    if !has_script {
        return Ok(Outcome::NoCms);
    }
    let recovering = capture(
        runner,
        "database",
        super::backup::psql_argv(&db.user, &db.name, &["SELECT pg_is_in_recovery()"]),
    )
    .await?;
    if recovering.trim() == "t" {
        return Ok(Outcome::Recovering);
    }
    let mut argv = super::backup::psql_argv(&db.user, &db.name, &[]);
    argv.extend(["-q", "-f", app_role::SCRIPT_PATH].map(String::from));
    capture(runner, "database", argv).await?;
    Ok(Outcome::Ensured)
}
