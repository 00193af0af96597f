//! Write the windows `tsfm train` trains and validates on, exactly as its trainer hands them to
//! a TTM, to one safetensors file: the input of `bench/python/train_hf_demo.py`, which trains
//! the same model on the same windows with HuggingFace `Trainer` (`bench/train_e2e.sh`).
//!
//! ```text
//! cargo build --release -p tsfm-cli --example export_windows
//! target/release/examples/export_windows [--config F] [--config-root D] [--set key=value ...]
//!                                        [--out windows.safetensors]
//! ```
//!
//! The config resolves as `tsfm train` resolves it (no `--config`: the embedded demo; demo paths
//! that do not exist where it runs point at the embedded copies), then the same library calls
//! prepare the data: `tsfm_experiment::data::prepare_data` (cache, pipeline, scaling,
//! imputation) and `ExperimentData::source(split).host(..)`, the host batch the trainer's
//! `WindowSource::batch` turns into tensors (histories padded to the model's context).
//!
//! Tensors, per split `train`, `val` and `test` (f32, windows in the split's own order):
//! - `{split}.past_values` `[n, context, num_input_channels]`: TTM's channel layout, as
//!   `TtmModel::to_ttm_input` builds it (target channels at `prediction_channel_indices`, past
//!   covariates in the remaining channels in `data.past_covariates` order);
//! - `{split}.past_observed_mask`: the same layout; the pipeline's mask for target channels,
//!   1 for covariate channels (what `to_ttm_input` passes);
//! - `{split}.future_values`, `{split}.future_observed_mask` `[n, horizon, targets]`: the
//!   targets' horizon and its observed mask, the loss's inputs.
//!
//! And `train.epoch_order` (i64 `[epochs, n_train]`): the order the trainer visits the training
//! windows in each epoch (`tsfm_train::epoch_order(data_seed, epoch, n)`, then consecutive
//! batches of `per_device_train_batch_size`).
//!
//! Metadata (`__metadata__`, strings): `training_args` (the `tsfm_train::TrainingArgs` the run
//! would use, as JSON), `run_length` (steps and epochs, JSON), `model_path` (the resolved
//! checkpoint folder), `model_config` (its `config.json`), `data` (the pipeline's summary line),
//! `layout` (a JSON description of the tensors above).
use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Parser;
use safetensors::tensor::{Dtype, TensorView};
use tsfm_experiment::data::{Split, check_validation, prepare_data};
use tsfm_experiment::{Event, ExperimentData};
use tsfm_models::{AnyForecaster, Forecaster};
use tsfm_train::{RunLength, TrainingArgs, epoch_order};

#[derive(Debug, Parser)]
#[command(about = "Export the windows `tsfm train` trains on, as a TTM sees them, to safetensors")]
struct Args {
    /// Experiment YAML (default: the embedded demo experiment, as `tsfm train`).
    #[arg(long, short = 'c')]
    config: Option<PathBuf>,
    /// Directory that `defaults:` entries are resolved against.
    #[arg(long)]
    config_root: Option<PathBuf>,
    /// Set any config key, as `tsfm train --set` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Output file.
    #[arg(long, default_value = "windows.safetensors")]
    out: PathBuf,
}

/// One split's tensors in TTM's layout.
struct SplitTensors {
    n: usize,
    context: usize,
    channels: usize,
    horizon: usize,
    targets: usize,
    past: Vec<f32>,
    past_mask: Vec<f32>,
    future: Vec<f32>,
    future_mask: Vec<f32>,
}

/// Where TTM reads each of its input channels from in the pipeline's layout (targets first,
/// then past covariates): `TtmModel::to_ttm_input`'s placement.
fn ttm_channel_sources(forecast_channels: &[usize], channels: usize) -> Vec<(usize, bool)> {
    let mut covariate = 0;
    (0..channels)
        .map(|ch| match forecast_channels.iter().position(|&x| x == ch) {
            Some(i) => (i, true),
            None => {
                covariate += 1;
                (forecast_channels.len() + covariate - 1, false)
            }
        })
        .collect()
}

