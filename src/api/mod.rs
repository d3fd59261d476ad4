//! The AppStack API: spec and status types, defaults, parsing and validation.

pub mod conditions;
pub mod defaults;
pub mod load;
pub mod quantity;
pub mod spec;
pub mod status;
pub mod validate;
pub mod validated;
pub mod yaml_strict;

pub use spec::{AppStack, AppStackSpec};
pub use status::AppStackStatus;
pub mod errors;
pub mod schema_check;

pub use errors::{ValidationError, ValidationErrors};
pub use validated::ValidatedStack;

/// Reads, checks and validates a manifest file in one step.
pub fn load_validated(
    path: &std::path::Path,
) -> Result<(AppStack, ValidatedStack), ValidationErrors> {
    let stack = load::load_file(path)?;
    let validated = validate::validate(&stack, &path.display().to_string())?;
    Ok((stack, validated))
}
