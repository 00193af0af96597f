//! Where a run's files go, and the `best_model` link.
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;

use crate::RunsError;

/// Refuses `path` when it is a symbolic link (a missing path is fine: it will be created as a
/// real folder). Used for every folder tsfm creates inside the results tree.
pub fn refuse_link(path: &Path) -> Result<(), RunsError> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(RunsError::LinkInResults {
            path: path.to_path_buf(),
        }),
        _ => Ok(()),
    }
}

/// Timestamp format of run directory names; sorts chronologically as text.
pub const RUN_ID_FORMAT: &str = "%Y-%m-%d_%H-%M-%S";

/// Name of the link to the best run of an experiment.
pub const BEST_MODEL_LINK: &str = "best_model";

/// In an experiment's folder: the lock runs take to compare and repoint `best_model`.
const EXPERIMENT_LOCK: &str = ".lock";

/// Make a model or experiment name safe as one path component.
///
/// Characters other than ASCII letters, digits, `-`, `_` and `.` become `_`, so a name can never
/// contain a path separator; names that would still be special (`.`, `..`, hidden) or empty are
/// refused, so nothing can escape `save_dir`.
pub fn sanitize_name(what: &'static str, name: &str) -> Result<String, RunsError> {
    let invalid = |reason| RunsError::InvalidName {
        what,
        name: name.to_string(),
        reason,
    };
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    if trimmed.chars().count() > 100 {
        return Err(invalid("it is longer than 100 characters"));
    }
    let cleaned: String = trimmed
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.starts_with('.') {
        return Err(invalid(
            "it starts with '.', which would hide or escape the directory",
        ));
    }
    if cleaned == BEST_MODEL_LINK {
        return Err(invalid(
            "`best_model` is reserved for the link to the best run",
        ));
    }
    if what == "experiment" && crate::production::parse_version(&cleaned).is_some() {
        return Err(invalid(
            "`production_vN` names the promoted versions of a model (`tsfm runs promote`)",
        ));
    }
    Ok(cleaned)
}

/// The results tree rooted at `save_dir` (default `tsfm_results`).
#[derive(Debug, Clone)]
pub struct RunLayout {
    pub save_dir: PathBuf,
}

/// One run's directory and the names of everything in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    pub path: PathBuf,
    pub model: String,
    pub experiment: String,
    /// The directory name: the start time, `YYYY-MM-DD_HH-MM-SS` (plus `_N` if taken).
    pub run_id: String,
}

impl RunDir {
    /// Wrap an existing run directory `.../models/{model}/{experiment}/{run_id}`.
    pub fn open(path: &Path) -> Result<RunDir, RunsError> {
        let canonical = path.canonicalize().map_err(RunsError::io(path))?;
        let parts: Vec<String> = canonical
            .components()
            .rev()
            .take(3)
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        if parts.len() < 3 || !canonical.join("run.json").is_file() {
            return Err(RunsError::RunNotFound {
                query: path.display().to_string(),
                root: path.to_path_buf(),
            });
        }
        Ok(RunDir {
            path: canonical,
            run_id: parts[0].clone(),
            experiment: parts[1].clone(),
            model: parts[2].clone(),
        })
    }
    pub fn model_dir(&self) -> PathBuf {
        self.path.join("model")
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.path.join("logs")
    }
    pub fn checkpoints_dir(&self) -> PathBuf {
        self.path.join("checkpoints")
    }
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join("metrics.json")
    }
    pub fn config_path(&self) -> PathBuf {
        self.path.join("config.yaml")
    }
    pub fn manifest_path(&self) -> PathBuf {
        self.path.join("run.json")
    }
    pub fn train_log_path(&self) -> PathBuf {
        self.logs_dir().join("train.jsonl")
    }
}

impl RunLayout {
    pub fn new(save_dir: impl Into<PathBuf>) -> Self {
        Self {
            save_dir: save_dir.into(),
        }
    }

    /// `{save_dir}/models/{model}/{experiment}`: all runs of one experiment.
    pub fn experiment_dir(&self, model: &str, experiment: &str) -> Result<PathBuf, RunsError> {
        self.inside("models", &[model, experiment])
    }

