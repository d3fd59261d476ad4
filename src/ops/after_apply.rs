//! What is set inside the running stack once an apply is healthy: the CMS's and the
//! PostgreSQL exporter's roles and the CMS admins' address allowlist. `up` and the daemon both call `docker`.

use std::sync::Arc;

use super::{admin_access, monitor_role};
use crate::api::ValidatedStack;
use crate::plan::Plan;
use crate::protect::app_role;
use crate::protect::error::ProtectError;
use crate::secrets::Resolved;

/// Each step's outcome, for the caller to report.
pub struct AfterApply {
    pub app_role: Result<app_role::Outcome, ProtectError>,
    pub monitor_role: Result<monitor_role::Outcome, ProtectError>,
    pub admin_access: Result<admin_access::Outcome, ProtectError>,
}

impl AfterApply {
    /// True when nothing has to be tried again later (the database was still recovering).
    pub fn settled(&self) -> bool {
        !matches!(self.monitor_role, Ok(monitor_role::Outcome::Recovering))
            && !matches!(self.app_role, Ok(app_role::Outcome::Recovering))
    }

    /// One line per step worth telling a person; warnings start with "warning:".
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Err(e) = &self.app_role {
            out.push(format!(
                "warning: the CMS's database role could not be set up: {e}"
            ));
        }
        match &self.monitor_role {
            Ok(monitor_role::Outcome::Ensured) => {
                out.push("the PostgreSQL exporter's role is in place".to_string())
            }
            Ok(_) => {}
            Err(e) => out.push(format!(
                "warning: the PostgreSQL exporter's role could not be set up: {e}"
            )),
        }
        match &self.admin_access {
            Ok(admin_access::Outcome::Updated(n)) => out.push(format!(
                "the CMS admins' address allowlist is set on {n} admin policy(ies)"
            )),
            Ok(_) => {}
            Err(e) => out.push(format!(
                "warning: the CMS admins' address allowlist could not be set: {e}"
            )),
        }
        out
    }
}

/// Docker mode: both steps through `docker exec` in the stack's containers.
pub async fn docker<E: crate::docker::Engine>(
    engine: Arc<E>,
    stack: &ValidatedStack,
    plan: &Plan,
    secrets: &Resolved,
) -> AfterApply {
    // One runner for both: `docker exec` in the stack's own containers.
    let runner = crate::protect::runner::DockerRunner {
        engine,
        stack: stack.name.clone(),
    };
    AfterApply {
        app_role: match &stack.database {
            Some(db) => app_role::ensure(&runner, db, plan).await,
            None => Ok(app_role::Outcome::NoCms),
        },
        monitor_role: match &stack.database {
            Some(db) => monitor_role::ensure(&runner, db, plan, secrets).await,
            None => Ok(monitor_role::Outcome::NotMonitored),
        },
        admin_access: match &stack.cms {
            Some(cms) => admin_access::ensure(&runner, cms).await,
            None => Ok(admin_access::Outcome::NotManaged),
        },
    }
}
