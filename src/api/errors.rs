//! Validation errors: every one names the field path and what was expected.

use std::fmt;

/// One problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Field path, e.g. `spec.database.storage` or `spec.services[1].dependsOn`.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl ValidationError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found in one manifest, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors {
    /// The file (or other origin) the manifest came from.
    pub origin: String,
    pub errors: Vec<ValidationError>,
}

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.errors.len();
        writeln!(
            f,
            "{}: invalid AppStack ({count} error{}):",
            self.origin,
            if count == 1 { "" } else { "s" }
        )?;
        for (i, err) in self.errors.iter().enumerate() {
            if i + 1 == count {
                write!(f, "  - {err}")?;
            } else {
                writeln!(f, "  - {err}")?;
            }
        }
        Ok(())
    }
}

/// Collects errors during validation.
#[derive(Debug, Default)]
pub struct Collector {
    pub errors: Vec<ValidationError>,
}

impl Collector {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError::new(path, message));
    }

    pub fn finish(self, origin: &str) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationErrors {
                origin: origin.to_string(),
                errors: self.errors,
            })
        }
    }
}
