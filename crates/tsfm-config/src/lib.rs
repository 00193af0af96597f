//! tsfm-config: the experiment configuration of tsfm.
//!
//! An experiment is a YAML file that builds on others (`defaults: [models/ttm_default, data/demo]`,
//! resolved against a config root), changed on the command line by named flags and
//! `--set key.path=value`. [`load`] composes the files, applies the overrides, checks the result
//! against the schema and the cross-field rules, and returns either a [`Resolved`] config or
//! **every** problem found, each with its key path and the file or flag it came from.
//!
//! ```no_run
//! use tsfm_config::{load, Override};
//! let overrides = vec![Override::parse_set("training.learning_rate=1e-4").unwrap()];
//! match load(None, None, &overrides) {
//!     Ok(resolved) => print!("{}", resolved.to_yaml()),
//!     Err(errors) => eprintln!("{errors}"),
//! }
//! ```

mod compose;
mod config;
mod embedded;
mod error;
mod overrides;
mod schema;
mod sources;
mod suggest;
mod validate;

use std::path::{Path, PathBuf};

use yaml_serde::Value;

pub use compose::BUILTIN_PREFIX;
pub use config::*;
pub use embedded::{DEFAULT_EXPERIMENT, SHIPPED};
pub use error::{ConfigError, ConfigErrors};
pub use overrides::{NamedFlag, NamedOverrides, Override, OverrideValue, collect_overrides};
pub use schema::{DATA_SOURCES, MODEL_TYPES};
pub use sources::{DEFAULT_ORIGIN, Sources};
pub use validate::{KNOWN_METRICS, check_tracking_uri};

use compose::{Composer, ConfigFile, Store};

/// A composed, overridden and validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The typed config, defaults filled in.
    pub config: Config,
    /// The merged tree of the files and overrides, before defaults (what the user wrote).
    pub value: Value,
    /// Which file or flag each key of `value` came from.
    pub sources: Sources,
    /// The files merged, in merge order (disk paths, or `<built-in>/...`).
    pub files: Vec<String>,
}

impl Resolved {
    /// The complete effective config as YAML (every key, defaults included), as `tsfm config
    /// show` prints it and a run saves it. Loading this text again gives the same `Config`.
    pub fn to_yaml(&self) -> String {
        self.config.to_yaml()
    }

    /// Where `key` came from: a file, a flag, or `default`.
    pub fn origin(&self, key: &str) -> String {
        self.sources.origin(key)
    }

    /// Every leaf key of the effective config (as in [`Resolved::to_yaml`], list items not
    /// split) with where its value came from, in `to_yaml` order: for `tsfm config show
    /// --sources` style listings.
    pub fn origins(&self) -> Vec<(String, String)> {
        fn walk(v: &Value, prefix: &str, r: &Resolved, out: &mut Vec<(String, String)>) {
            match v {
                Value::Mapping(m) if !m.is_empty() => {
                    for (k, v) in m {
                        walk(v, &sources::join(prefix, &sources::key_text(k)), r, out);
                    }
                }
                _ => out.push((prefix.to_string(), r.origin(prefix))),
            }
        }
        let mut out = Vec::new();
        if let Ok(v) = yaml_serde::to_value(&self.config) {
            walk(&v, "", self, &mut out);
        }
        out
    }
}

impl Config {
    /// This config as YAML.
    pub fn to_yaml(&self) -> String {
        // Every type here serialises to YAML (string keys only; no non-finite floats survive
        // the schema check), so this cannot fail for a config that `load` produced.
        yaml_serde::to_string(self).expect("a Config always serialises to YAML")
    }

