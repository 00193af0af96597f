//! Training a run: config -> data -> model -> trainer -> run directory -> calibration ->
//! test-split check -> `best_model` and run history.
use std::path::{Path, PathBuf};

use tsfm_config::{Config, LoraSave};
use tsfm_models::{AnyForecaster, Forecaster, LoadOptions};
use tsfm_runs::{RunDir, RunLayout, RunManifest, append_run_history, write_json_atomic};
use tsfm_train::{Trainer, TrainerCallback, TrainingArgs};

use crate::data::{ExperimentData, Split, check_fits, check_validation, prepare_data};
use crate::error::{Result, io, user};
use crate::evaluation::{SplitResult, evaluate_split, fit_calibration};
use crate::events::Events;
use crate::options;
use tsfm_eval::ResidualCalibration;

/// A run's calibrated residual quantiles, beside its weights.
pub const CALIBRATION_FILE: &str = "calibration.json";

/// How `train` runs beyond the config.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Train into this directory instead of a new timestamped run.
    pub run_dir: Option<PathBuf>,
    /// Prepare everything and describe the run, train nothing.
    pub dry_run: bool,
}

/// What a dry run found.
#[derive(Debug, Clone)]
pub struct DryRun {
    pub model_type: String,
    pub model_path: String,
    pub context_length: usize,
    pub prediction_length: usize,
    pub total_params: usize,
    pub trainable_params: usize,
    pub finetune_mode: String,
    pub data: String,
    pub max_steps: u64,
    pub num_epochs: u64,
    pub batch_size: usize,
    pub accumulation: usize,
}

/// A finished run.
pub struct TrainedRun {
    pub run: RunDir,
    pub test: SplitResult,
    /// The `best_model` link, when this run became the experiment's best.
    pub best_model: Option<PathBuf>,
}

pub enum TrainOutcome {
    DryRun(DryRun),
    Trained(Box<TrainedRun>),
}

/// Train the experiment `config` describes. `callbacks` see every trainer step (progress).
pub fn train(
    config: &Config,
    options: &TrainOptions,
    callbacks: Vec<Box<dyn TrainerCallback>>,
    events: &mut dyn Events,
) -> Result<TrainOutcome> {
    // Names that become folders are checked first: a dry run refuses what a run would.
    tsfm_runs::RunLayout::new(&config.output.save_dir).experiment_dir(
        config.model.model_type.as_str(),
        &config.output.experiment_name,
    )?;
    // A tracked run without a server to name fails now, not after training.
    crate::tracking::mlflow_uri(config)?;
    let device = crate::device::resolve(config.model.device)?;
    // Before any model is built: Burn draws lazily initialised parameters and dropout masks
    // from the device's generator.
    tsfm_train::set_seed(&device, config.training.seed);
    let load = options::training::load_options(config);
    let model = crate::model::load_model_with(&config.model, &load, &device, events)?;
    let data = prepare_data(config, &model, None, events)?;
    let steps_per_epoch = (data.train_len() as u64).div_ceil(config.data.batch_size.max(1));
    let training_args = options::training::training_args(config, steps_per_epoch)?;
    check_validation(config, &data)?;
    check_fits(&model, config, &data, Split::Train, &device)?;
    if options.dry_run {
        return dry_run(config, &model, &data, &training_args).map(TrainOutcome::DryRun);
    }

    let layout = RunLayout::new(&config.output.save_dir);
    let (model_name, experiment) = (model.model_type(), &config.output.experiment_name);
    let run = open_run_dir(&layout, model_name, experiment, options, &training_args)?;
    tsfm_runs::write_atomic(&run.config_path(), run_config_yaml(config).as_bytes())?;
    let mut manifest =
        RunManifest::start(&run.run_id, model_name, experiment, config.training.seed);
    manifest.data_fingerprint = Some(data.fingerprint.clone());
    manifest.write(&run.manifest_path())?;
    events.info(format!("run directory: {}", run.path.display()));

    let tracking = crate::tracking::RunTracking::open(config, &run, &manifest)?;
    let mut callbacks = callbacks;
    if let Some(t) = &tracking {
        callbacks.push(Box::new(crate::tracking::TrackingCallback(t.clone())));
    }
    let trained = fit(model, &data, &run, &training_args, callbacks, &device);
    let (model, train_metrics) = match trained {
        Ok(ok) => ok,
        Err(err) => {
            manifest.finish(Some(err.to_string()));
            // Recording the failure is best effort: on a full disk it fails too, and the
            // training error is the one the user needs to see.
            let _ = manifest.write(&run.manifest_path());
            finish_tracking(tracking.as_ref(), "FAILED", events);
            return Err(err);
        }
    };
    if config.output.save_model {
        save_model(&model, config, &load, &run.model_dir())?;
        data.save_scaler(&run.model_dir().join("scaler.json"))?;
    }
    let calibration = calibrate(&model, &data, config, &run, &device, events)?;
    let test = evaluate_split(
        &model,
        &data,
        Split::Test,
        config,
        calibration.as_ref(),
        &device,
    )?;
    let mut metrics = serde_json::to_value(&train_metrics).expect("metrics serialise");
    metrics["test"] = serde_json::to_value(&test.report).expect("reports serialise");
    if config.output.save_metrics {
        write_json_atomic(&run.metrics_path(), &metrics)?;
    }
    manifest.best_eval_loss = train_metrics.best_eval_loss;
    manifest.finish(None);
    manifest.write(&run.manifest_path())?;
    if let Some(t) = &tracking {
        let test_metrics = tsfm_track::flatten::numbers(&metrics["test"], "test.");
        crate::tracking::lock(t).metrics(train_metrics.global_step, &test_metrics);
    }
    finish_tracking(tracking.as_ref(), "FINISHED", events);

    let best_model = {
        let _turn = layout.lock_experiment(&run.model, &run.experiment)?;
        if is_new_best(&layout, &run, train_metrics.best_eval_loss)? {
            Some(layout.update_best_model(&run)?)
        } else {
            None
        }
    };
    record_history(&layout, &run, config, &manifest, &train_metrics, &test)?;
    Ok(TrainOutcome::Trained(Box::new(TrainedRun {
        run,
        test,
        best_model,
    })))
}

