//! The database part of the audit: its statistics' findings and the missing indexes,
//! proven, and with `--apply-indexes` created and measured again.

pub mod apply;
pub mod explain;
pub mod findings;
pub mod indexes;
pub mod psql;
pub mod render;

use std::time::Instant;

use serde::Serialize;

use crate::api::ValidatedStack;
use crate::audit::exec::Exec;

/// What the audit found in the database.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseAudit {
    #[serde(flatten)]
    pub findings: findings::Findings,
    pub missing_indexes: Vec<indexes::Suggestion>,
}

impl DatabaseAudit {
    /// Suggestions the planner proved it would use.
    pub fn proven_missing(&self) -> impl Iterator<Item = &indexes::Suggestion> {
        self.missing_indexes
            .iter()
            .filter(|s| s.proven() && s.applied.is_none())
    }
}

/// None when the stack has no database.
pub async fn audit<X: Exec>(
    exec: &X,
    stack: &ValidatedStack,
    apply_indexes: bool,
    deadline: Instant,
) -> Option<DatabaseAudit> {
    let psql = psql::Psql::of(exec, stack)?;
    let mut findings = findings::read(&psql).await;
    let (mut missing, errors) =
        indexes::missing(&psql, &findings.top_queries, &findings.tables, deadline).await;
    findings.errors.extend(errors);
    if apply_indexes {
        apply::apply_proven(&psql, &mut missing, deadline).await;
    }
    Some(DatabaseAudit {
        findings,
        missing_indexes: missing,
    })
}
