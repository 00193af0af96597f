//! What train, evaluate and predict share: loading the model a config names and preparing
//! its data into windows.
use burn::tensor::Device;
use tsfm_config::ModelConfig;
use tsfm_models::{Forecaster, TtmModel};

use crate::exit::user_error;

/// The checkpoint `model.model_path` (+ `revision`) names, checked against `model.params`.
pub fn load_ttm(model: &ModelConfig, device: &Device) -> anyhow::Result<TtmModel> {
    let spec = match &model.revision {
        Some(rev) if !model.model_path.contains('@') => format!("{}@{rev}", model.model_path),
        _ => model.model_path.clone(),
    };
    let (ttm, warnings) = tsfm_models::ttm::load_ttm_with_warnings(&spec, device)?;
    for warning in warnings {
        eprintln!("warning: {}: {warning}", model.model_path);
    }
    check_param(model, "context_length", ttm.context_length())?;
    check_param(model, "prediction_length", ttm.prediction_length())?;
    Ok(ttm)
}

/// A `model.params` value must agree with the checkpoint: the checkpoint's shape wins, so a
/// disagreement is a mistake in the config.
fn check_param(model: &ModelConfig, key: &str, actual: usize) -> anyhow::Result<()> {
    match model.param_u64(key) {
        Some(configured) if configured as usize != actual => Err(user_error(format!(
            "model.params.{key}: the config says {configured} but the checkpoint {} has {actual}; \
             set model.params.{key}: {actual} or pick a checkpoint with that shape",
            model.model_path
        ))),
        _ => Ok(()),
    }
}

use std::cell::RefCell;
use std::path::Path;

use tsfm_config::Config;
use tsfm_data::cache::CacheManager;
use tsfm_data::{Batch, Prepared, WindowSet};
use tsfm_models::ForecastInput;

use crate::adapt;
use crate::tensors::{freq_tokens, tensor3};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
    Test,
}

impl Split {
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// A dataset read through the cache and preprocessed into windows.
pub struct ExperimentData {
    pub dataset: String,
    pub prepared: Prepared,
    /// SHA-256 of the raw files (first 16 hex digits each), for the run manifest.
    pub fingerprint: String,
    /// Unit of the target in reports (`mmol/L` for glucose sources).
    pub units: String,
}

/// Load (or build) the processed cache for `config.data` and run the preprocessing pipeline.
pub fn prepare_data(
    config: &Config,
    context: usize,
    horizon: usize,
) -> anyhow::Result<ExperimentData> {
    prepare_data_with(config, context, horizon, None)
}

/// As [`prepare_data`], reusing a saved scaler (evaluation of a trained run).
pub fn prepare_data_with(
    config: &Config,
    context: usize,
    horizon: usize,
    scaler: Option<tsfm_data::scaler::Scaler>,
) -> anyhow::Result<ExperimentData> {
    let data = &config.data;
    let opts = adapt::data::source_options(data);
    let cache = CacheManager::new(&data.cache_dir);
    let loaded = cache.load(&data.source_name, &opts)?;
    for warning in &loaded.manifest.warnings {
        eprintln!("warning: {warning}");
    }
    let fingerprint = loaded
        .manifest
        .raw_files
        .iter()
        .map(|f| f.sha256.chars().take(16).collect::<String>())
        .collect::<Vec<_>>()
        .join("-");
    let units = loaded
        .series
        .first()
        .and_then(|s| s.unit.clone())
        .unwrap_or_else(|| "units".to_string());
    let ids: Vec<String> = loaded.series.iter().map(|s| s.id.clone()).collect();
    let options = adapt::data::pipeline_options(data, &ids, context, horizon)?;
    let prepared = match scaler {
        Some(scaler) => tsfm_data::run_with_scaler(loaded.series, &options, scaler)?,
        None => tsfm_data::run_pipeline(loaded.series, &options)?,
    };
    Ok(ExperimentData {
        dataset: data.source_name.clone(),
        prepared,
        fingerprint,
        units,
    })
}

/// Validation data must exist when the run selects or stops on it.
pub fn check_validation(config: &Config, data: &ExperimentData) -> anyhow::Result<()> {
    let t = &config.training;
    let needed = t.early_stopping.enabled || t.load_best_model_at_end;
    data.prepared.require_validation(needed)?;
    Ok(())
}

impl ExperimentData {
    pub fn windows(&self, split: Split) -> &WindowSet {
        match split {
            Split::Train => &self.prepared.train,
            Split::Val => &self.prepared.val,
            Split::Test => &self.prepared.test,
        }
    }

    pub fn train_len(&self) -> usize {
        self.prepared.train.len()
    }

