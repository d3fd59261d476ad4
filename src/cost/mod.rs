//! `appstack cost`: the monthly estimate of running a stack, from a dated price table
//! (`data/prices.yaml`, or the user's own) whose every figure names its source.

pub mod estimate;
pub mod prices;
pub mod render;
pub mod sizing;
pub mod store;

use std::path::PathBuf;

use serde::Serialize;

pub use estimate::{Bill, Line, Runtime};
pub use prices::PriceTable;

use crate::api::ValidatedStack;
use crate::plan::Plan;

/// Why an estimate could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CostError {
    #[error("{file}: {message}")]
    Prices { file: String, message: String },
    #[error("--provider {name}: not in the price table; expected one of: {}", known.join(", "))]
    UnknownProvider { name: String, known: Vec<String> },
    #[error("{provider} offers no machine with {need}")]
    NoFit { provider: String, need: String },
    #[error("{provider} offers no {what} in the price table")]
    NotOffered { provider: String, what: String },
}

impl CostError {
    /// A stable category: `invalid` is the user's input (exit 2), `unfit` the offers.
    pub fn category(&self) -> &'static str {
        match self {
            CostError::Prices { .. } | CostError::UnknownProvider { .. } => "invalid",
            CostError::NoFit { .. } | CostError::NotOffered { .. } => "unfit",
        }
    }
}

/// What `appstack cost` is asked.
#[derive(Debug, Clone)]
pub struct Request {
    pub provider: String,
    pub prices: Option<PathBuf>,
    pub runtime: Runtime,
    pub load_balancer: bool,
    /// Whether to list the backup store (else its size is estimated).
    pub look_at_store: bool,
}

/// The whole estimate.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub stack: String,
    pub provider: String,
    pub provider_name: String,
    pub currency: String,
    pub prices_file: String,
    pub prices_retrieved: String,
    pub runtime: Runtime,
    pub needs: sizing::Needs,
    pub store: store::StoreFigures,
    pub bill: Bill,
    /// The same stack with the provider's managed PostgreSQL instead of its own database.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_managed_database: Option<Bill>,
}

/// Loads the prices, measures the store (bounded) and prices the plan.
pub async fn estimate(
    stack: &ValidatedStack,
    plan: &Plan,
    req: &Request,
) -> Result<Estimate, CostError> {
    let (table, prices_file) = PriceTable::load(req.prices.as_deref())?;
    let provider = table.provider(&req.provider)?;
    let all = sizing::Needs::of(plan, true);
    let db_gib = all.volume_gib() - sizing::Needs::of(plan, false).volume_gib();
    let store = store::measure(stack, db_gib, req.look_at_store).await;
    let inputs = estimate::Inputs {
        table: &table,
        provider,
        runtime: req.runtime,
        load_balancer: req.load_balancer,
        store: &store,
    };
    let (bill, with_managed_database) = estimate::bills(plan, &inputs)?;
    Ok(Estimate {
        stack: plan.stack.clone(),
        provider: req.provider.clone(),
        provider_name: provider.name.clone(),
        currency: provider.currency.clone(),
        prices_file,
        prices_retrieved: table.retrieved.clone(),
        runtime: req.runtime,
        needs: all,
        store,
        bill,
        with_managed_database,
    })
}