fn split_tensors(
    data: &ExperimentData,
    split: Split,
    forecast_channels: &[usize],
    ttm_channels: usize,
) -> Result<SplitTensors> {
    let source = data.source(split);
    let n = source.set.len();
    let indices: Vec<usize> = (0..n).collect();
    let (host, _) = source.host(&indices);
    host.check()
        .with_context(|| format!("{} windows", split.name()))?;
    if host.future_covariates.is_some() {
        bail!("known-future covariates (data.future_covariates) are not exported");
    }
    if host.channels != ttm_channels {
        bail!(
            "the data gives {} channels, the checkpoint reads {ttm_channels}",
            host.channels
        );
    }
    let (horizon, future_all, future_mask_all) = host
        .future
        .clone()
        .context("windows without their horizon")?;
    let (context, channels, targets) = (host.context, host.channels, host.targets);
    let sources = ttm_channel_sources(forecast_channels, channels);
    let mut past = Vec::with_capacity(host.past.len());
    let mut past_mask = Vec::with_capacity(host.past.len());
    for (row, mask_row) in host
        .past
        .chunks_exact(channels)
        .zip(host.past_mask.chunks_exact(channels))
    {
        for &(from, is_target) in &sources {
            past.push(row[from]);
            past_mask.push(if is_target { mask_row[from] } else { 1.0 });
        }
    }
    let targets_only = |all: &[f32]| -> Vec<f32> {
        all.chunks_exact(channels)
            .flat_map(|row| &row[..targets])
            .copied()
            .collect()
    };
    Ok(SplitTensors {
        n,
        context,
        channels,
        horizon,
        targets,
        past,
        past_mask,
        future: targets_only(&future_all),
        future_mask: targets_only(&future_mask_all),
    })
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn main() -> Result<()> {
    let args = Args::parse();
    let overrides =
        tsfm_config::collect_overrides(&tsfm_config::NamedOverrides::default(), &args.set)?;
    let resolved = tsfm_config::load(
        args.config_root.as_deref(),
        args.config.as_deref(),
        &overrides,
    )?;
    // `tsfm train`'s order: the trainer's arguments checked, then the embedded demo files.
    tsfm_experiment::options::check_config(&resolved.config)?;
    let mut config = resolved.config;
    tsfm_experiment::demo::use_embedded_demo(&mut config)?;

    let mut events = |event: Event| match event {
        Event::Warning(m) => eprintln!("warning: {m}"),
        Event::Note(m) | Event::Info(m) => eprintln!("{m}"),
    };
    let device = tsfm_experiment::device::resolve(config.model.device)?;
    tsfm_train::set_seed(&device, config.training.seed);
    let load = tsfm_experiment::options::training::load_options(&config);
    let model =
        tsfm_experiment::model::load_model_with(&config.model, &load, &device, &mut events)?;
    let AnyForecaster::Ttm(ttm) = &model else {
        bail!(
            "{} is a `{}` checkpoint: this export writes TTM's input layout only",
            config.model.model_path,
            model.model_type()
        );
    };
    if !ttm.config.exogenous_channels().is_empty() {
        bail!("TTM checkpoints with exogenous_channel_indices are not exported");
    }
    let forecast_channels = ttm.config.forecast_channels();
    let ttm_channels = ttm.config.num_input_channels;

    let data = prepare_data(&config, &model, None, &mut events)?;
    let steps_per_epoch = (data.train_len() as u64).div_ceil(config.data.batch_size.max(1));
    let training: TrainingArgs =
        tsfm_experiment::options::training::training_args(&config, steps_per_epoch)?;
    check_validation(&config, &data)?;
    let length = RunLength::new(&training, data.train_len())?;

    let splits = [Split::Train, Split::Val, Split::Test];
    let tensors = splits
        .iter()
        .map(|&s| split_tensors(&data, s, &forecast_channels, ttm_channels))
        .collect::<Result<Vec<_>>>()?;
    let orders: Vec<u8> = (0..length.num_epochs)
        .flat_map(|epoch| epoch_order(training.data_seed(), epoch, data.train_len()))
        .flat_map(|i| (i as i64).to_le_bytes())
        .collect();

    let mut bytes: Vec<(String, Vec<usize>, Dtype, Vec<u8>)> = Vec::new();
    for (split, t) in splits.iter().zip(&tensors) {
        let past_shape = vec![t.n, t.context, t.channels];
        let future_shape = vec![t.n, t.horizon, t.targets];
        let name = split.name();
        for (key, shape, values) in [
            ("past_values", &past_shape, &t.past),
            ("past_observed_mask", &past_shape, &t.past_mask),
            ("future_values", &future_shape, &t.future),
            ("future_observed_mask", &future_shape, &t.future_mask),
        ] {
            bytes.push((
                format!("{name}.{key}"),
                shape.clone(),
                Dtype::F32,
                f32_bytes(values),
            ));
        }
    }
    bytes.push((
        "train.epoch_order".into(),
        vec![length.num_epochs as usize, data.train_len()],
        Dtype::I64,
        orders,
    ));
    let views = bytes
        .iter()
        .map(|(name, shape, dtype, data)| {
            Ok((name.clone(), TensorView::new(*dtype, shape.clone(), data)?))
        })
        .collect::<Result<Vec<_>>>()?;

    let model_dir =
        tsfm_models::resolve_checkpoint(&tsfm_experiment::model::checkpoint_spec(&config.model))
            .ok()
            .and_then(|p| p.canonicalize().ok())
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| config.model.model_path.clone());
    let model_config = std::fs::read_to_string(PathBuf::from(&model_dir).join("config.json"))
        .with_context(|| format!("{model_dir}/config.json"))?;
    let layout = serde_json::json!({
        "channels": "TTM input channels: targets at prediction_channel_indices, past covariates in the others",
        "forecast_channels": forecast_channels,
        "past_covariates": config.data.past_covariates,
        "target_columns": config.data.target_columns,
        "past_observed_mask": "pipeline mask for target channels, 1 for covariate channels (TtmModel::to_ttm_input)",
        "future": "target channels only, [n, horizon, targets]",
        "epoch_order": "train.epoch_order[e] is epoch e's order; batches are consecutive chunks of per_device_train_batch_size",
        "windows": {
            "train": tensors[0].n,
            "val": tensors[1].n,
            "test": tensors[2].n,
        },
    });
    let run_length = serde_json::json!({
        "max_steps": length.max_steps,
        "num_epochs": length.num_epochs,
        "batches_per_epoch": length.batches_per_epoch,
        "updates_per_epoch": length.updates_per_epoch,
    });
    let metadata = HashMap::from([
        (
            "training_args".to_string(),
            serde_json::to_string(&training)?,
        ),
        ("run_length".to_string(), run_length.to_string()),
        ("model_path".to_string(), model_dir.clone()),
        ("model_config".to_string(), model_config),
        ("data".to_string(), data.describe()),
        ("layout".to_string(), layout.to_string()),
    ]);
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| dir.display().to_string())?;
    }
    safetensors::serialize_to_file(views, Some(metadata), &args.out)
        .with_context(|| args.out.display().to_string())?;
    eprintln!(
        "wrote {}: windows train {} / val {} / test {} ({} steps over {} epochs, batch {}), model {}",
        args.out.display(),
        tensors[0].n,
        tensors[1].n,
        tensors[2].n,
        length.max_steps,
        length.num_epochs,
        training.per_device_train_batch_size,
        model_dir
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariates_fill_the_channels_the_targets_leave() {
        // Target at channel 1 of 3: channel 0 <- covariate 0, 2 <- covariate 1.
        assert_eq!(
            ttm_channel_sources(&[1], 3),
            vec![(1, false), (0, true), (2, false)]
        );
        assert_eq!(
            ttm_channel_sources(&[0], 3),
            vec![(0, true), (1, false), (2, false)]
        );
    }
}
