//! `tsfm predict`: forecast the series of a CSV/Parquet file.
//!
//! - `--model-path DIR_OR_HUB_ID`: a checkpoint as it is; the input goes to the model in the
//!   file's units (the model scales each window itself).
//! - `--run RUN` or `--config F`: a trained run (`--config`: its experiment's `best_model`;
//!   with `--model-path` too, that checkpoint), through the run's own preprocessing and saved
//!   `scaler.json`; forecasts come back in the data's units.
//!
//! Input: long format `id,timestamp,<channel>[,<channel>...]`, regular per series, empty cells
//! missing. Each series' last `context_length` values form the context; shorter series are
//! left-padded with zeros marked unobserved (the padding TTM's own forward pass applies).
//! Output: `id,timestamp,step,point` (one column per channel name instead of `point` when the
//! input has several), one row per forecast step.
mod input;
mod options;
mod output;
mod trained;

use std::path::Path;

use anyhow::Result;
use burn::module::Module;
use burn::tensor::Device;
use tsfm_data::Series;
use tsfm_models::{ForecastInput, Forecaster, TtmModel};

use crate::cli::PredictArgs;
use crate::exit::user_error;
use crate::experiment;
use crate::tensors::{freq_tokens, tensor3, to_vec};
use options::Sampling;
use output::SeriesForecast;

pub fn run(args: PredictArgs) -> Result<()> {
    // Everything the flags alone can tell, before a model or a file is read.
    let sampling = Sampling::parse(
        &args.quantiles,
        args.decoding.as_deref(),
        args.num_samples,
        args.seed,
    )?;
    let input = args
        .input
        .as_deref()
        .ok_or_else(|| user_error("--input: name the CSV or Parquet file to forecast"))?;
    let output = args
        .output
        .as_deref()
        .ok_or_else(|| user_error("--output: name the CSV file to write"))?;
    let batch_size: usize =
        match &args.config.batch_size {
            Some(b) => b.parse().ok().filter(|&b: &usize| b > 0).ok_or_else(|| {
                user_error(format!("--batch-size: `{b}` is not a positive integer"))
            })?,
            None => 64,
        };

    let trained = trained::locate(&args)?;
    let (spec, device) = match &trained {
        Some(t) => (
            t.model_dir.to_string_lossy().into_owned(),
            t.resolved.config.model.device,
        ),
        None => {
            let spec = args.config.model_path.clone().ok_or_else(|| {
                user_error(
                    "--model-path, --run or --config: name the checkpoint (or trained run) to forecast with",
                )
            })?;
            let device = match &args.config.device {
                Some(d) => tsfm_config::Device::parse(d).ok_or_else(|| {
                    user_error(format!(
                        "--device: expected auto, cpu, cuda or cuda:N, got `{d}`"
                    ))
                })?,
                None => tsfm_config::Device::Auto,
            };
            (spec, device)
        }
    };
    let device = crate::device::resolve(device)?;
    let dir = tsfm_models::resolve_checkpoint(&spec)?;
    let kind = tsfm_models::detect_model_type(&dir)?;
    if kind != "ttm" {
        return Err(experiment::not_supported_yet(
            &kind,
            &dir.display().to_string(),
        ));
    }
    for warning in sampling.check_for_model(&kind)? {
        eprintln!("warning: {warning}");
    }
    let model = match &trained {
        Some(t) => experiment::load_ttm(&t.resolved.config.model, &device)?,
        None => tsfm_models::load_forecaster_ttm(&spec, &device)?,
    };
    let steps = model.prediction_length();
    let horizon = args.horizon.unwrap_or(steps);
    if horizon == 0 || horizon > steps {
        return Err(user_error(format!(
            "--horizon {horizon}: this {kind} checkpoint forecasts 1 to {steps} steps"
        )));
    }

    let (channels, mut series) = input::read(input)?;
    let (names, forecasts) = match &trained {
        Some(t) => {
            let notes = input::to_config_channels(
                input,
                &channels,
                &mut series,
                t.target(),
                t.covariates(),
            )?;
            for note in notes {
                eprintln!("note: {note}");
            }
            let forecasts = t.forecast(&model, series, horizon, batch_size, &device)?;
            eprintln!("model: {}", t.describe());
            (vec!["point".to_string()], forecasts)
        }
        None => {
            if dir.join("scaler.json").is_file() {
                eprintln!(
                    "note: {} holds a training scaler.json that --model-path does not apply; \
                     `tsfm predict --run RUN` forecasts through the run's preprocessing",
                    dir.display()
                );
            }
            forecast_checkpoint(
                &model, &dir, &channels, &series, horizon, batch_size, &device,
            )?
        }
    };
    output::write(output, &names, &forecasts, horizon)?;
    eprintln!(
        "wrote {} series x {} column(s) x {horizon} steps to {}",
        forecasts.len(),
        names.len(),
        output.display()
    );
    Ok(())
}

