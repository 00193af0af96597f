//! [`AnyForecaster`]: one type over every model family, so the trainer, the evaluator and the
//! experiment layer never name a family. Adding a family is its module, one arm here and one
//! in [`crate::info::checkpoint_info_in`].
use std::path::Path;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::Device;

use crate::checkpoint::{detect_model_type, resolve_checkpoint};
use crate::chronos::ChronosModel;
use crate::chronos_bolt::ChronosBoltModel;
use crate::chronos2::Chronos2Model;
use crate::forecaster::{
    FinetuneMode, Forecast, ForecastInput, ForecastOptions, Forecaster, LossKind, ModelError,
    ParamCounts,
};
use crate::info::{CheckpointInfo, not_supported};
use crate::lora::{self, LoraConfig};
use crate::timesfm::{ForecastSettings, TimesFmModel};
use crate::ttm::TtmModel;

/// Families this build runs, as `config.json` detection names them.
pub const SUPPORTED: &[&str] = &["ttm", "chronos", "chronos_bolt", "chronos2", "timesfm"];

/// A loaded model of any supported family (a Burn module: trainable, savable, on any device).
// One model is loaded per run and never stored in bulk, so the size of the largest family
// costs nothing; and Burn implements `Module` for no `Box`, so the variants hold the models.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum AnyForecaster {
    Ttm(TtmModel),
    Chronos(ChronosModel),
    ChronosBolt(ChronosBoltModel),
    Chronos2(Chronos2Model),
    TimesFm(TimesFmModel),
}

/// A loaded model and what loading it noticed.
#[derive(Debug)]
pub struct LoadedForecaster {
    pub model: AnyForecaster,
    /// Unknown config keys, unused tensors: for the caller to show.
    pub warnings: Vec<String>,
}

/// How a checkpoint is built beyond what its files say.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOptions {
    /// Attach LoRA adapters to the linear layers these settings target (see [`crate::lora`]).
    pub lora: Option<LoraConfig>,
    /// TimesFM's forecast settings (`ForecastConfig`); `None` = the official README example.
    /// Other families ignore it.
    pub timesfm: Option<ForecastSettings>,
}

/// Load the checkpoint `spec` names (a directory, or `org/name[@revision]` in the local HF
/// cache), whatever its family. A PEFT adapter directory loads its base checkpoint with the
/// adapter attached.
pub fn load_forecaster(spec: &str, device: &Device) -> Result<LoadedForecaster, ModelError> {
    load_forecaster_with(spec, device, &LoadOptions::default())
}

/// As [`load_forecaster`], with LoRA adapters or other [`LoadOptions`].
pub fn load_forecaster_with(
    spec: &str,
    device: &Device,
    options: &LoadOptions,
) -> Result<LoadedForecaster, ModelError> {
    let dir = resolve_checkpoint(spec)?;
    load_forecaster_in_with(&dir, device, options)
}

/// As [`load_forecaster`] for a resolved checkpoint directory.
pub fn load_forecaster_in(dir: &Path, device: &Device) -> Result<LoadedForecaster, ModelError> {
    load_forecaster_in_with(dir, device, &LoadOptions::default())
}

