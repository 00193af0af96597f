//! `defaults:` composition: an experiment names the files it builds on (resolved against the
//! config root), each of which may name its own; later entries and then the file itself
//! override earlier ones. Mappings merge key by key; anything else (lists included) replaces.

use std::path::{Path, PathBuf};

use yaml_serde::Value;

use crate::embedded;
use crate::error::{ConfigError, ConfigErrors};
use crate::sources::{Sources, join, key_text};

/// Where config files are looked up: a directory on disk first, then the built-in copies.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pub dir: Option<PathBuf>,
}

/// One config file's text and how to name it.
#[derive(Debug, Clone)]
pub(crate) struct ConfigFile {
    /// Name relative to the config root (`models/ttm_default.yaml`), used in `defaults:` chains
    /// and to detect cycles; for a file outside the root, its path as given.
    pub name: String,
    /// What messages call it: its path on disk, or `<built-in>/{name}`.
    pub display: String,
    pub text: String,
}

/// Origin prefix of the configs compiled into the binary.
pub const BUILTIN_PREFIX: &str = "<built-in>/";

impl Store {
    /// Finds `name` (relative to the root, `.yaml` added when missing) on disk, else built in.
    pub fn find(&self, name: &str) -> Result<Option<ConfigFile>, String> {
        let name = normalize(name);
        if let Some(dir) = &self.dir {
            let path = dir.join(&name);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    return Ok(Some(ConfigFile {
                        display: path.display().to_string(),
                        name,
                        text,
                    }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
        Ok(embedded::get(&name).map(|text| ConfigFile {
            display: format!("{BUILTIN_PREFIX}{name}"),
            name,
            text: text.to_string(),
        }))
    }

    /// "in configs/ or the built-in configs", for not-found messages.
    pub fn places(&self) -> String {
        match &self.dir {
            Some(d) => format!("{} or the built-in configs", d.display()),
            None => "the built-in configs".to_string(),
        }
    }

    /// Name of a file on disk relative to the root, when it lies inside the root.
    pub fn relative_name(&self, path: &Path) -> Option<String> {
        let dir = std::fs::canonicalize(self.dir.as_ref()?).ok()?;
        let file = std::fs::canonicalize(path).ok()?;
        let rel = file.strip_prefix(dir).ok()?;
        Some(
            rel.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/"),
        )
    }
}

/// `models/ttm_default` -> `models/ttm_default.yaml`; a leading `./` or `configs/` is dropped.
pub(crate) fn normalize(name: &str) -> String {
    let mut n = name.trim().replace('\\', "/");
    while let Some(rest) = n.strip_prefix("./") {
        n = rest.to_string();
    }
    if n.ends_with(".yaml") || n.ends_with(".yml") {
        n
    } else {
        format!("{n}.yaml")
    }
}

/// The merged tree of a file and everything it builds on.
pub(crate) struct Composer<'a> {
    pub store: &'a Store,
    pub errors: &'a mut ConfigErrors,
    pub tree: Value,
    pub sources: Sources,
    /// Files merged, in merge order (a file included twice appears twice).
    pub files: Vec<String>,
}

impl Composer<'_> {
    /// Merges `file` after its `defaults:` into the tree. `chain` holds the files that led here.
    pub fn include(&mut self, file: ConfigFile, chain: &mut Vec<String>) {
        let mut body = match parse(&file) {
            Ok(v) => v,
            Err(e) => {
                self.errors.push(e);
                return;
            }
        };
        chain.push(file.name.clone());
        let defaults = match &mut body {
            Value::Mapping(m) => m.remove("defaults"),
            _ => None,
        };
        for entry in self.default_entries(defaults, &file) {
            let name = normalize(&entry);
            if chain.contains(&name) {
                self.errors.push(ConfigError::new(
                    "",
                    file.display.clone(),
                    format!("defaults cycle: {} -> {name}", chain.join(" -> ")),
                ));
                continue;
            }
            match self.store.find(&name) {
                Ok(Some(found)) => self.include(found, chain),
                Ok(None) => self.errors.push(ConfigError::new(
                    "defaults",
                    file.display.clone(),
                    format!(
                        "{} -> {name}: file not found in {}",
                        chain.join(" -> "),
                        self.store.places()
                    ),
                )),
                Err(message) => {
                    self.errors
                        .push(ConfigError::new("defaults", file.display.clone(), message))
                }
            }
        }
        chain.pop();
        merge(&mut self.tree, body, "", &file.display, &mut self.sources);
        self.files.push(file.display);
    }

    fn default_entries(&mut self, defaults: Option<Value>, file: &ConfigFile) -> Vec<String> {
        let bad = |errors: &mut ConfigErrors, key: &str, got: &Value| {
            errors.push(ConfigError::new(
                key,
                file.display.clone(),
                format!(
                    "expected a list of config names such as `models/ttm_default`, got {}",
                    crate::schema::show(got)
                ),
            ))
        };
        match defaults {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Sequence(items)) => items
                .into_iter()
                .enumerate()
                .filter_map(|(i, item)| match item {
                    Value::String(s) => Some(s),
                    other => {
                        bad(self.errors, &format!("defaults[{i}]"), &other);
                        None
                    }
                })
                .collect(),
            Some(Value::String(s)) => vec![s],
            Some(other) => {
                bad(self.errors, "defaults", &other);
                Vec::new()
            }
        }
    }
}

/// Parses a file: YAML syntax errors keep yaml_serde's line and column; the top level must be a
/// mapping (an empty file is an empty mapping).
pub(crate) fn parse(file: &ConfigFile) -> Result<Value, ConfigError> {
    let mut value: Value = yaml_serde::from_str(&file.text)
        .map_err(|e| ConfigError::new("", file.display.clone(), format!("invalid YAML: {e}")))?;
    value
        .apply_merge()
        .map_err(|e| ConfigError::new("", file.display.clone(), format!("invalid YAML: {e}")))?;
    match value {
        Value::Null => Ok(Value::Mapping(Default::default())),
        v @ Value::Mapping(_) => Ok(v),
        other => Err(ConfigError::new(
            "",
            file.display.clone(),
            format!(
                "expected a mapping of sections (model:, data:, ...), got {}",
                crate::schema::show(&other)
            ),
        )),
    }
}

/// Deep merge of `src` into `dst` at `key`: mappings merge key by key, anything else replaces.
pub(crate) fn merge(dst: &mut Value, src: Value, key: &str, origin: &str, sources: &mut Sources) {
    match (dst, src) {
        (Value::Mapping(d), Value::Mapping(s)) => {
            for (k, v) in s {
                let path = join(key, &key_text(&k));
                match d.get_mut(&k) {
                    Some(existing) => merge(existing, v, &path, origin, sources),
                    None => {
                        sources.replace(&path, &v, origin);
                        d.insert(k, v);
                    }
                }
            }
        }
        (dst, src) => {
            sources.replace(key, &src, origin);
            *dst = src;
        }
    }
}
