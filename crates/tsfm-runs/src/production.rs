//! Production models: `{save_dir}/models/{model}/production_vN/`, a frozen copy of one run.
//!
//! ```text
//! production_vN/
//!     model/ (config.json, weights, scaler.json, calibration.json)   the run's model folder
//!     config.yaml  run.json  metrics.json  evaluation_report.json    as the run has them
//!     promotion.json   which run, when, by which tsfm
//!     MODEL_CARD.md    written by the caller
//!     checksums.json   size and SHA-256 of every file above
//! ```
//! A version is written under a hidden name and renamed into place when complete, and never
//! replaced: promoting again makes the next version.
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::checksums::{verify_checksums, write_checksums};
use crate::{RunDir, RunsError, sanitize_name, write_atomic, write_json_atomic};

/// Folder names of production versions: `production_v1`, `production_v2`, ...
pub const PRODUCTION_PREFIX: &str = "production_v";
pub const PROMOTION_FILE: &str = "promotion.json";

/// `promotion.json`: where a production version came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    pub version: String,
    /// `model/experiment/run_id` of the run it is a copy of.
    pub source_run: String,
    pub source_path: PathBuf,
    /// Local time, RFC 3339.
    pub promoted_at: String,
    pub tsfm_version: String,
}

/// One line of the production table of `tsfm runs list`.
#[derive(Debug, Clone, Serialize)]
pub struct ProductionSummary {
    pub model: String,
    pub version: String,
    pub path: PathBuf,
    pub promotion: Promotion,
}

