//! `tsfm train`: config -> data -> model -> trainer -> run directory -> test-split check.
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tsfm_config::{ModelType, Resolved};
use tsfm_models::Forecaster;
use tsfm_runs::{RunDir, RunLayout, RunManifest, append_run_history, write_json_atomic};
use tsfm_train::Trainer;

use crate::cli::TrainArgs;
use crate::exit::user_error;
use crate::experiment;
use crate::{adapt, device, evaluation, load, progress};

pub fn run(args: TrainArgs, debug: bool) -> Result<()> {
    let resolved = load::resolve(&args.config, debug)?;
    if args.validate_config {
        println!(
            "config OK: experiment `{}` ({})",
            resolved.config.output.experiment_name,
            resolved.files.join(", ")
        );
        return Ok(());
    }
    let config = &resolved.config;
    let device = device::resolve(config.model.device)?;
    // Before any model is built: Burn draws lazily initialised parameters and dropout masks
    // from the device's generator.
    tsfm_train::set_seed(&device, config.training.seed);
    match config.model.model_type {
        ModelType::Ttm => {
            let model = experiment::load_ttm(&config.model, &device)?;
            train_model(model, &resolved, &args, device)
        }
        other => Err(user_error(format!(
            "model.model_type: training {} is not available yet; TTM (`ttm`) is",
            other.as_str()
        ))),
    }
}

fn train_model<F: Forecaster>(
    model: F,
    resolved: &Resolved,
    args: &TrainArgs,
    device: burn::tensor::Device,
) -> Result<()> {
    let config = &resolved.config;
    let data = experiment::prepare_data(config, model.context_length(), model.prediction_length())?;
    let steps_per_epoch = (data.train_len() as u64).div_ceil(config.data.batch_size.max(1));
    let training_args = adapt::training::training_args(config, steps_per_epoch)?;
    experiment::check_validation(config, &data)?;
    experiment::check_fits(&model, config, &data, experiment::Split::Train, &device)?;

    if args.dry_run {
        let counts = model.param_counts();
        let length = tsfm_train::RunLength::new(&training_args, data.train_len())?;
        println!("dry run: nothing is trained");
        println!(
            "model:  {} from {} (context {}, horizon {}), {} parameters, {} trainable in `{:?}` mode",
            model.model_type(),
            config.model.model_path,
            model.context_length(),
            model.prediction_length(),
            counts.total,
            model
                .clone()
                .apply_finetune_mode(training_args.finetune_mode.mode())
                .param_counts()
                .trainable,
            config.training.finetune_mode,
        );
        println!("{}", data.describe());
        println!(
            "steps:  {} optimizer steps over {} epoch(s), batch {} x accumulation {}",
            length.max_steps,
            length.num_epochs,
            training_args.per_device_train_batch_size,
            training_args.gradient_accumulation_steps
        );
        return Ok(());
    }

    let layout = RunLayout::new(&config.output.save_dir);
    let model_name = config.model.model_type.as_str();
    let experiment_name = &config.output.experiment_name;
    let run = open_run_dir(&layout, model_name, experiment_name, args, &training_args)?;
    tsfm_runs::write_atomic(&run.config_path(), run_config_yaml(config).as_bytes())
        .with_context(|| format!("writing {}", run.config_path().display()))?;
    let mut manifest = RunManifest::start(
        &run.run_id,
        model_name,
        experiment_name,
        config.training.seed,
    );
    manifest.data_fingerprint = Some(data.fingerprint.clone());
    manifest.write(&run.manifest_path())?;
    eprintln!("run directory: {}", run.path.display());
    eprintln!("{}", data.describe());

    let outcome = (|| -> Result<(F, tsfm_train::TrainMetrics)> {
        let mut trainer = Trainer::new(training_args.clone(), &run.path, device.clone())?;
        trainer.add_callback(Box::new(progress::ProgressLine::new(
            training_args.logging_steps,
        )));
        let train = data.source(experiment::Split::Train);
        let val = data.source(experiment::Split::Val);
        let eval = (!val.set.is_empty()).then_some(&val as &dyn tsfm_train::WindowSource);
        let output = trainer.train(model, &train, eval)?;
        Ok((output.model, output.metrics))
    })();
    let (model, train_metrics) = match outcome {
        Ok(ok) => ok,
        Err(err) => {
            manifest.finish(Some(crate::exit::message(&err)));
            manifest.write(&run.manifest_path())?;
            return Err(err);
        }
    };

    if config.output.save_model {
        model.save_pretrained(&run.model_dir())?;
        data.save_scaler(&run.model_dir().join("scaler.json"))?;
    }

    let test = evaluation::evaluate_split(&model, &data, experiment::Split::Test, config, &device)?;
    let mut metrics = serde_json::to_value(&train_metrics)?;
    metrics["test"] = serde_json::to_value(&test.report)?;
    if config.output.save_metrics {
        write_json_atomic(&run.metrics_path(), &metrics)?;
    }
    manifest.finish(None);
    manifest.write(&run.manifest_path())?;

    let is_best = is_new_best(
        &layout,
        model_name,
        experiment_name,
        train_metrics.best_eval_loss,
    )?;
    if is_best {
        layout.update_best_model(&run)?;
    }
    let history = layout
        .results_dir(model_name, experiment_name)?
        .join("run_history.csv");
    let mut row = vec![
        ("timestamp", manifest.ended_at.clone().unwrap_or_default()),
        ("run_id", run.run_id.clone()),
        ("kind", "train".to_string()),
        ("model", model_name.to_string()),
        ("experiment", experiment_name.clone()),
        ("seed", config.training.seed.to_string()),
        ("global_step", train_metrics.global_step.to_string()),
        ("train_loss", format!("{:.6}", train_metrics.train_loss)),
        (
            "best_eval_loss",
            train_metrics
                .best_eval_loss
                .map(|l| format!("{l:.6}"))
                .unwrap_or_default(),
        ),
    ];
    row.extend(test.history_columns());
    append_run_history(&history, &row)?;

    println!("{}", test.summary());
    println!("run:        {}", run.path.display());
    println!("model:      {}", run.model_dir().display());
    println!("metrics:    {}", run.metrics_path().display());
    if is_best {
        println!(
            "best_model: {} -> {}",
            layout
                .experiment_dir(model_name, experiment_name)?
                .join("best_model")
                .display(),
            run.run_id
        );
    }
    Ok(())
}

