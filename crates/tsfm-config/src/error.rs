//! Config problems: every one carries the key path, the file (or flag) it came from and what is
//! wrong, so a user can fix all of them in one edit.

use std::fmt;

/// One problem in a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path (`training.learning_rate`, `evaluation.quantiles[1]`); empty for problems
    /// with a whole file (missing file, YAML syntax, `defaults:` cycles).
    pub key: String,
    /// Where the offending value came from: a config file, `--set`, a named flag such as
    /// `--batch-size`, or `default` for a built-in default.
    pub origin: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(
        key: impl Into<String>,
        origin: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        ConfigError {
            key: key.into(),
            origin: origin.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.origin, self.message)
        } else {
            write!(f, "{}: {}: {}", self.origin, self.key, self.message)
        }
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found, in the order found (composition, then overrides, then schema, then
/// cross-field checks). `Display` prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub(crate) fn push(&mut self, e: ConfigError) {
        self.0.push(e);
    }

    /// Whether a problem is already recorded at `key`, above it or below it: a later check on a
    /// value that failed its type check would only repeat the problem in other words.
    pub(crate) fn touches(&self, key: &str) -> bool {
        self.touches_first(self.0.len(), key)
    }

    /// `touches`, looking only at the first `n` problems.
    pub(crate) fn touches_first(&self, n: usize, key: &str) -> bool {
        self.0[..n.min(self.0.len())]
            .iter()
            .any(|e| !e.key.is_empty() && (is_within(&e.key, key) || is_within(key, &e.key)))
    }
}

/// `inner` is `outer` or lies below it (`a.b.c` and `a.b[2]` lie below `a.b`).
pub(crate) fn is_within(inner: &str, outer: &str) -> bool {
    inner == outer
        || (inner.starts_with(outer)
            && matches!(inner.as_bytes().get(outer.len()), Some(b'.') | Some(b'[')))
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
