//! Evaluating a trained run, or a checkpoint zero-shot, on a split, in the data's units: the
//! report, plots, predictions and history.
use std::path::{Path, PathBuf};

use tsfm_config::{ModelType, Resolved};
use tsfm_eval::{DataInfo, EvaluationReport};
use tsfm_models::Forecaster;
use tsfm_runs::{RunDir, RunLayout, append_run_history};

use crate::data::{Split, prepare_data};
use crate::error::{Result, io, user};
use crate::evaluation::{SplitResult, evaluate_split};
use crate::events::Events;
use crate::plots;

/// What an evaluation wrote.
pub struct Evaluation {
    pub result: SplitResult,
    pub report_path: PathBuf,
    pub plots_dir: PathBuf,
    pub plots: Vec<PathBuf>,
}

/// Evaluate the model `resolved.config.model` names (with `run`, the run's saved model and
/// scaler) on `split`.
pub fn evaluate(
    resolved: &Resolved,
    run: Option<&RunDir>,
    split: Split,
    events: &mut dyn Events,
) -> Result<Evaluation> {
    let config = &resolved.config;
    let device = crate::device::resolve(config.model.device)?;
    tsfm_train::set_seed(&device, config.training.seed);
    let model = crate::model::load_model(&config.model, &device, events)?;
    let scaler = match run {
        Some(run) if run.model_dir().join("scaler.json").is_file() => Some(
            tsfm_data::scaler::Scaler::load(&run.model_dir().join("scaler.json"))?,
        ),
        _ => None,
    };
    let data = prepare_data(config, &model, scaler, events)?;
    let calibration = match run {
        Some(run) => load_calibration(&run.model_dir())?,
        None => None,
    };
    if calibration.is_none() && !model.info().has_quantiles() {
        events.note(format!(
            "{}: a point model without calibration.json: no quantiles, so no coverage, WQL or \
             Brier score (a run trained by tsfm calibrates on its validation split)",
            config.model.model_path
        ));
    }
    let result = evaluate_split(&model, &data, split, config, calibration.as_ref(), &device)?;

    let model_name = model.model_type();
    let experiment_name = &config.output.experiment_name;
    let layout = RunLayout::new(&config.output.save_dir);
    let results = layout.results_dir(model_name, experiment_name)?;
    std::fs::create_dir_all(&results).map_err(|e| io(&results, e))?;
    let run_id = run
        .map(|r| r.run_id.clone())
        .unwrap_or_else(|| format!("zero-shot:{}", config.model.model_path));
    let report = EvaluationReport {
        nocturnal_enabled: config.evaluation.nocturnal.enabled,
        model: model_name.to_string(),
        experiment: experiment_name.clone(),
        run_id: run_id.clone(),
        timestamp: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        data: DataInfo {
            dataset: data.dataset.clone(),
            split: split.name().to_string(),
            units: data.units.clone(),
            n_windows: result.report.n_windows,
        },
        metrics: result.report.clone(),
    };
    let report_path = results.join("evaluation_report.json");
    report.write_json(&report_path)?;
    if let Some(run) = run {
        // Each run keeps its own copy, so `tsfm compare` can line runs up later.
        report.write_json(&run.path.join("evaluation_report.json"))?;
    }
    if config.evaluation.save_predictions {
        write_predictions(&results.join("predictions.csv"), &result)?;
    }
    let plots_dir = results.join("plots");
    tsfm_runs::refuse_link(&plots_dir)?;
    let plots = plots::write_plots(&plots_dir, &result, run)?;
    match run {
        Some(run) => track_evaluation(config, run, split, &report, &plots, events)?,
        None if config.logging.mlflow.is_some() || config.logging.tensorboard => events.note(
            "logging.mlflow / logging.tensorboard: a zero-shot evaluation has no run to track; \
             its report is in the results folder"
                .to_string(),
        ),
        None => {}
    }

    let mut row = vec![
        ("timestamp", report.timestamp.clone()),
        ("run_id", run_id),
        ("kind", format!("evaluate:{}", split.name())),
        ("model", model_name.to_string()),
        ("experiment", experiment_name.clone()),
    ];
    let extra = result.history_columns();
    row.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
    append_run_history(&results.join("run_history.csv"), &row)?;
    Ok(Evaluation {
        result,
        report_path,
        plots_dir,
        plots,
    })
}

