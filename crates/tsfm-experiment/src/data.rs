//! A config's dataset read through the cache and preprocessed into windows.
use std::path::Path;

use burn::tensor::Device;
use tsfm_config::Config;
use tsfm_data::cache::CacheManager;
use tsfm_data::{Prepared, WindowSet};
use tsfm_models::Forecaster;

use crate::batches::TensorWindows;
use crate::error::{Result, user};
use crate::events::Events;
use crate::model::window_lengths;
use crate::options;

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

    /// `test`, `val` or `train`.
    pub fn parse(text: &str) -> Result<Split> {
        match text {
            "test" => Ok(Split::Test),
            "val" => Ok(Split::Val),
            "train" => Ok(Split::Train),
            other => Err(user(format!(
                "--split: `{other}` is not test, val or train"
            ))),
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
    /// Steps the model reads (windows' histories are padded to it).
    pub model_context: usize,
    /// Known-future covariates (`data.future_covariates`): the windows' last channels.
    pub known_future: usize,
}

/// Load (or build) the processed cache for `config.data` and run the preprocessing pipeline
/// for `model`'s windows (see [`window_lengths`]); `scaler` reuses a saved one (evaluation of a
/// trained run).
pub fn prepare_data(
    config: &Config,
    model: &impl Forecaster,
    scaler: Option<tsfm_data::scaler::Scaler>,
    events: &mut dyn Events,
) -> Result<ExperimentData> {
    let (context, horizon) = window_lengths(config, model)?;
    let data = &config.data;
    let opts = options::data::source_options(data);
    let cache = CacheManager::new(&data.cache_dir);
    let loaded = cache.load(&data.source_name, &opts)?;
    if let Some(repaired) = &loaded.repaired {
        events.warn(repaired.clone());
    }
    for warning in &loaded.manifest.warnings {
        events.warn(warning.clone());
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
    let options = options::data::pipeline_options(data, &ids, context, horizon)?;
    tracing::debug!(
        "{} series from the cache of `{}`; windows of {context} + {horizon} steps",
        ids.len(),
        data.source_name
    );
    let prepared = match scaler {
        Some(scaler) => tsfm_data::run_with_scaler(loaded.series, &options, scaler)?,
        None => tsfm_data::run_pipeline(loaded.series, &options)?,
    };
    let data = ExperimentData {
        dataset: data.source_name.clone(),
        prepared,
        fingerprint,
        units,
        model_context: crate::model::padded_context(model, context),
        known_future: config.data.future_covariates.len(),
    };
    events.info(data.describe());
    Ok(data)
}

/// Validation data must exist when the run selects or stops on it.
pub fn check_validation(config: &Config, data: &ExperimentData) -> Result<()> {
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

    pub fn save_scaler(&self, path: &Path) -> Result<()> {
        self.prepared.scaler.save(path)?;
        Ok(())
    }

    /// The windows of `split` as model batches.
    pub fn source(&self, split: Split) -> TensorWindows<'_> {
        TensorWindows::new(self.windows(split), self.model_context)
            .with_known_future(self.known_future)
    }
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
) -> Result<()> {
    let windows = data.source(split);
    if windows.set.is_empty() {
        return Ok(());
    }
    let (input, _) = windows.input(&[0], device)?;
    model.check_input(&input).map_err(|e| {
        user(format!(
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
