//! The sweep spec file: which `--set` overrides each task gets (`set`, `grid`, `list`) and the
//! Slurm resources of the job array (`slurm`). Every key is checked by its path: an unknown or
//! mistyped one is refused, never ignored.
use std::path::Path;

use yaml_serde::{Mapping, Value};

use crate::error::{Result, user};

/// A parsed sweep spec.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepSpec {
    /// The sweep's folder name under `sweeps/` (default: the spec file's name).
    pub name: String,
    /// Overrides every task gets, before its own.
    pub set: Vec<(String, String)>,
    /// Every combination of these values (in key order, the last key varying fastest).
    pub grid: Vec<(String, Vec<String>)>,
    /// Explicit combinations, each crossed with the grid.
    pub list: Vec<Vec<(String, String)>>,
    pub slurm: SlurmResources,
}

/// What the `#SBATCH` lines ask for. Unset fields are left to the cluster's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlurmResources {
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// Time limit per task, as sbatch reads it (`HH:MM:SS`, `D-HH:MM:SS`, minutes).
    pub time: Option<String>,
    pub cpus_per_task: Option<u64>,
    /// Memory per task, as sbatch reads it (`16G`, `4000M`).
    pub mem: Option<String>,
    /// GPUs per task (`--gres=gpu:N`).
    pub gpus: Option<u64>,
    /// At most this many tasks at once (`--array=0-N%M`).
    pub max_parallel: Option<u64>,
    /// More `#SBATCH` options, verbatim (e.g. `--constraint=a100`).
    pub sbatch: Vec<String>,
    /// Shell lines run before `tsfm` in each task (e.g. `module load cuda/12.4`).
    pub setup: Vec<String>,
}

const TOP_KEYS: &[&str] = &["name", "set", "grid", "list", "slurm"];
const SLURM_KEYS: &[&str] = &[
    "partition",
    "account",
    "qos",
    "time",
    "cpus_per_task",
    "mem",
    "gpus",
    "max_parallel",
    "sbatch",
    "setup",
];

impl SweepSpec {
    /// Read and check `path`; every problem is listed, each with its key path.
    pub fn read(path: &Path) -> Result<SweepSpec> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            user(format!(
                "{}: cannot read the sweep spec: {e}",
                path.display()
            ))
        })?;
        let default_name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sweep".into());
        SweepSpec::parse(&text, &default_name).map_err(|problems| {
            user(format!(
                "{}: {} problem{} in the sweep spec:\n  {}",
                path.display(),
                problems.len(),
                if problems.len() == 1 { "" } else { "s" },
                problems.join("\n  ")
            ))
        })
    }

    /// Parse spec text; `Err` lists every problem as `key.path: what is wrong`.
    pub fn parse(text: &str, default_name: &str) -> std::result::Result<SweepSpec, Vec<String>> {
        let value: Value =
            yaml_serde::from_str(text).map_err(|e| vec![format!("not valid YAML: {e}")])?;
        let mut p = Problems::default();
        let root = match value {
            Value::Mapping(m) => m,
            Value::Null => Mapping::new(),
            _ => {
                return Err(vec![
                    "the spec must be a mapping of name/set/grid/list/slurm".into(),
                ]);
            }
        };
        p.unknown_keys(&root, "", TOP_KEYS);
        let mut spec = SweepSpec {
            name: p
                .string(root.get("name"), "name")
                .unwrap_or_else(|| default_name.to_string()),
            ..SweepSpec::default()
        };
        // It names a folder, the Slurm job and the run directories.
        let plain = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
        if spec.name.is_empty() || !spec.name.chars().all(plain) || spec.name.starts_with('.') {
            p.push(
                "name",
                "must be letters, digits, `-`, `_` and `.`, not starting with `.`",
            );
        }
        if let Some(v) = root.get("set") {
            spec.set = p.overrides(v, "set");
        }
        if let Some(v) = root.get("grid") {
            spec.grid = p.grid(v);
        }
        if let Some(v) = root.get("list") {
            match v {
                Value::Sequence(items) => {
                    for (i, item) in items.iter().enumerate() {
                        spec.list.push(p.overrides(item, &format!("list[{i}]")));
                    }
                }
                _ => p.push("list", "must be a list of mappings `key.path: value`"),
            }
        }
        if let Some(v) = root.get("slurm") {
            spec.slurm = p.slurm(v);
        }
        if p.0.is_empty() { Ok(spec) } else { Err(p.0) }
    }

    /// Each task's overrides, `set` first: the grid's combinations crossed with `list`.
    pub fn combinations(&self) -> Vec<Vec<(String, String)>> {
        let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
        for (key, values) in &self.grid {
            combos = combos
                .into_iter()
                .flat_map(|c| {
                    values.iter().map(move |v| {
                        let mut c = c.clone();
                        c.push((key.clone(), v.clone()));
                        c
                    })
                })
                .collect();
        }
        let lists: Vec<Vec<(String, String)>> = if self.list.is_empty() {
            vec![Vec::new()]
        } else {
            self.list.clone()
        };
        let mut out = Vec::new();
        for entry in &lists {
            for combo in &combos {
                let mut task = self.set.clone();
                task.extend(entry.iter().cloned());
                task.extend(combo.iter().cloned());
                out.push(task);
            }
        }
        out
    }
}

/// A YAML value as `--set` text: scalars as written, lists and mappings in flow style (JSON,
/// which the override parser reads as YAML).
pub fn set_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Null => Some("null".into()),
        Value::Sequence(_) | Value::Mapping(_) => serde_json::to_string(value).ok(),
        Value::Tagged(_) => None,
    }
}