    /// `{save_dir}/results/{model}/{experiment}`: reports, plots and the run history.
    pub fn results_dir(&self, model: &str, experiment: &str) -> Result<PathBuf, RunsError> {
        self.inside("results", &[model, experiment])
    }

    /// `{save_dir}/{top}/{model}/{experiment}`, refusing a symbolic link planted at any of
    /// the three levels: a link there would send every later write somewhere else.
    /// `save_dir` itself may be a link: that is the user's choice of where results live.
    fn inside(&self, top: &str, names: &[&str; 2]) -> Result<PathBuf, RunsError> {
        let mut path = self.save_dir.join(top);
        refuse_link(&path)?;
        for (what, name) in ["model", "experiment"].into_iter().zip(names) {
            path.push(sanitize_name(what, name)?);
            refuse_link(&path)?;
        }
        Ok(path)
    }

    /// Create a new run directory named after `started` (with `model/`, `logs/` and
    /// `checkpoints/`). Two runs started in the same second get `_2`, `_3`, ... suffixes.
    pub fn create_run(
        &self,
        model: &str,
        experiment: &str,
        started: NaiveDateTime,
    ) -> Result<RunDir, RunsError> {
        let experiment_dir = self.experiment_dir(model, experiment)?;
        std::fs::create_dir_all(&experiment_dir).map_err(RunsError::io(&experiment_dir))?;
        let base = started.format(RUN_ID_FORMAT).to_string();
        let mut suffix = 1;
        loop {
            let run_id = if suffix == 1 {
                base.clone()
            } else {
                format!("{base}_{suffix}")
            };
            let path = experiment_dir.join(&run_id);
            // create_dir (not create_dir_all) fails if it exists: that is our lock.
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    let run = RunDir {
                        path,
                        model: sanitize_name("model", model)?,
                        experiment: sanitize_name("experiment", experiment)?,
                        run_id,
                    };
                    for dir in [run.model_dir(), run.logs_dir(), run.checkpoints_dir()] {
                        std::fs::create_dir_all(&dir).map_err(RunsError::io(&dir))?;
                    }
                    return Ok(run);
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => suffix += 1,
                Err(e) => return Err(RunsError::io(&path)(e)),
            }
        }
    }

    /// Takes the experiment's lock (`{experiment_dir}/.lock`), held while the returned guard
    /// lives: runs of one experiment finishing together compare their losses with the current
    /// best and repoint `best_model` one at a time, so the link ends at the best of them.
    pub fn lock_experiment(
        &self,
        model: &str,
        experiment: &str,
    ) -> Result<tsfm_io::FileLock, RunsError> {
        let path = self
            .experiment_dir(model, experiment)?
            .join(EXPERIMENT_LOCK);
        tsfm_io::lock_exclusive(&path, || {}).map_err(RunsError::io(&path))
    }

    /// Point `{experiment_dir}/best_model` at `run` with a relative link, replacing any old
    /// link atomically (a new link is made under a temporary name, then renamed over).
    /// A run outside the experiment's folder (`tsfm train --run-dir DIR`) is linked by its
    /// absolute path, and the experiment's folder is created for the link.
    pub fn update_best_model(&self, run: &RunDir) -> Result<PathBuf, RunsError> {
        let experiment_dir = self.experiment_dir(&run.model, &run.experiment)?;
        std::fs::create_dir_all(&experiment_dir).map_err(RunsError::io(&experiment_dir))?;
        let link = experiment_dir.join(BEST_MODEL_LINK);
        let inside = run
            .path
            .parent()
            .is_some_and(|p| p.canonicalize().ok() == experiment_dir.canonicalize().ok());
        let target = if inside {
            PathBuf::from(&run.run_id)
        } else {
            run.path.clone()
        };
        tsfm_io::replace_symlink(&target, &link).map_err(RunsError::io(&link))?;
        Ok(link)
    }

    /// The run `best_model` points at, if any.
    pub fn best_model(&self, model: &str, experiment: &str) -> Result<Option<String>, RunsError> {
        let link = self
            .experiment_dir(model, experiment)?
            .join(BEST_MODEL_LINK);
        match std::fs::read_link(&link) {
            Ok(target) => Ok(Some(target.to_string_lossy().into_owned())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RunsError::io(&link)(e)),
        }
    }
}
