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
        None => (load::resolve(&args.config, debug)?, None, None),
    };
    let config = &resolved.config;
    let device = device::resolve(config.model.device)?;
    tsfm_train::set_seed(&device, config.training.seed);
    match config.model.model_type {
        ModelType::Ttm => {
            let model = experiment::load_ttm(&config.model, &device)?;
            evaluate_model(model, &resolved, model_dir.as_deref(), run, split, &device)
        }
        other => Err(user_error(format!(
            "model.model_type: evaluating {} is not available yet; TTM (`ttm`) is",
            other.as_str()
        ))),
    }
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
    let run_id = run
        .as_ref()
        .map(|r| r.run_id.clone())
        .unwrap_or_else(|| format!("zero-shot:{}", config.model.model_path));
    let report = EvaluationReport {
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
    let plots = report_files::write_plots(&results.join("plots"), &result, &data, run.as_ref())?;

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
