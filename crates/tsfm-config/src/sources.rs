//! Which file (or flag) each key of the merged tree came from.

use std::collections::BTreeMap;

use yaml_serde::Value;

use crate::error::is_within;

/// Origin of every leaf of the merged tree (scalars, lists and empty mappings), by dotted path.
/// Keys never set by a file or flag have no entry: their origin is `default`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// Origins in the order they were first merged (files, then overrides).
    origins: Vec<String>,
    leaves: BTreeMap<String, usize>,
}

/// Origin reported for keys nobody set.
pub const DEFAULT_ORIGIN: &str = "default";

impl Sources {
    /// Origin of `key`: its own entry, else the entry of the list or value above it, else the
    /// origins of the keys below it (comma-separated, in merge order), else `default`.
    pub fn origin(&self, key: &str) -> String {
        if let Some(&i) = self.leaves.get(key) {
            return self.origins[i].clone();
        }
        if let Some(i) = self
            .leaves
            .iter()
            .filter(|(k, _)| is_within(key, k))
            .map(|(_, &i)| i)
            .next()
        {
            return self.origins[i].clone();
        }
        let mut below: Vec<usize> = self
            .leaves
            .iter()
            .filter(|(k, _)| is_within(k, key))
            .map(|(_, &i)| i)
            .collect();
        below.sort_unstable();
        below.dedup();
        if below.is_empty() {
            DEFAULT_ORIGIN.to_string()
        } else {
            below
                .iter()
                .map(|&i| self.origins[i].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    }

    /// Every leaf with its origin, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.leaves
            .iter()
            .map(|(k, &i)| (k.as_str(), self.origins[i].as_str()))
    }

    /// Records that `value` now sits at `key` and came from `origin`, forgetting what was below
    /// `key` before (a replaced mapping or list).
    pub(crate) fn replace(&mut self, key: &str, value: &Value, origin: &str) {
        self.leaves.retain(|k, _| !is_within(k, key));
        let i = self.origin_index(origin);
        self.record(key, value, i);
    }

    fn origin_index(&mut self, origin: &str) -> usize {
        match self.origins.iter().position(|o| o == origin) {
            Some(i) => i,
            None => {
                self.origins.push(origin.to_string());
                self.origins.len() - 1
            }
        }
    }

    fn record(&mut self, key: &str, value: &Value, origin: usize) {
        match value {
            Value::Mapping(m) if !m.is_empty() => {
                for (k, v) in m {
                    self.record(&join(key, &key_text(k)), v, origin);
                }
            }
            _ => {
                self.leaves.insert(key.to_string(), origin);
            }
        }
    }
}

/// `parent.child`, or `child` at the top.
pub(crate) fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else {
        format!("{parent}.{child}")
    }
}

/// A mapping key as text (non-string keys are rejected by the schema check; this only names them).
pub(crate) fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".into(),
        _ => "<complex key>".into(),
    }
}