/// A fresh timestamped run, `--run-dir`, or, when resuming, the run holding the checkpoint.
fn open_run_dir(
    layout: &RunLayout,
    model: &str,
    experiment: &str,
    args: &TrainArgs,
    training: &tsfm_train::TrainingArgs,
) -> Result<RunDir> {
    use tsfm_train::ResumeFrom;
    if let Some(dir) = &args.run_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for sub in ["model", "logs", "checkpoints"] {
            std::fs::create_dir_all(dir.join(sub))?;
        }
        let path = dir.canonicalize()?;
        let run_id = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(RunDir {
            path,
            model: model.into(),
            experiment: experiment.into(),
            run_id,
        });
    }
    match &training.resume_from_checkpoint {
        Some(ResumeFrom::Path(checkpoint)) => {
            // .../{run}/checkpoints/checkpoint-N
            let run_path = checkpoint.parent().and_then(Path::parent).ok_or_else(|| {
                user_error(format!(
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
                    user_error(format!(
                        "--resume: no run of {model}/{experiment} under {} has a checkpoint; train without --resume first",
                        layout.save_dir.display()
                    ))
                })?;
            Ok(RunDir::open(&latest.path)?)
        }
        _ => Ok(layout.create_run(model, experiment, chrono::Local::now().naive_local())?),
    }
}

fn has_checkpoint(run: &Path) -> bool {
    tsfm_train::checkpoint::latest_checkpoint(run)
        .ok()
        .flatten()
        .is_some()
}

/// Lower best eval loss than the run `best_model` points at (or no best yet).
fn is_new_best(
    layout: &RunLayout,
    model: &str,
    experiment: &str,
    loss: Option<f64>,
) -> Result<bool> {
    let Some(current) = layout.best_model(model, experiment)? else {
        return Ok(true);
    };
    let metrics: PathBuf = layout
        .experiment_dir(model, experiment)?
        .join(current)
        .join("metrics.json");
    let previous = std::fs::read_to_string(&metrics)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v.get("best_eval_loss").and_then(|l| l.as_f64()));
    Ok(match (loss, previous) {
        (Some(new), Some(old)) => new < old,
        (_, None) => true,
        (None, Some(_)) => false,
    })
}

/// The run's `config.yaml`: the resolved config with local paths made absolute, so that
/// `evaluate --run` and `predict --run` find the data, the base checkpoint and the results
/// folder from any directory.
fn run_config_yaml(config: &tsfm_config::Config) -> String {
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
