//! `tsfm evaluate`: score a trained run (`--run`), or a checkpoint zero-shot (`--config` /
//! `--model-path`), on a split, in the data's units; write the report, plots and history.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tsfm_config::{ModelType, Resolved};
use tsfm_eval::{DataInfo, EvaluationReport};
use tsfm_models::Forecaster;
use tsfm_runs::{RunLayout, append_run_history};

use crate::cli::EvaluateArgs;
use crate::evaluation::{self, SplitResult};
use crate::exit::user_error;
use crate::experiment::{self, Split};
use crate::{device, load, report_files};

pub fn run(args: EvaluateArgs, debug: bool) -> Result<()> {
    let split = match args.split.as_str() {
        "test" => Split::Test,
        "val" => Split::Val,
        "train" => Split::Train,
        other => {
            return Err(user_error(format!(
                "--split: `{other}` is not test, val or train"
            )));
        }
    };
    // A run: its own resolved config, its saved model and scaler. Otherwise: zero-shot.
    let (resolved, model_dir, run) = match &args.run {
        Some(query) => {
            let mut config_args = args.config.clone();
            let save_dir = load::resolve(&config_args, debug)
                .map(|r| PathBuf::from(r.config.output.save_dir))
                .unwrap_or_else(|_| PathBuf::from("tsfm_results"));
            let run = tsfm_runs::find_run(&save_dir, query)?;
            config_args.config = Some(run.config_path());
            config_args.model_path = Some(run.model_dir().to_string_lossy().into_owned());
            (
                load::resolve(&config_args, debug)?,
                Some(run.model_dir()),
                Some(run),
            )
        }
        None => (zero_shot_config(&args.config, debug)?, None, None),
    };
    let config = &resolved.config;
    let device = device::resolve(config.model.device)?;
    tsfm_train::set_seed(&device, config.training.seed);
    match config.model.model_type {
        ModelType::Ttm => {
            let model = experiment::load_ttm(&config.model, &device)?;
            evaluate_model(model, &resolved, model_dir.as_deref(), run, split, &device)
        }
        other => Err(experiment::not_supported_yet(
            other.as_str(),
            &format!("model.model_type ({})", config.model.model_path),
        )),
    }
}

/// The config of a zero-shot evaluation. With `--model-path`, the checkpoint decides the model
/// type and shape (the config's `model.params` describe its own model); without `--config`,
/// results go to `zero_shot_<checkpoint>` rather than the default experiment's folder, so a
/// zero-shot score never replaces a trained run's report.
fn zero_shot_config(flags: &crate::cli::ConfigArgs, debug: bool) -> Result<Resolved> {
    let mut resolved = load::resolve(flags, debug)?;
    let Some(path) = &flags.model_path else {
        return Ok(resolved);
    };
    let model = &mut resolved.config.model;
    let spec = match &model.revision {
        Some(rev) if !path.contains('@') => format!("{path}@{rev}"),
        _ => path.clone(),
    };
    let dir = tsfm_models::resolve_checkpoint(&spec)?;
    match tsfm_models::detect_model_type(&dir)?.as_str() {
        "ttm" => model.model_type = ModelType::Ttm,
        other => {
            return Err(experiment::not_supported_yet(
                other,
                &dir.display().to_string(),
            ));
        }
    }
    model.params.remove("context_length");
    model.params.remove("prediction_length");
    if flags.config.is_none() {
        resolved.config.output.experiment_name = zero_shot_experiment(path);
        // The embedded demo's covariates belong to the demo checkpoint; a checkpoint that reads
        // the target alone gets the target alone.
        if ttm_covariate_channels(&dir) == Some(0) {
            resolved.config.data.past_covariates.clear();
        }
    }
    Ok(resolved)
}

/// Past-covariate channels a TTM checkpoint reads: its input channels that it does not
/// forecast (`None` when its `config.json` does not say).
fn ttm_covariate_channels(dir: &Path) -> Option<usize> {
    let text = std::fs::read_to_string(dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let inputs = config.get("num_input_channels")?.as_u64()? as usize;
    let forecast = match config.get("prediction_channel_indices") {
        Some(serde_json::Value::Array(indices)) => indices.len(),
        _ => inputs,
    };
    Some(inputs.saturating_sub(forecast))
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

fn evaluate_model<F: Forecaster>(
    model: F,
    resolved: &Resolved,
    model_dir: Option<&Path>,
    run: Option<tsfm_runs::RunDir>,
    split: Split,
    device: &burn::tensor::Device,
) -> Result<()> {
    let config = &resolved.config;
    let scaler = match model_dir {
        Some(dir) if dir.join("scaler.json").is_file() => {
            Some(tsfm_data::scaler::Scaler::load(&dir.join("scaler.json"))?)
        }
        _ => None,
    };
    let data = experiment::prepare_data_with(
        config,
        model.context_length(),
        model.prediction_length(),
        scaler,
    )?;
    let result = evaluation::evaluate_split(&model, &data, split, config, device)?;

    let model_name = config.model.model_type.as_str();
    let experiment_name = &config.output.experiment_name;
    let layout = RunLayout::new(&config.output.save_dir);
    let results = layout.results_dir(model_name, experiment_name)?;
    std::fs::create_dir_all(&results).with_context(|| format!("creating {}", results.display()))?;
    let run_id = run
        .as_ref()
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
    if let Some(run) = &run {
        // Each run keeps its own copy, so `tsfm compare` can line runs up later.
        report.write_json(&run.path.join("evaluation_report.json"))?;
    }
    if config.evaluation.save_predictions {
        write_predictions(&results.join("predictions.csv"), &result)?;
    }
    let plots = report_files::write_plots(&results.join("plots"), &result, run.as_ref())?;

    let mut row = vec![
        ("timestamp", report.timestamp.clone()),
        ("run_id", run_id),
        ("kind", format!("evaluate:{}", split.name())),
        ("model", model_name.to_string()),
        ("experiment", experiment_name.clone()),
    ];
    row.extend(result.history_columns());
    append_run_history(&results.join("run_history.csv"), &row)?;

    println!("{}", result.summary());
    println!("report:  {}", report_path.display());
    println!(
        "plots:   {} files in {}",
        plots.len(),
        results.join("plots").display()
    );
    Ok(())
}

/// One row per (window, step): the forecasts people want to look at themselves.
fn write_predictions(path: &Path, result: &SplitResult) -> Result<()> {
    let mut text = String::from("id,origin,step,timestamp,truth,point\n");
    for p in &result.predictions {
        let origin = tsfm_data::sources::clock::format_datetime(p.origin_ts);
        for (k, (t, f)) in p.truth.iter().zip(&p.point).enumerate() {
            let truth = if t.is_finite() {
                format!("{t:.4}")
            } else {
                String::new()
            };
            let at = tsfm_data::sources::clock::format_datetime(
                p.origin_ts + (k as i64 + 1) * p.interval_min as i64 * 60,
            );
            text.push_str(&format!(
                "{},{origin},{},{at},{truth},{f:.4}\n",
                p.series_id,
                k + 1
            ));
        }
    }
    tsfm_runs::write_atomic(path, text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
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
