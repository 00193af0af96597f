//! `tsfm runs promote`: freeze a run as `models/{model}/production_vN/` with a model card.
//!
//! The copy itself (atomic, checksummed, never replaced) is [`tsfm_runs::promote`]; this module
//! writes what a person deciding whether to deploy the model reads: `MODEL_CARD.md`, from the
//! run's config, manifest and test metrics (the numbers `tsfm train` / `tsfm evaluate` wrote).
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tsfm_runs::{RunDir, RunManifest};

use crate::error::{Result, user};

/// Promotes the run `query` names (a folder, `model/experiment/run`, a run id) under
/// `save_dir`, as `name` (`production_vN`) or the next free version; returns its folder.
pub fn promote_run(save_dir: &Path, query: &str, name: Option<&str>) -> Result<PathBuf> {
    let run = tsfm_runs::find_run(save_dir, query)?;
    let manifest = RunManifest::read(&run.manifest_path())?;
    if manifest.status != tsfm_runs::RunStatus::Completed {
        return Err(user(format!(
            "{}: the run did not complete (status {:?}); promote a completed run",
            run.path.display(),
            manifest.status
        )));
    }
    if !run.model_dir().join("config.json").is_file() {
        return Err(user(format!(
            "{}: no model/config.json, so there is no model to promote",
            run.path.display()
        )));
    }
    let resolved = tsfm_config::load(None, Some(&run.config_path()), &[])?;
    let metrics = read_json(&run.metrics_path())?;
    let card = model_card(&run, &manifest, &resolved.config, metrics.as_ref());
    Ok(tsfm_runs::promote(
        save_dir,
        &run,
        name,
        &[("MODEL_CARD.md", card.into_bytes())],
    )?)
}

fn read_json(path: &Path) -> Result<Option<Value>> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| user(format!("{}: not valid JSON: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(crate::error::io(path, e)),
    }
}

/// `MODEL_CARD.md`: data, metrics with baselines, nocturnal results, calibration, intended
/// use and limits.
pub fn model_card(
    run: &RunDir,
    manifest: &RunManifest,
    config: &tsfm_config::Config,
    metrics: Option<&Value>,
) -> String {
    let (model, data) = (&config.model, &config.data);
    let mut s = String::new();
    let _ = writeln!(s, "# Model card: {} / {}\n", run.model, run.experiment);
    let _ = writeln!(
        s,
        "Promoted from run `{}/{}/{}` (started {}, tsfm {}, git {}, seed {}).\n",
        run.model,
        run.experiment,
        run.run_id,
        manifest.started_at,
        manifest.tsfm_version,
        manifest.git_revision.as_deref().unwrap_or("unknown"),
        manifest.seed
    );
    let _ = writeln!(s, "## Model\n");
    let _ = writeln!(s, "- family: `{}`", model.model_type.as_str());
    let _ = writeln!(
        s,
        "- context {} steps, horizon {} steps at {} min",
        param(model, "context_length"),
        param(model, "prediction_length"),
        data.resolution_min
    );
    let _ = writeln!(
        s,
        "- fine-tuning: `{}`",
        snake(&config.training.finetune_mode)
    );
    let _ = writeln!(s, "\n## Data\n");
    let _ = writeln!(
        s,
        "- source `{}` (`{}`), raw files `{}`, fingerprint `{}`",
        data.source_name,
        snake(&data.source),
        data.raw_path,
        manifest.data_fingerprint.as_deref().unwrap_or("unknown")
    );
    let _ = writeln!(s, "- target: `{}`", data.target_columns.join("`, `"));
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            format!("`{}`", v.join("`, `"))
        }
    };
    let _ = writeln!(s, "- past covariates: {}", list(&data.past_covariates));
    let _ = writeln!(
        s,
        "- known-future covariates: {}",
        list(&data.future_covariates)
    );
    let test = metrics.and_then(|m| m.get("test"));
    let units = test
        .and_then(|t| t.get("units"))
        .and_then(Value::as_str)
        .unwrap_or("the data's units");
    let _ = writeln!(s, "- units: {units}");
    match test {
        Some(test) => metrics_sections(&mut s, test, units),
        None => {
            let _ = writeln!(
                s,
                "\n## Metrics\n\nThe run has no test metrics (metrics.json without `test`); \
                 run `tsfm evaluate --run` before relying on this model."
            );
        }
    }
    let calibrated = run.model_dir().join("calibration.json").is_file();
    let _ = writeln!(
        s,
        "\nQuantiles: {}.",
        if calibrated {
            "split-conformal residual quantiles from the validation split (`model/calibration.json`)"
        } else {
            "the model's own (native quantile head or samples)"
        }
    );
    let _ = writeln!(s, "\n## Intended use\n");
    let _ = writeln!(
        s,
        "Forecasting `{}` {} steps ahead from the last {} readings of one series, with the \
         covariates above, for decision support (e.g. an overnight low-glucose warning read \
         with its P(glucose < 3.9 mmol/L)). Serve it with `tsfm serve --model {}/production_vN` \
         or forecast files with `tsfm predict --model-path <this folder>`.",
        data.target_columns
            .first()
            .map_or("the target", String::as_str),
        param(model, "prediction_length"),
        param(model, "context_length"),
        run.model
    );
    let _ = writeln!(s, "\n## Limits\n");
    let _ = writeln!(
        s,
        "- Evaluated only on the test split of the data above; other populations, sensors or \
         sampling intervals are out of scope until evaluated.\n\
         - Not a medical device: forecasts and probabilities are estimates whose calibration is \
         measured above, not a guarantee; never dose insulin from them alone.\n\
         - Inputs must be in {units}, at the training interval; series shorter than the context \
         are padded (less accurate); series ids not seen in training use the global scaler."
    );
    s
}