/// The run's files and end to the tracking; what was not sent is a warning, never an error.
fn finish_tracking(
    tracking: Option<&crate::tracking::SharedTracking>,
    status: &str,
    events: &mut dyn Events,
) {
    if let Some(t) = tracking {
        for warning in crate::tracking::lock(t).finish(Some(status)) {
            events.warn(warning);
        }
    }
}

/// The trained model into the run's `model/`: a checkpoint of its family (LoRA adapters
/// merged), or with `training.lora.save: adapter` a PEFT adapter over the base checkpoint.
fn save_model(
    model: &AnyForecaster,
    config: &Config,
    load: &LoadOptions,
    dir: &Path,
) -> Result<()> {
    match &load.lora {
        Some(lora) if config.training.lora.save == LoraSave::Adapter => {
            let base = crate::model::checkpoint_spec(&config.model);
            tsfm_models::lora::save_adapter(model, lora, model.model_type(), &base, dir)?;
        }
        _ => model.save_pretrained(dir)?,
    }
    Ok(())
}

/// A point model's calibrated quantiles, fitted on the validation split after training and
/// saved with the model (`calibration.json`); models with their own quantiles need none.
fn calibrate(
    model: &AnyForecaster,
    data: &ExperimentData,
    config: &Config,
    run: &RunDir,
    device: &burn::tensor::Device,
    events: &mut dyn Events,
) -> Result<Option<ResidualCalibration>> {
    if model.info().has_quantiles() {
        return Ok(None);
    }
    let Some(calibration) = fit_calibration(model, data, Split::Val, config, device)? else {
        events.warn(
            "no validation windows: the run has no calibrated quantiles (no coverage, WQL or \
             Brier score in its reports); give data.data_split a validation share"
                .to_string(),
        );
        return Ok(None);
    };
    calibration.save(&run.model_dir().join(CALIBRATION_FILE))?;
    Ok(Some(calibration))
}

fn dry_run(
    config: &Config,
    model: &AnyForecaster,
    data: &ExperimentData,
    args: &TrainingArgs,
) -> Result<DryRun> {
    let counts = model.param_counts();
    let length = tsfm_train::RunLength::new(args, data.train_len())?;
    let trainable = model
        .clone()
        .apply_finetune_mode(args.finetune_mode)
        .param_counts()
        .trainable;
    Ok(DryRun {
        model_type: model.model_type().to_string(),
        model_path: config.model.model_path.clone(),
        context_length: model.context_length(),
        prediction_length: model.prediction_length(),
        total_params: counts.total,
        trainable_params: trainable,
        finetune_mode: format!("{:?}", config.training.finetune_mode),
        data: data.describe(),
        max_steps: length.max_steps,
        num_epochs: length.num_epochs,
        batch_size: args.per_device_train_batch_size,
        accumulation: args.gradient_accumulation_steps,
    })
}

/// The trainer over the train split, evaluating on validation when there is one.
fn fit(
    model: AnyForecaster,
    data: &ExperimentData,
    run: &RunDir,
    args: &TrainingArgs,
    callbacks: Vec<Box<dyn TrainerCallback>>,
    device: &burn::tensor::Device,
) -> Result<(AnyForecaster, tsfm_train::TrainMetrics)> {
    let mut trainer = Trainer::new(args.clone(), &run.path, device.clone())?;
    for callback in callbacks {
        trainer.add_callback(callback);
    }
    let train = data.source(Split::Train);
    let val = data.source(Split::Val);
    let eval = (!val.set.is_empty()).then_some(&val as &dyn tsfm_train::WindowSource);
    let output = trainer.train(model, &train, eval)?;
    Ok((output.model, output.metrics))
}

