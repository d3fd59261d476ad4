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

/// At most this many errors are kept and shown; the rest are counted.
pub const MAX_ERRORS: usize = 100;

/// Collects errors during validation (the first [`MAX_ERRORS`]; a file of 400,000 unknown
/// keys must not print 38 MB).
#[derive(Debug, Default)]
pub struct Collector {
    pub errors: Vec<ValidationError>,
    /// Errors beyond the first MAX_ERRORS.
    pub more: usize,
}

impl Collector {
    pub fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(ValidationError::new(path, message));
        } else {
            self.more += 1;
        }
    }

    /// Whether further errors are only counted: a caller may then skip composing them.
    pub fn full(&self) -> bool {
        self.errors.len() >= MAX_ERRORS
    }

    /// Counts an error without composing it (see [`Collector::full`]).
    pub fn count_more(&mut self) {
        self.more += 1;
    }

    pub fn finish(mut self, origin: &str) -> Result<(), ValidationErrors> {
        if self.errors.is_empty() {
            return Ok(());
        }
        if self.more > 0 {
            self.errors.push(ValidationError::new(
                "document",
                format!(
                    "{} more error{} not shown (the first {MAX_ERRORS} are above)",
                    self.more,
                    if self.more == 1 { "" } else { "s" }
                ),
            ));
        }
        Err(ValidationErrors {
            origin: origin.to_string(),
            errors: self.errors,
        })
    }
}
