//! Docker mode: render the plan to containers, observe by label, diff, apply in dependency
//! order gated on health, and keep it so (the `run` daemon).

pub mod engine;
pub mod error;
#[cfg(test)]
pub mod fake;

pub use engine::{BollardEngine, Engine, VolumeIo};
pub use error::DockerError;
pub mod apply;
pub mod cutover;
pub mod diff;
pub mod down;
mod drain;
pub mod edge_admin;
pub mod fifo;
pub mod health;
pub mod host_fill;
mod preflight;
pub mod progress;
pub mod render;
mod replace;
pub mod status;
mod tiers;