/// As [`load_forecaster_with`] for a resolved checkpoint directory.
pub fn load_forecaster_in_with(
    dir: &Path,
    device: &Device,
    options: &LoadOptions,
) -> Result<LoadedForecaster, ModelError> {
    if lora::is_adapter_dir(dir) {
        if options.lora.is_some() {
            return Err(ModelError::Checkpoint {
                path: dir.display().to_string(),
                message: "is a LoRA adapter: new adapters go on the checkpoint it adapts, or \
                          merge it first"
                    .into(),
            });
        }
        return lora::peft::load_adapter_dir(dir, device, options);
    }
    match detect_model_type(dir)?.as_str() {
        "ttm" => {
            let (model, warnings) = TtmModel::from_pretrained_with(dir, device, options)?;
            Ok(LoadedForecaster {
                model: AnyForecaster::Ttm(model),
                warnings,
            })
        }
        "chronos" => {
            let (model, warnings) = ChronosModel::from_pretrained_with(dir, device, options)?;
            Ok(LoadedForecaster {
                model: AnyForecaster::Chronos(model),
                warnings,
            })
        }
        "chronos_bolt" => {
            let (model, warnings) = ChronosBoltModel::from_pretrained_with(dir, device, options)?;
            Ok(LoadedForecaster {
                model: AnyForecaster::ChronosBolt(model),
                warnings,
            })
        }
        "chronos2" => {
            let (model, warnings) = Chronos2Model::from_pretrained_with(dir, device, options)?;
            Ok(LoadedForecaster {
                model: AnyForecaster::Chronos2(model),
                warnings,
            })
        }
        "timesfm" => {
            let (model, warnings) = TimesFmModel::from_pretrained_with(dir, device, options)?;
            Ok(LoadedForecaster {
                model: AnyForecaster::TimesFm(model),
                warnings,
            })
        }
        other => Err(not_supported(other, dir)),
    }
}

/// Calls `$body` with `$m` bound to the family's model.
macro_rules! each_family {
    ($self:expr, $m:ident => $body:expr) => {
        match $self {
            AnyForecaster::Ttm($m) => $body,
            AnyForecaster::Chronos($m) => $body,
            AnyForecaster::ChronosBolt($m) => $body,
            AnyForecaster::Chronos2($m) => $body,
            AnyForecaster::TimesFm($m) => $body,
        }
    };
}

impl Forecaster for AnyForecaster {
    fn model_type(&self) -> &'static str {
        each_family!(self, m => m.model_type())
    }

    fn info(&self) -> CheckpointInfo {
        each_family!(self, m => m.info())
    }

    fn context_length(&self) -> usize {
        each_family!(self, m => Forecaster::context_length(m))
    }

    fn prediction_length(&self) -> usize {
        each_family!(self, m => Forecaster::prediction_length(m))
    }

    fn check_input(&self, input: &ForecastInput) -> Result<(), ModelError> {
        each_family!(self, m => Forecaster::check_input(m, input))
    }

    fn forecast(&self, input: &ForecastInput) -> Result<Forecast, ModelError> {
        each_family!(self, m => m.forecast(input))
    }

    fn max_horizon(&self) -> Option<usize> {
        each_family!(self, m => m.max_horizon())
    }

    fn reads_any_covariates(&self) -> bool {
        each_family!(self, m => m.reads_any_covariates())
    }

    fn forecast_with(
        &self,
        input: &ForecastInput,
        options: &ForecastOptions,
    ) -> Result<Forecast, ModelError> {
        each_family!(self, m => m.forecast_with(input, options))
    }

    fn loss(&self, input: &ForecastInput, loss: LossKind) -> Tensor<1> {
        each_family!(self, m => m.loss(input, loss))
    }

    fn supports_loss(&self, kind: LossKind) -> bool {
        each_family!(self, m => m.supports_loss(kind))
    }

    fn apply_finetune_mode(self, mode: FinetuneMode) -> Self {
        match self {
            AnyForecaster::Ttm(m) => AnyForecaster::Ttm(m.apply_finetune_mode(mode)),
            AnyForecaster::Chronos(m) => AnyForecaster::Chronos(m.apply_finetune_mode(mode)),
            AnyForecaster::ChronosBolt(m) => {
                AnyForecaster::ChronosBolt(m.apply_finetune_mode(mode))
            }
            AnyForecaster::Chronos2(m) => AnyForecaster::Chronos2(m.apply_finetune_mode(mode)),
            AnyForecaster::TimesFm(m) => AnyForecaster::TimesFm(m.apply_finetune_mode(mode)),
        }
    }

    fn param_counts(&self) -> ParamCounts {
        each_family!(self, m => m.param_counts())
    }

    fn save_pretrained(&self, dir: &Path) -> Result<(), ModelError> {
        each_family!(self, m => m.save_pretrained(dir))
    }
}
