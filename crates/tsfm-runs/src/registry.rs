//! Finding runs again: `tsfm runs list` and `tsfm runs show`.
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::layout::BEST_MODEL_LINK as BEST_LINK;
use crate::{RunDir, RunManifest, RunsError};

/// One line of `tsfm runs list`.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub model: String,
    pub experiment: String,
    pub run_id: String,
    pub path: PathBuf,
    pub status: String,
    pub started_at: String,
    pub is_best: bool,
    /// `best_eval_loss` (or `eval_loss`) from `metrics.json` when present.
    pub eval_loss: Option<f64>,
}

/// Every run under `{save_dir}/models`, optionally filtered, oldest first.
pub fn list_runs(
    save_dir: &Path,
    model: Option<&str>,
    experiment: Option<&str>,
) -> Result<Vec<RunSummary>, RunsError> {
    let mut runs = Vec::new();
    let models_dir = save_dir.join("models");
    for model_dir in sorted_dirs(&models_dir)? {
        let model_name = file_name(&model_dir);
        if model.is_some_and(|m| m != model_name) {
            continue;
        }
        for experiment_dir in sorted_dirs(&model_dir)? {
            let experiment_name = file_name(&experiment_dir);
            // Promoted versions sit beside the experiments; `list_productions` lists them.
            if crate::production::parse_version(&experiment_name).is_some() {
                continue;
            }
            if experiment.is_some_and(|e| e != experiment_name) {
                continue;
            }
            let best = std::fs::read_link(experiment_dir.join(BEST_LINK))
                .ok()
                .map(|t| t.to_string_lossy().into_owned());
            for run_dir in sorted_dirs(&experiment_dir)? {
                let manifest_path = run_dir.join("run.json");
                if !manifest_path.is_file() || run_dir.is_symlink() {
                    continue;
                }
                let manifest = RunManifest::read(&manifest_path)?;
                let run_id = file_name(&run_dir);
                runs.push(RunSummary {
                    model: model_name.clone(),
                    experiment: experiment_name.clone(),
                    is_best: best.as_deref() == Some(run_id.as_str()),
                    run_id,
                    status: serde_json::to_value(manifest.status)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    started_at: manifest.started_at,
                    eval_loss: read_eval_loss(&run_dir.join("metrics.json")),
                    path: run_dir,
                });
            }
        }
    }
    Ok(runs)
}

/// Resolve what a user typed to one run: a directory, `model/experiment/run_id`,
/// `experiment/run_id`, a run id, or the start of one; `[model/]experiment/best_model` is the
/// run the experiment's `best_model` names (what `tsfm compare` ranks first within it).
pub fn find_run(save_dir: &Path, query: &str) -> Result<RunDir, RunsError> {
    let as_path = Path::new(query);
    if as_path.join("run.json").is_file() {
        return RunDir::open(as_path);
    }
    let best_of = query.strip_suffix("/best_model");
    let matches: Vec<RunSummary> = list_runs(save_dir, None, None)?
        .into_iter()
        .filter(|r| match best_of {
            Some(experiment) => {
                let full = format!("{}/{}", r.model, r.experiment);
                r.is_best && (full == experiment || r.experiment == experiment)
            }
            None => {
                let full = format!("{}/{}/{}", r.model, r.experiment, r.run_id);
                full == query || full.ends_with(&format!("/{query}")) || r.run_id.starts_with(query)
            }
        })
        .collect();
    match matches.len() {
        0 => Err(RunsError::RunNotFound {
            query: query.to_string(),
            root: save_dir.to_path_buf(),
        }),
        1 => RunDir::open(&matches[0].path),
        count => Err(RunsError::AmbiguousRun {
            query: query.to_string(),
            count,
            root: save_dir.to_path_buf(),
        }),
    }
}

fn read_eval_loss(path: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    ["best_eval_loss", "eval_loss"]
        .iter()
        .find_map(|k| value.get(k).and_then(|v| v.as_f64()))
}

fn sorted_dirs(dir: &Path) -> Result<Vec<PathBuf>, RunsError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RunsError::io(dir)(e)),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir() && !file_name(p).starts_with('.') && file_name(p) != BEST_LINK)
        .collect();
    dirs.sort();
    Ok(dirs)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