    pub fn describe(&self) -> String {
        let r = &self.prepared.report;
        format!(
            "data:   `{}`: {} series, {} rows on the grid ({} short gaps interpolated, {} segments kept, {} too short), windows train {} / val {} / test {}, target in {}",
            self.dataset,
            r.series,
            r.rows,
            r.gaps_interpolated,
            r.segments_kept,
            r.segments_dropped,
            r.windows_train,
            r.windows_val,
            r.windows_test,
            self.units
        )
    }

    pub fn save_scaler(&self, path: &Path) -> anyhow::Result<()> {
        self.prepared.scaler.save(path)?;
        Ok(())
    }

    /// The windows of `split` as the trainer reads them.
    pub fn source(&self, split: Split) -> TensorWindows<'_> {
        TensorWindows {
            set: self.windows(split),
            batch: RefCell::new(Batch::default()),
        }
    }
}

/// Forecast channels in every window set: the pipeline forecasts one target column.
pub const TARGET_CHANNELS: usize = 1;

/// `[batch, time, channels]` host values laid out as the pipeline stores them (the target
/// first, then the past covariates) -> the Forecaster's `(targets, Some(covariates))`.
pub fn split_channels(
    values: &[f32],
    shape: [usize; 3],
    device: &Device,
) -> (burn::Tensor<3>, Option<burn::Tensor<3>>) {
    let all = tensor3(values.to_vec(), shape, device);
    let n_cov = shape[2] - TARGET_CHANNELS;
    let covariates = (n_cov > 0).then(|| all.clone().narrow(2, TARGET_CHANNELS, n_cov));
    (all.narrow(2, 0, TARGET_CHANNELS), covariates)
}

/// A window set handing out tensor batches; reuses one host buffer.
pub struct TensorWindows<'a> {
    pub set: &'a WindowSet,
    batch: RefCell<Batch>,
}

impl TensorWindows<'_> {
    /// Fill the host batch for `indices` and build the model input from it; also returns
    /// each window's first forecast-step timestamp (the trainer ignores them).
    pub fn input(&self, indices: &[usize], device: &Device) -> (ForecastInput, Vec<i64>) {
        let mut b = self.batch.borrow_mut();
        self.set.fill_batch(indices, &mut b);
        let past = [b.batch, b.context, b.channels];
        let future = [b.batch, b.horizon, b.channels];
        let (past_values, past_covariates) = split_channels(&b.past_values, past, device);
        let (past_observed_mask, _) = split_channels(&b.past_observed_mask, past, device);
        let (future_values, _) = split_channels(&b.future_values, future, device);
        let (future_observed_mask, _) = split_channels(&b.future_observed_mask, future, device);
        let input = ForecastInput {
            past_values,
            past_observed_mask: Some(past_observed_mask),
            future_values: Some(future_values),
            future_observed_mask: Some(future_observed_mask),
            past_covariates,
            future_covariates: (b.n_future > 0).then(|| {
                tensor3(
                    b.future_covariates.clone(),
                    [b.batch, b.horizon, b.n_future],
                    device,
                )
            }),
            freq_token: Some(freq_tokens(
                b.series_index
                    .iter()
                    .map(|&si| self.set.data()[si].interval_min),
                device,
            )),
        };
        (input, b.origin_timestamp.clone())
    }
}

impl tsfm_train::WindowSource for TensorWindows<'_> {
    fn len(&self) -> usize {
        self.set.len()
    }

    fn batch(&self, indices: &[usize], device: &Device) -> ForecastInput {
        self.input(indices, device).0
    }
}

/// Exit-2 error for a checkpoint family this build detects but cannot run yet.
pub fn not_supported_yet(kind: &str, source: &str) -> anyhow::Error {
    user_error(format!(
        "{source}: model type {kind} is recognised but not supported yet by this version of tsfm \
         (supported: ttm)"
    ))
}

/// Build one batch of `split` and let the model check it: a checkpoint whose channels do not
/// match `data.past_covariates` (or that needs inputs the pipeline does not make) is a config
/// error, reported before any work starts.
pub fn check_fits<F: Forecaster>(
    model: &F,
    config: &Config,
    data: &ExperimentData,
    split: Split,
    device: &Device,
) -> anyhow::Result<()> {
    let windows = data.source(split);
    if windows.set.is_empty() {
        return Ok(());
    }
    let (input, _) = windows.input(&[0], device);
    model.check_input(&input).map_err(|e| {
        user_error(format!(
            "{}: {e}; the data gives the target `{}` plus past covariates [{}]: \
             set data.past_covariates to match the checkpoint or use another checkpoint",
            config.model.model_path,
            config
                .data
                .target_columns
                .first()
                .map_or("", String::as_str),
            config.data.past_covariates.join(", ")
        ))
    })
}