/// A checkpoint used as it is: channels in the file's units. A single-channel model (TTM
/// forecasts channels independently) forecasts every column on its own; a model of several
/// channels takes exactly that many columns together.
fn forecast_checkpoint(
    model: &TtmModel,
    dir: &Path,
    channels: &[String],
    series: &[Series],
    horizon: usize,
    batch_size: usize,
    device: &Device,
) -> Result<(Vec<String>, Vec<SeriesForecast>)> {
    let cfg = &model.config;
    let targets = cfg.forecast_channels().len();
    let covariates = cfg.num_input_channels - targets;
    if covariates > 0 {
        return Err(user_error(format!(
            "{}: this checkpoint reads {covariates} covariate channel(s) beside {targets} target(s); \
             --model-path forecasts target columns only: train a run whose config names the \
             covariates and use --run",
            dir.display()
        )));
    }
    let width = if targets == 1 { 1 } else { targets };
    if width > 1 && channels.len() != width {
        return Err(user_error(format!(
            "{}: this checkpoint forecasts {width} channels together, but the input has {} ({}); give exactly {width} value columns",
            dir.display(),
            channels.len(),
            channels.join(", ")
        )));
    }
    let context = model.context_length();
    let steps = model.prediction_length();
    let model = model.valid();
    // (series, first channel) per model row.
    let items: Vec<(usize, usize)> = (0..series.len())
        .flat_map(|s| (0..channels.len()).step_by(width).map(move |c| (s, c)))
        .collect();
    let mut forecasts: Vec<SeriesForecast> = series
        .iter()
        .map(|s| SeriesForecast {
            id: s.id.clone(),
            last_ts: *s.timestamps.last().expect("series have rows"),
            interval_min: s.interval_min,
            columns: vec![Vec::new(); channels.len()],
        })
        .collect();
    for chunk in items.chunks(batch_size) {
        let mut past = Vec::with_capacity(chunk.len() * context * width);
        let mut mask = Vec::with_capacity(chunk.len() * context * width);
        for &(s, c0) in chunk {
            let len = series[s].len();
            let take = len.min(context);
            // The model's own padding rule for short series: zeros, marked unobserved.
            past.extend(std::iter::repeat_n(0.0, (context - take) * width));
            mask.extend(std::iter::repeat_n(0.0, (context - take) * width));
            for t in len - take..len {
                for c in c0..c0 + width {
                    let v = series[s].channels[c].values[t];
                    past.push(if v.is_finite() { v as f32 } else { 0.0 });
                    mask.push(if v.is_finite() { 1.0 } else { 0.0 });
                }
            }
        }
        let shape = [chunk.len(), context, width];
        let mut batch = ForecastInput::context(tensor3(past, shape, device));
        batch.past_observed_mask = Some(tensor3(mask, shape, device));
        batch.freq_token = Some(freq_tokens(
            chunk.iter().map(|&(s, _)| series[s].interval_min),
            device,
        ));
        model
            .check_input(&batch)
            .map_err(|e| user_error(format!("{}: {e}", dir.display())))?;
        let point = to_vec(model.forecast(&batch).point);
        for (k, &(s, c0)) in chunk.iter().enumerate() {
            for j in 0..width {
                forecasts[s].columns[c0 + j] = (0..horizon)
                    .map(|h| point[(k * steps + h) * width + j])
                    .collect();
            }
        }
    }
    let names = if channels.len() == 1 {
        vec!["point".to_string()]
    } else {
        channels.to_vec()
    };
    Ok((names, forecasts))
}
