//! The daemon sets what lives inside the running stack (the exporter's role, the CMS admins'
//! allowlist) at the first sync and after every apply that changed something (a recreated
//! database or CMS, a restored volume). A failure is said once per apply, not at every sync:
//! it needs a person, and `health-check` keeps failing meanwhile.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tracing::{info, warn};

use super::stack_loop::StackLoop;
use crate::docker::engine::Engine;
use crate::plan::Plan;
use crate::secrets::Resolved;

impl<E: Engine> StackLoop<E> {
    pub(super) async fn after_apply(&self, plan: &Arc<Plan>, secrets: &Resolved) {
        let Ok((_, stack)) = crate::api::load_validated(&self.file) else {
            return;
        };
        let done =
            crate::ops::after_apply::docker(self.engine.clone(), &stack, plan, secrets).await;
        for line in done.lines() {
            match line.strip_prefix("warning: ") {
                Some(w) => warn!(stack = %plan.stack, "{w}"),
                None => info!(stack = %plan.stack, "{line}"),
            }
        }
        if done.settled() {
            self.after_apply_done.store(true, Ordering::Relaxed);
        }
    }
}
