//! appstack: runs a whole web application stack from one declarative `AppStack` resource.
#![forbid(unsafe_code)]

pub mod api;
pub mod plan;
pub mod docker;