/// A tracked run's evaluation: its metrics (`{split}.rmse`, ...) at the run's last step, the
/// report and the plots (copied into the run's `plots/`, so that a later `tsfm runs sync`
/// sends these and not a later evaluation's) as artifacts and TensorBoard images.
fn track_evaluation(
    config: &tsfm_config::Config,
    run: &RunDir,
    split: Split,
    report: &EvaluationReport,
    plots: &[PathBuf],
    events: &mut dyn Events,
) -> Result<()> {
    let manifest = tsfm_runs::RunManifest::read(&run.manifest_path())?;
    let Some(tracking) = crate::tracking::RunTracking::open(config, run, &manifest)? else {
        return Ok(());
    };
    let step = last_step(run);
    let own_plots = run.path.join("plots").join(split.name());
    std::fs::create_dir_all(&own_plots).map_err(|e| io(&own_plots, e))?;
    let mut copies = Vec::new();
    for plot in plots {
        let copy = own_plots.join(plot.file_name().unwrap_or_default());
        std::fs::copy(plot, &copy).map_err(|e| io(&copy, e))?;
        copies.push(copy);
    }
    let metrics = serde_json::to_value(&report.metrics).expect("reports serialise");
    let values = tsfm_track::flatten::numbers(&metrics, &format!("{}.", split.name()));
    let mut t = crate::tracking::lock(&tracking);
    t.metrics(step, &values);
    t.images(step, &copies);
    t.artifact("evaluation_report.json", "");
    t.artifact(&format!("plots/{}", split.name()), "plots");
    for warning in t.finish(None) {
        events.warn(warning);
    }
    Ok(())
}

/// The step a run's training ended at (its metrics.json), 0 when unknown.
fn last_step(run: &RunDir) -> u64 {
    std::fs::read_to_string(run.metrics_path())
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["global_step"].as_u64())
        .unwrap_or(0)
}

/// The calibration saved in a model folder, if any.
pub fn load_calibration(model_dir: &Path) -> Result<Option<tsfm_eval::ResidualCalibration>> {
    let path = model_dir.join(crate::train::CALIBRATION_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    Ok(Some(tsfm_eval::ResidualCalibration::load(&path)?))
}

/// The config of a zero-shot evaluation of the checkpoint `model_path`. The checkpoint decides
/// the model type and shape (the config's `model.params` describe its own model); without a
/// user config (`own_config: false`), results go to `zero_shot_<checkpoint>` rather than the
/// default experiment's folder, so a zero-shot score never replaces a trained run's report.
pub fn zero_shot_config(
    mut resolved: Resolved,
    model_path: &str,
    own_config: bool,
) -> Result<Resolved> {
    let model = &mut resolved.config.model;
    model.model_path = model_path.to_string();
    let checkpoint = tsfm_models::checkpoint_info(&crate::model::checkpoint_spec(model))?;
    model.model_type = model_type(&checkpoint.info.model_type)?;
    model.params.remove("context_length");
    model.params.remove("prediction_length");
    if !own_config {
        resolved.config.output.experiment_name = zero_shot_experiment(model_path);
        // The embedded demo's covariates belong to the demo checkpoint; a checkpoint that reads
        // the target alone gets the target alone.
        if checkpoint.info.past_covariates == 0 {
            resolved.config.data.past_covariates.clear();
        }
    }
    Ok(resolved)
}

/// The config's name for a family `CheckpointInfo` reports.
fn model_type(kind: &str) -> Result<ModelType> {
    [
        ModelType::Ttm,
        ModelType::Chronos,
        ModelType::ChronosBolt,
        ModelType::Chronos2,
        ModelType::Timesfm,
    ]
    .into_iter()
    .find(|t| t.as_str() == kind)
    .ok_or_else(|| {
        user(format!(
            "model type {kind} has no model.model_type value yet"
        ))
    })
}

/// `zero_shot_<checkpoint folder name>` (a run's `model/` folder is named by its run).
fn zero_shot_experiment(model_path: &str) -> String {
    let spec = model_path.split('@').next().unwrap_or(model_path);
    let path = Path::new(spec.trim_end_matches(['/', '\\']));
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let folder = match name(path) {
        Some(n) if n == "model" => path.parent().and_then(name).unwrap_or(n),
        Some(n) => n,
        None => "checkpoint".to_string(),
    };
    format!("zero_shot_{folder}")
}

/// One row per (window, step), quantile columns when there are quantiles: the forecasts people
/// want to look at themselves, at full precision.
fn write_predictions(path: &Path, result: &SplitResult) -> Result<()> {
    let bytes = tsfm_eval::csv_out::predictions_csv(
        &result.rows,
        &tsfm_data::sources::clock::format_datetime,
    )
    .map_err(|e| io(path, std::io::Error::other(e)))?;
    tsfm_runs::write_atomic(path, &bytes)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::zero_shot_experiment;

    #[test]
    fn zero_shot_names_come_from_the_checkpoint_folder() {
        assert_eq!(
            zero_shot_experiment("data/models/ttm-tiny"),
            "zero_shot_ttm-tiny"
        );
        assert_eq!(
            zero_shot_experiment("data/models/ttm-tiny/"),
            "zero_shot_ttm-tiny"
        );
        assert_eq!(
            zero_shot_experiment("ibm-granite/granite-timeseries-ttm-r2@512-96-r2"),
            "zero_shot_granite-timeseries-ttm-r2"
        );
        assert_eq!(
            zero_shot_experiment("tsfm_results/models/ttm/demo/20260101-120000/model"),
            "zero_shot_20260101-120000"
        );
    }
}