    /// The cross-field checks of [`load`], for a config built in code (origins are `default`).
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errors = ConfigErrors::default();
        validate::check(self, &Sources::default(), &mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

/// Loads an experiment.
///
/// * `config_root`: the directory `defaults:` entries are resolved against. `None`: the nearest
///   folder named `configs` above `file`, else `./configs` if it exists. Files missing there
///   (or everything, with no root) come from the built-in copies of the shipped configs.
/// * `file`: the experiment file; `None` is the built-in demo ([`DEFAULT_EXPERIMENT`], or the
///   root's copy of it). A path that does not exist is also tried as a name under the root
///   (`experiments/aleppo_ttm`, `configs/experiments/aleppo_ttm.yaml`).
/// * `overrides`: applied in order after all files (see [`collect_overrides`]).
pub fn load(
    config_root: Option<&Path>,
    file: Option<&Path>,
    overrides: &[Override],
) -> Result<Resolved, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let store = Store {
        dir: match config_root {
            Some(dir) if dir.is_dir() => Some(dir.to_path_buf()),
            Some(dir) => {
                errors.push(ConfigError::new(
                    "",
                    dir.display().to_string(),
                    "config root is not a directory",
                ));
                return Err(errors);
            }
            None => find_root(file),
        },
    };
    let top = top_file(&store, file).map_err(|e| ConfigErrors(vec![e]))?;
    let experiment = Path::new(&top.name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();

    let mut composer = Composer {
        store: &store,
        errors: &mut errors,
        tree: Value::Mapping(Default::default()),
        sources: Sources::default(),
        files: Vec::new(),
    };
    composer.include(top, &mut Vec::new());
    let Composer {
        mut tree,
        mut sources,
        files,
        ..
    } = composer;
    let composed = errors.is_empty();

    for ov in overrides {
        overrides::apply(&mut tree, &mut sources, ov, &mut errors);
    }
    default_experiment_name(&mut tree, &experiment);

    let mut checker = schema::Checker {
        sources: &sources,
        errors: &mut errors,
        check_required: composed,
    };
    let cleaned = checker
        .check(schema::root(), "", tree.clone())
        .unwrap_or(Value::Null);
    let config = match yaml_serde::from_value::<Config>(cleaned) {
        Ok(c) => c,
        Err(e) => {
            // The schema and the structs disagree: a bug here, not in the user's file.
            errors.push(ConfigError::new(
                "",
                "tsfm-config",
                format!("internal error: schema and config types disagree: {e}"),
            ));
            return Err(errors);
        }
    };
    // A missing `defaults:` file leaves holes whose checks would only repeat that problem.
    if composed {
        validate::check(&config, &sources, &mut errors);
    }
    if errors.is_empty() {
        Ok(Resolved {
            config,
            value: tree,
            sources,
            files,
        })
    } else {
        Err(errors)
    }
}

/// The nearest ancestor of `file` named `configs`, else `./configs`.
fn find_root(file: Option<&Path>) -> Option<PathBuf> {
    if let Some(f) = file {
        let abs = std::fs::canonicalize(f).ok();
        let found = abs.as_deref().and_then(|p| {
            p.ancestors()
                .skip(1)
                .find(|a| a.file_name().is_some_and(|n| n == "configs"))
                .map(Path::to_path_buf)
        });
        if found.is_some() {
            return found;
        }
    }
    let here = Path::new("configs");
    here.is_dir().then(|| here.to_path_buf())
}

fn top_file(store: &Store, file: Option<&Path>) -> Result<ConfigFile, ConfigError> {
    let Some(path) = file else {
        return store
            .find(DEFAULT_EXPERIMENT)
            .map_err(|m| ConfigError::new("", DEFAULT_EXPERIMENT, m))?
            .ok_or_else(|| {
                ConfigError::new(
                    "",
                    DEFAULT_EXPERIMENT,
                    "the built-in demo experiment is missing",
                )
            });
    };
    let display = path.display().to_string();
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("", &display, format!("cannot read: {e}")))?;
        return Ok(ConfigFile {
            name: store.relative_name(path).unwrap_or_else(|| display.clone()),
            display,
            text,
        });
    }
    let as_name = display.strip_prefix("configs/").unwrap_or(&display);
    match store.find(as_name) {
        Ok(Some(found)) => Ok(found),
        Ok(None) if path.is_absolute() => {
            Err(ConfigError::new("", &display, "config file not found"))
        }
        Ok(None) => Err(ConfigError::new(
            "",
            &display,
            format!(
                "config file not found (also looked for {} in {})",
                compose::normalize(as_name),
                store.places()
            ),
        )),
        Err(m) => Err(ConfigError::new("", &display, m)),
    }
}

/// `output.experiment_name` defaults to the experiment file's name.
fn default_experiment_name(tree: &mut Value, name: &str) {
    let Value::Mapping(root) = tree else { return };
    let output = root
        .entry(Value::String("output".into()))
        .or_insert(Value::Null);
    if output.is_null() {
        *output = Value::Mapping(Default::default());
    }
    if let Value::Mapping(out) = output {
        let slot = out
            .entry(Value::String("experiment_name".into()))
            .or_insert(Value::Null);
        if slot.is_null() {
            *slot = Value::String(name.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key path of a serialised default `Config`, not descending into free-key mappings.
    fn config_paths(v: &Value, prefix: &str, out: &mut Vec<String>) {
        if let Value::Mapping(m) = v {
            for (k, v) in m {
                let p = sources::join(prefix, k.as_str().unwrap());
                let free = matches!(
                    schema::lookup(&p.split('.').collect::<Vec<_>>()),
                    Some(schema::Ty::MapOf(_))
                );
                out.push(p.clone());
                if !free {
                    config_paths(v, &p, out);
                }
            }
        }
    }

    #[test]
    fn schema_and_config_structs_have_the_same_keys() {
        // Optional sections present, so that their keys are compared too.
        let mut config = Config::default();
        config.logging.mlflow = Some(MlflowConfig::default());
        let value = yaml_serde::to_value(config).unwrap();
        let mut from_structs = Vec::new();
        config_paths(&value, "", &mut from_structs);
        let mut from_schema: Vec<String> =
            schema::all_paths().iter().map(|(p, _)| p.clone()).collect();
        from_structs.sort();
        from_schema.sort();
        assert_eq!(from_structs, from_schema);
    }

    #[test]
    fn a_serialised_config_passes_the_schema_unchanged() {
        let value = yaml_serde::to_value(Config::default()).unwrap();
        let mut errors = ConfigErrors::default();
        let sources = Sources::default();
        let mut checker = schema::Checker {
            sources: &sources,
            errors: &mut errors,
            check_required: true,
        };
        let cleaned = checker.check(schema::root(), "", value).unwrap();
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(
            yaml_serde::from_value::<Config>(cleaned).unwrap(),
            Config::default()
        );
    }
}
