//! `tsfm predict`: forecast the series of a CSV/Parquet file with a checkpoint (`--model-path`)
//! or a trained run (`--run`, or `--config`: its experiment's `best_model`; with
//! `--model-path` too, that checkpoint through the config's preprocessing).
use std::path::PathBuf;

use anyhow::Result;
use tsfm_data::units::GlucoseUnit;
use tsfm_experiment::options::timesfm::TimesFmFlags;
use tsfm_experiment::predict::options::{DecodingFlags, Sampling};
use tsfm_experiment::predict::{PredictModel, PredictRequest, TrainedModel, predict};
use tsfm_runs::RunLayout;

use crate::cli::{ConfigArgs, PredictArgs};
use crate::exit::user_error;
use crate::{load, progress};

pub fn run(args: PredictArgs) -> Result<()> {
    // Everything the flags alone can tell, before a model or a file is read.
    let sampling = Sampling::parse(
        &args.quantiles,
        &DecodingFlags {
            decoding: args.decoding.as_deref(),
            num_samples: args.num_samples,
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            seed: args.seed,
        },
    )?;
    let input = args
        .input
        .clone()
        .ok_or_else(|| user_error("--input: name the CSV or Parquet file to forecast"))?;
    let output = args
        .output
        .clone()
        .ok_or_else(|| user_error("--output: name the CSV file to write"))?;
    let batch_size: usize =
        match &args.config.batch_size {
            Some(b) => b.parse().ok().filter(|&b: &usize| b > 0).ok_or_else(|| {
                user_error(format!("--batch-size: `{b}` is not a positive integer"))
            })?,
            None => 64,
        };
    let mut events = progress::print_event;
    let model = match locate(&args, &mut events)? {
        Some(trained) => PredictModel::Trained(Box::new(trained)),
        None => PredictModel::Checkpoint {
            spec: args.config.model_path.clone().ok_or_else(|| {
                user_error(
                    "--model-path, --run or --config: name the checkpoint (or trained run) to forecast with",
                )
            })?,
            device: match &args.config.device {
                Some(d) => tsfm_config::Device::parse(d).ok_or_else(|| {
                    user_error(format!(
                        "--device: expected auto, cpu, cuda or cuda:N, got `{d}`"
                    ))
                })?,
                None => tsfm_config::Device::Auto,
            },
        },
    };
    let request = PredictRequest {
        input,
        output,
        horizon: args.horizon,
        sampling,
        batch_size,
        timesfm: TimesFmFlags {
            max_context: args.max_context,
            max_horizon: args.max_horizon,
            normalize_inputs: args.normalize_inputs,
            use_continuous_quantile_head: args.use_continuous_quantile_head,
            force_flip_invariance: args.force_flip_invariance,
            infer_is_positive: args.infer_is_positive,
            fix_quantile_crossing: args.fix_quantile_crossing,
        },
        target: args.target.clone(),
        unit: args
            .unit
            .as_deref()
            .map(|u| {
                GlucoseUnit::parse(u).ok_or_else(|| {
                    user_error(format!("--unit: expected mg/dL or mmol/L, got `{u}`"))
                })
            })
            .transpose()?,
    };
    let done = predict(model, &request, &mut events)?;
    eprintln!(
        "wrote {} series x {} column(s) x {} steps to {}",
        done.series,
        done.columns,
        done.horizon,
        request.output.display()
    );
    Ok(())
}

/// The model `--run`, or `--config` (its experiment's `best_model`, or `--model-path` with the
/// config's preprocessing), names; `None` for a plain `--model-path` checkpoint.
fn locate(
    args: &PredictArgs,
    events: &mut dyn tsfm_experiment::Events,
) -> Result<Option<TrainedModel>> {
    let flags = &args.config;
    if let Some(query) = &args.run {
        if flags.model_path.is_some() {
            return Err(user_error(
                "--run and --model-path both name a model; give one of them",
            ));
        }
        let save_dir = match &flags.config {
            Some(_) => PathBuf::from(load::resolve(flags, false)?.config.output.save_dir),
            None => PathBuf::from("tsfm_results"),
        };
        let run = tsfm_runs::find_run(&save_dir, query)?;
        if tsfm_runs::is_production(&run.path) {
            tsfm_runs::open_production(&run.path)?;
        }
        return open(flags, run.config_path(), run.model_dir(), events).map(Some);
    }
    // A promoted production folder forecasts as the run it was promoted from.
    if let Some(path) = flags.model_path.as_deref().map(std::path::Path::new)
        && flags.config.is_none()
        && tsfm_runs::is_production(path)
    {
        let dir = tsfm_runs::open_production(path)?;
        let mut flags = flags.clone();
        flags.model_path = None;
        return open(&flags, dir.join("config.yaml"), dir.join("model"), events).map(Some);
    }
    let Some(config_path) = &flags.config else {
        return Ok(None);
    };
    if let Some(path) = &flags.model_path {
        let dir = tsfm_models::resolve_checkpoint(path)?;
        return open(flags, config_path.clone(), dir, events).map(Some);
    }
    let config = load::resolve(flags, false)?.config;
    let layout = RunLayout::new(&config.output.save_dir);
    let model = config.model.model_type.as_str();
    let experiment = &config.output.experiment_name;
    let experiment_dir = layout.experiment_dir(model, experiment)?;
    let Some(best) = layout.best_model(model, experiment)? else {
        return Err(user_error(format!(
            "{}: experiment `{experiment}` has no trained model yet (no {}); train it with \
             `tsfm train --config {}`, or forecast zero-shot with --model-path",
            config_path.display(),
            experiment_dir.join("best_model").display(),
            config_path.display()
        )));
    };
    let model_dir = experiment_dir.join(best).join("model");
    open(flags, config_path.clone(), model_dir, events).map(Some)
}

fn open(
    flags: &ConfigArgs,
    config: PathBuf,
    model_dir: PathBuf,
    events: &mut dyn tsfm_experiment::Events,
) -> Result<TrainedModel> {
    let mut flags = flags.clone();
    flags.config = Some(config);
    flags.model_path = Some(model_dir.to_string_lossy().into_owned());
    let resolved = load::resolve(&flags, false)?;
    Ok(TrainedModel::open(resolved, model_dir, events)?)
}