#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, key: &str, message: &str) {
        self.0.push(format!("{key}: {message}"));
    }

    fn unknown_keys(&mut self, map: &Mapping, prefix: &str, known: &[&str]) {
        for k in map.keys() {
            let name = k.as_str().unwrap_or_default();
            if !known.contains(&name) {
                let path = if prefix.is_empty() {
                    name.to_string()
                } else {
                    format!("{prefix}.{name}")
                };
                self.push(
                    &path,
                    &format!("unknown key (known here: {})", known.join(", ")),
                );
            }
        }
    }

    fn string(&mut self, v: Option<&Value>, key: &str) -> Option<String> {
        match v? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => {
                self.push(key, "must be a string");
                None
            }
        }
    }

    fn count(&mut self, v: Option<&Value>, key: &str) -> Option<u64> {
        match v? {
            Value::Number(n) if n.as_u64().is_some_and(|n| n > 0) => n.as_u64(),
            _ => {
                self.push(key, "must be a whole number above 0");
                None
            }
        }
    }

    fn strings(&mut self, v: Option<&Value>, key: &str) -> Vec<String> {
        match v {
            None => Vec::new(),
            Some(Value::Sequence(items)) if items.iter().all(|i| i.as_str().is_some()) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            Some(_) => {
                self.push(key, "must be a list of strings");
                Vec::new()
            }
        }
    }

    /// `key.path: value` pairs, in file order.
    fn overrides(&mut self, v: &Value, at: &str) -> Vec<(String, String)> {
        let Value::Mapping(map) = v else {
            self.push(at, "must be a mapping `key.path: value`");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in map {
            let Some(key) = self.config_key(k, at) else {
                continue;
            };
            match set_text(v) {
                Some(text) => out.push((key, text)),
                None => self.push(&format!("{at}.{key}"), "a tagged value cannot be a --set"),
            }
        }
        out
    }

    fn grid(&mut self, v: &Value) -> Vec<(String, Vec<String>)> {
        let Value::Mapping(map) = v else {
            self.push("grid", "must be a mapping `key.path: [value, ...]`");
            return Vec::new();
        };
        let mut out = Vec::new();
        for (k, v) in map {
            let Some(key) = self.config_key(k, "grid") else {
                continue;
            };
            match v {
                Value::Sequence(values) if !values.is_empty() => {
                    out.push((key, values.iter().filter_map(set_text).collect()));
                }
                _ => self.push(
                    &format!("grid.{key}"),
                    "must be a non-empty list of the values to try",
                ),
            }
        }
        out
    }

    fn config_key(&mut self, k: &Value, at: &str) -> Option<String> {
        match k.as_str() {
            Some(key) if !key.is_empty() && !key.split('.').any(str::is_empty) => {
                Some(key.to_string())
            }
            _ => {
                self.push(
                    at,
                    &format!("`{k:?}` is not a config key path like training.learning_rate"),
                );
                None
            }
        }
    }

    fn slurm(&mut self, v: &Value) -> SlurmResources {
        let Value::Mapping(m) = v else {
            self.push("slurm", "must be a mapping");
            return SlurmResources::default();
        };
        self.unknown_keys(m, "slurm", SLURM_KEYS);
        SlurmResources {
            partition: self.string(m.get("partition"), "slurm.partition"),
            account: self.string(m.get("account"), "slurm.account"),
            qos: self.string(m.get("qos"), "slurm.qos"),
            time: self.string(m.get("time"), "slurm.time"),
            cpus_per_task: self.count(m.get("cpus_per_task"), "slurm.cpus_per_task"),
            mem: self.string(m.get("mem"), "slurm.mem"),
            gpus: match m.get("gpus") {
                Some(Value::Number(n)) if n.as_u64() == Some(0) => None,
                other => self.count(other, "slurm.gpus"),
            },
            max_parallel: self.count(m.get("max_parallel"), "slurm.max_parallel"),
            sbatch: self.strings(m.get("sbatch"), "slurm.sbatch"),
            setup: self.strings(m.get("setup"), "slurm.setup"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_crossed_with_list_after_set() {
        let spec = SweepSpec::parse(
            "set: {training.max_steps: 8}\n\
             grid:\n  training.learning_rate: [1.0e-4, 3.0e-4]\n  data.past_covariates: [[], [iob]]\n\
             list:\n  - {training.seed: 1}\n  - {training.seed: 2}\n",
            "s",
        )
        .unwrap();
        let combos = spec.combinations();
        assert_eq!(combos.len(), 8);
        let text = |c: &Vec<(String, String)>| {
            c.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            text(&combos[0]),
            "training.max_steps=8 training.seed=1 training.learning_rate=0.0001 data.past_covariates=[]"
        );
        assert_eq!(
            text(&combos[7]),
            "training.max_steps=8 training.seed=2 training.learning_rate=0.0003 data.past_covariates=[\"iob\"]"
        );
    }

    #[test]
    fn unknown_and_mistyped_keys_are_refused_by_path() {
        let err = SweepSpec::parse(
            "name: a b\nslurm: {gpu: 1, cpus_per_task: 0, sbatch: --foo}\ngrids: {}\ngrid: {a.b: 3}\n",
            "s",
        )
        .unwrap_err();
        assert_eq!(
            err,
            vec![
                "grids: unknown key (known here: name, set, grid, list, slurm)",
                "name: must be letters, digits, `-`, `_` and `.`, not starting with `.`",
                "grid.a.b: must be a non-empty list of the values to try",
                "slurm.gpu: unknown key (known here: partition, account, qos, time, cpus_per_task, mem, gpus, max_parallel, sbatch, setup)",
                "slurm.cpus_per_task: must be a whole number above 0",
                "slurm.sbatch: must be a list of strings",
            ]
        );
    }
}
