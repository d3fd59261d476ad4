//! appstack: runs a whole web application stack from one declarative `AppStack` resource
//! and keeps its data recoverable.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod audit;
pub mod cli;
pub mod compose;
pub mod cost;
pub mod daemon;
pub mod deploy;
pub mod docker;
pub mod drill;
pub mod health;
pub mod kube;
pub mod load;
pub mod maintenance;
pub mod ops;
pub mod plan;
pub mod progress;
pub mod protect;
pub mod secrets;
pub mod telemetry;
