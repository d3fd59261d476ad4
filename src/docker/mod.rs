//! Docker mode: render the plan to containers, observe by label, diff, apply in dependency
//! order gated on health, and keep it so (the `run` daemon).

pub mod engine;
pub mod error;
#[cfg(test)]
pub mod fake;

pub use engine::{BollardEngine, Engine, VolumeIo};
pub use error::DockerError;
pub mod apply;
pub mod diff;
pub mod down;
pub mod fifo;
pub mod health;
pub mod host_fill;
mod preflight;
pub mod progress;
pub mod render;
pub mod status;
mod tiers;
