//! The order an apply starts components in: the heads of the longest dependency chains
//! first and alone, then the components others wait for, then the leaves.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;

use crate::plan::{Component, Plan};

/// One component's share of a count of components still booting (leads) or starting
/// (awaited ones); dropping it (done or failed) releases whatever was held back behind it.
pub(super) struct Countdown(pub Arc<watch::Sender<usize>>);

impl Drop for Countdown {
    fn drop(&mut self) {
        self.0
            .send_modify(|booting| *booting = booting.saturating_sub(1));
    }
}

/// Components other components depend on, leads aside.
pub(super) fn awaited_components(plan: &Plan, leads: &[String]) -> Vec<String> {
    plan.components
        .iter()
        .filter(|c| !leads.contains(&c.name) && dependents(plan, &c.name).next().is_some())
        .map(|c| c.name.clone())
        .collect()
}

/// The components that depend on `name`.
pub(super) fn dependents<'a>(plan: &'a Plan, name: &'a str) -> impl Iterator<Item = &'a Component> {
    plan.components
        .iter()
        .filter(move |o| o.depends_on.iter().any(|d| d.component == name))
}

/// Components with no dependencies that head the longest dependency chains.
pub(super) fn lead_components(plan: &Plan) -> Vec<String> {
    // Components are in dependency order, so walking backwards sees dependents first.
    let mut chain: HashMap<&str, usize> = HashMap::new();
    for c in plan.components.iter().rev() {
        let below = dependents(plan, &c.name)
            .map(|o| chain.get(o.name.as_str()).copied().unwrap_or(1))
            .max()
            .unwrap_or(0);
        chain.insert(c.name.as_str(), below + 1);
    }
    let longest = chain.values().copied().max().unwrap_or(0);
    if longest < 2 {
        return Vec::new();
    }
    plan.components
        .iter()
        .filter(|c| c.depends_on.is_empty() && chain.get(c.name.as_str()) == Some(&longest))
        .map(|c| c.name.clone())
        .collect()
}