fn param(model: &tsfm_config::ModelConfig, key: &str) -> String {
    model
        .param_u64(key)
        .map_or_else(|| "the checkpoint's".to_string(), |v| v.to_string())
}

/// A config enum as the YAML spells it.
fn snake<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn num(v: Option<&Value>) -> String {
    v.and_then(Value::as_f64)
        .map_or_else(|| "n/a".to_string(), |x| format!("{x:.3}"))
}

/// Test metrics next to each baseline, the nocturnal episodes and the interval coverage.
fn metrics_sections(s: &mut String, test: &Value, units: &str) {
    let horizons: Vec<String> = test
        .get("at_horizons")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let _ = writeln!(s, "\n## Metrics (test split, {units})\n");
    let mut header = "| forecaster | RMSE | MAE |".to_string();
    let mut rule = "|---|---|---|".to_string();
    for h in &horizons {
        let _ = write!(header, " RMSE {h} |");
        rule.push_str("---|");
    }
    let _ = writeln!(s, "{header}\n{rule}");
    let row = |s: &mut String, name: &str, m: &Value| {
        let overall = m.get("overall");
        let _ = write!(
            s,
            "| {name} | {} | {} |",
            num(overall.and_then(|o| o.get("rmse"))),
            num(overall.and_then(|o| o.get("mae")))
        );
        for h in &horizons {
            let _ = write!(
                s,
                " {} |",
                num(m.pointer(&format!("/at_horizons/{h}/rmse")))
            );
        }
        s.push('\n');
    };
    row(s, "this model", test);
    if let Some(baselines) = test.get("baselines").and_then(Value::as_object) {
        for (name, b) in baselines {
            if b.get("available").and_then(Value::as_bool) == Some(true) {
                row(s, name, b);
            }
        }
    }
    let _ = writeln!(s, "\n## Nocturnal\n");
    match test.get("nocturnal") {
        Some(n) => {
            let _ = writeln!(
                s,
                "{} midnight-anchored episodes (context ending {}, {} h): RMSE {}, MAE {}.",
                n.get("midnight_episodes")
                    .map_or(0, |v| v.as_u64().unwrap_or(0)),
                n.get("context_end")
                    .and_then(Value::as_str)
                    .unwrap_or("00:00"),
                num(n.get("horizon_hours")),
                num(n.pointer("/episode/rmse")),
                num(n.pointer("/episode/mae"))
            );
        }
        None => {
            let _ = writeln!(
                s,
                "Not evaluated (`evaluation.nocturnal.enabled` was off, or the horizon does not \
                 reach a night)."
            );
        }
    }
    if let Some(n) = test.pointer("/day_night/night") {
        let _ = writeln!(
            s,
            "Night-time targets (all windows): RMSE {}, MAE {} over {} targets.",
            num(n.get("rmse")),
            num(n.get("mae")),
            n.get("n").and_then(Value::as_u64).unwrap_or(0)
        );
    }
    let _ = writeln!(s, "\n## Calibration\n");
    let Some(p) = test.get("probabilistic") else {
        let _ = writeln!(s, "No probabilistic metrics in the run's test report.");
        return;
    };
    let _ = writeln!(
        s,
        "| interval | nominal | coverage | mean width |\n|---|---|---|---|"
    );
    for c in p
        .get("central_intervals")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            s,
            "| central | {} | {} | {} |",
            num(c.get("nominal")),
            num(c.get("coverage")),
            num(c.get("mean_width"))
        );
    }
    let _ = writeln!(
        s,
        "\nWQL {}, CRPS {}, Brier score of y < {} {}.",
        num(p.get("wql")),
        num(p.get("crps")),
        num(p.get("brier_threshold")),
        num(p.get("brier"))
    );
}
