//! The daemon keeps the PostgreSQL exporter's role in line: at the first sync, and after
//! every apply that changed something (a recreated database, a restored volume).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::{info, warn};

use super::stack_loop::StackLoop;
use crate::docker::engine::Engine;
use crate::ops::monitor_role::{ensure_docker, Outcome};
use crate::plan::Plan;
use crate::secrets::Resolved;

impl<E: Engine> StackLoop<E> {
    pub(super) async fn ensure_monitor_role(&self, plan: &Arc<Plan>, secrets: &Resolved) {
        let Ok((_, stack)) = crate::api::load_validated(&self.file) else {
            return;
        };
        match ensure_docker(self.engine.clone(), &stack, plan, secrets).await {
            Ok(Outcome::Recovering) => {}
            Ok(outcome) => {
                if outcome == Outcome::Ensured {
                    info!(stack = %plan.stack, "the PostgreSQL exporter's role is in place");
                }
                self.monitor_role_checked.store(true, Ordering::Relaxed);
            }
            Err(e) => {
                warn!(stack = %plan.stack, error = %e, "the PostgreSQL exporter's role could not be set up")
            }
        }
    }
}