/// `N` of `production_vN` (N >= 1), `None` for any other name.
pub fn parse_version(name: &str) -> Option<u32> {
    let digits = name.strip_prefix(PRODUCTION_PREFIX)?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The production versions of `model` (every model when `None`), by model then version.
pub fn list_productions(
    save_dir: &Path,
    model: Option<&str>,
) -> Result<Vec<ProductionSummary>, RunsError> {
    let mut out = Vec::new();
    let models = save_dir.join("models");
    let entries = match std::fs::read_dir(&models) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(RunsError::io(&models)(e)),
    };
    let mut model_dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    model_dirs.sort();
    for model_dir in model_dirs.iter().filter(|p| p.is_dir()) {
        let name = model_dir
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if model.is_some_and(|m| m != name) {
            continue;
        }
        let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(model_dir)
            .map_err(RunsError::io(model_dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| {
                let v = parse_version(&p.file_name()?.to_string_lossy())?;
                p.join(PROMOTION_FILE).is_file().then_some((v, p))
            })
            .collect();
        versions.sort();
        for (_, path) in versions {
            let file = path.join(PROMOTION_FILE);
            let text = std::fs::read_to_string(&file).map_err(RunsError::io(&file))?;
            let promotion = serde_json::from_str(&text).map_err(|e| RunsError::Format {
                path: file.clone(),
                message: e.to_string(),
            })?;
            out.push(ProductionSummary {
                model: name.clone(),
                version: path.file_name().unwrap().to_string_lossy().into_owned(),
                path,
                promotion,
            });
        }
    }
    Ok(out)
}

/// Copies `run` to `{save_dir}/models/{model}/{name}` with `extra` files (name, content) beside
/// it and `checksums.json` over everything. `name`: `production_vN`, or `None` for one more than
/// the highest version there. An existing version is never replaced.
pub fn promote(
    save_dir: &Path,
    run: &RunDir,
    name: Option<&str>,
    extra: &[(&str, Vec<u8>)],
) -> Result<PathBuf, RunsError> {
    let model_dir = save_dir
        .join("models")
        .join(sanitize_name("model", &run.model)?);
    std::fs::create_dir_all(&model_dir).map_err(RunsError::io(&model_dir))?;
    let version = match name {
        Some(n) => {
            parse_version(n).ok_or_else(|| RunsError::InvalidName {
                what: "production version",
                name: n.to_string(),
                reason: "write it as production_vN with N a whole number from 1 (e.g. production_v2)",
            })?;
            n.to_string()
        }
        None => next_version(&model_dir)?,
    };
    let target = model_dir.join(&version);
    if std::fs::symlink_metadata(&target).is_ok() {
        return Err(RunsError::AlreadyPromoted { path: target });
    }
    let staging = model_dir.join(format!(".tmp-{version}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    let result = fill(&staging, run, &version, extra).and_then(|()| {
        tsfm_io::sync_tree(&staging).map_err(RunsError::io(&staging))?;
        // Checked again just before the rename: a folder appearing meanwhile wins (renaming onto
        // a non-empty folder fails, so it is never replaced either way).
        if std::fs::symlink_metadata(&target).is_ok() {
            return Err(RunsError::AlreadyPromoted {
                path: target.clone(),
            });
        }
        std::fs::rename(&staging, &target).map_err(|e| {
            if target.exists() {
                RunsError::AlreadyPromoted {
                    path: target.clone(),
                }
            } else {
                RunsError::io(&target)(e)
            }
        })?;
        tsfm_io::sync_dir(&model_dir).map_err(RunsError::io(&model_dir))
    });
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    Ok(target)
}

fn next_version(model_dir: &Path) -> Result<String, RunsError> {
    let highest = std::fs::read_dir(model_dir)
        .map_err(RunsError::io(model_dir))?
        .filter_map(|e| e.ok())
        .filter_map(|e| parse_version(&e.file_name().to_string_lossy()))
        .max()
        .unwrap_or(0);
    Ok(format!("{PRODUCTION_PREFIX}{}", highest + 1))
}

/// The run's files into `staging`: its model folder, config, manifest and reports.
fn fill(
    staging: &Path,
    run: &RunDir,
    version: &str,
    extra: &[(&str, Vec<u8>)],
) -> Result<(), RunsError> {
    std::fs::create_dir_all(staging).map_err(RunsError::io(staging))?;
    copy_tree(&run.model_dir(), &staging.join("model"))?;
    for (path, required) in [
        (run.config_path(), true),
        (run.manifest_path(), true),
        (run.metrics_path(), false),
        (run.path.join("evaluation_report.json"), false),
    ] {
        if !path.is_file() && !required {
            continue;
        }
        let to = staging.join(path.file_name().expect("a file name"));
        std::fs::copy(&path, &to).map_err(RunsError::io(&path))?;
    }
    for (name, bytes) in extra {
        write_atomic(&staging.join(name), bytes)?;
    }
    let promotion = Promotion {
        version: version.to_string(),
        source_run: format!("{}/{}/{}", run.model, run.experiment, run.run_id),
        source_path: run.path.clone(),
        promoted_at: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        tsfm_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    write_json_atomic(&staging.join(PROMOTION_FILE), &promotion)?;
    write_checksums(staging)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), RunsError> {
    std::fs::create_dir_all(to).map_err(RunsError::io(to))?;
    for entry in std::fs::read_dir(from).map_err(RunsError::io(from))? {
        let entry = entry.map_err(RunsError::io(from))?;
        let path = entry.path();
        let dest = to.join(entry.file_name());
        if path.is_dir() {
            copy_tree(&path, &dest)?;
        } else {
            std::fs::copy(&path, &dest).map_err(RunsError::io(&path))?;
        }
    }
    Ok(())
}

/// True when `dir` is a production version folder (it has `promotion.json` and `model/`).
pub fn is_production(dir: &Path) -> bool {
    dir.join(PROMOTION_FILE).is_file() && dir.join("model").is_dir()
}

/// A production folder, checked against its `checksums.json`.
pub fn open_production(dir: &Path) -> Result<PathBuf, RunsError> {
    verify_checksums(dir).map_err(|problem| RunsError::Damaged {
        path: dir.to_path_buf(),
        problem,
    })?;
    Ok(dir.to_path_buf())
}

/// What `tsfm serve --model` names: a folder, `model/production_vN` under `save_dir`, or
/// `production_vN` when exactly one model has that version. `None` when nothing matches.
pub fn resolve_production(save_dir: &Path, spec: &str) -> Result<Option<PathBuf>, RunsError> {
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        return Ok(Some(as_path.to_path_buf()));
    }
    if parse_version(spec).is_none() {
        let nested = save_dir.join("models").join(spec);
        return Ok(is_production(&nested).then_some(nested));
    }
    let found: Vec<PathBuf> = list_productions(save_dir, None)?
        .into_iter()
        .filter(|p| p.version == spec)
        .map(|p| p.path)
        .collect();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.into_iter().next()),
        count => Err(RunsError::AmbiguousRun {
            query: spec.to_string(),
            count,
            root: save_dir.to_path_buf(),
        }),
    }
}