fn record_history(
    layout: &RunLayout,
    run: &RunDir,
    config: &Config,
    manifest: &RunManifest,
    metrics: &tsfm_train::TrainMetrics,
    test: &SplitResult,
) -> Result<()> {
    let history = layout
        .results_dir(&run.model, &run.experiment)?
        .join("run_history.csv");
    let mut row = vec![
        ("timestamp", manifest.ended_at.clone().unwrap_or_default()),
        ("run_id", run.run_id.clone()),
        ("kind", "train".to_string()),
        ("model", run.model.clone()),
        ("experiment", run.experiment.clone()),
        ("seed", config.training.seed.to_string()),
        ("global_step", metrics.global_step.to_string()),
        ("train_loss", format!("{:.6}", metrics.train_loss)),
        (
            "best_eval_loss",
            metrics
                .best_eval_loss
                .map(|l| format!("{l:.6}"))
                .unwrap_or_default(),
        ),
    ];
    let extra = test.history_columns();
    row.extend(extra.iter().map(|(k, v)| (k.as_str(), v.clone())));
    append_run_history(&history, &row)?;
    Ok(())
}

/// A fresh timestamped run, `--run-dir`, or, when resuming, the run holding the checkpoint.
fn open_run_dir(
    layout: &RunLayout,
    model: &str,
    experiment: &str,
    options: &TrainOptions,
    training: &TrainingArgs,
) -> Result<RunDir> {
    use tsfm_train::ResumeFrom;
    if let Some(dir) = &options.run_dir {
        return given_run_dir(dir, model, experiment);
    }
    match &training.resume_from_checkpoint {
        Some(ResumeFrom::Path(checkpoint)) => {
            // .../{run}/checkpoints/checkpoint-N
            let run_path = checkpoint.parent().and_then(Path::parent).ok_or_else(|| {
                user(format!(
                    "--resume: {} is not inside a run's checkpoints/ folder",
                    checkpoint.display()
                ))
            })?;
            Ok(RunDir::open(run_path)?)
        }
        Some(ResumeFrom::Latest(true)) => {
            let runs = tsfm_runs::list_runs(&layout.save_dir, Some(model), Some(experiment))?;
            let latest = runs
                .iter()
                .rev()
                .find(|r| has_checkpoint(&r.path))
                .ok_or_else(|| {
                    user(format!(
                        "--resume: no run of {model}/{experiment} under {} has a checkpoint; train without --resume first",
                        layout.save_dir.display()
                    ))
                })?;
            Ok(RunDir::open(&latest.path)?)
        }
        _ => Ok(layout.create_run(model, experiment, chrono::Local::now().naive_local())?),
    }
}

/// `--run-dir DIR`, anywhere: its `best_model` link still lives with the experiment's runs.
fn given_run_dir(dir: &Path, model: &str, experiment: &str) -> Result<RunDir> {
    for sub in ["model", "logs", "checkpoints"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|e| io(&path, e))?;
    }
    let path = dir.canonicalize().map_err(|e| io(dir, e))?;
    let run_id = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(RunDir {
        path,
        model: model.into(),
        experiment: experiment.into(),
        run_id,
    })
}

fn has_checkpoint(run: &Path) -> bool {
    tsfm_train::checkpoint::latest_checkpoint(run)
        .ok()
        .flatten()
        .is_some()
}

/// Lower best eval loss than the run `best_model` points at (or no best yet). The previous
/// best's loss comes from its manifest, which every run writes (metrics.json may be off).
fn is_new_best(layout: &RunLayout, run: &RunDir, loss: Option<f64>) -> Result<bool> {
    let Some(current) = layout.best_model(&run.model, &run.experiment)? else {
        return Ok(true);
    };
    let previous_dir = layout
        .experiment_dir(&run.model, &run.experiment)?
        .join(current);
    let previous = previous_best_loss(&previous_dir);
    Ok(match (loss, previous) {
        (Some(new), Some(old)) => new < old,
        (_, None) => true,
        (None, Some(_)) => false,
    })
}

fn previous_best_loss(run: &Path) -> Option<f64> {
    let read = |file: &str| {
        std::fs::read_to_string(run.join(file))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
    };
    read("run.json")
        .and_then(|v| v.get("best_eval_loss").and_then(|l| l.as_f64()))
        .or_else(|| {
            read("metrics.json").and_then(|v| v.get("best_eval_loss").and_then(|l| l.as_f64()))
        })
}

/// The run's `config.yaml`: the resolved config with local paths made absolute, so that
/// `evaluate --run` and `predict --run` find the data, the base checkpoint and the results
/// folder from any directory.
pub fn run_config_yaml(config: &Config) -> String {
    let mut config = config.clone();
    if let Ok(cwd) = std::env::current_dir() {
        let absolute = |p: &str| {
            let path = Path::new(p);
            if path.is_relative() {
                cwd.join(path).display().to_string()
            } else {
                p.to_string()
            }
        };
        config.data.raw_path = absolute(&config.data.raw_path);
        config.data.cache_dir = absolute(&config.data.cache_dir);
        // Evaluation reports of this run land beside it, wherever `evaluate --run` is called.
        config.output.save_dir = absolute(&config.output.save_dir);
        // A hub id stays as it is; only a local checkpoint directory is a path.
        if Path::new(&config.model.model_path).is_dir() {
            config.model.model_path = absolute(&config.model.model_path);
        }
    }
    config.to_yaml()
}
