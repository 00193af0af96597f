//! `Chronos2Model`: instance norm (+ `arcsinh`) -> context patches with time encoding and
//! mask -> input residual block, `[REG]`, future tokens (time encoding and known-future
//! covariates through the same block) -> encoder (time then group attention per block) ->
//! the last `num_output_patches` states through the output residual block ->
//! `[rows, n_quantiles, num_output_patches * patch]`, de-normalised. Field names are the
//! HuggingFace tensor names (`input_patch_embedding.hidden_layer.weight`, `shared.weight`).

use std::path::Path;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, Gradients, Int, TensorData};
use serde_json::{Map, Value};

use super::config::{Chronos2Config, REG_TOKEN_ID};
use super::encoder::{Chronos2Encoder, EncoderOutput};
use super::loss::quantile_loss;
use super::scaler::{FutureCovariates, Normaliser, instance_norm, patch_context, patch_future};
use crate::any::LoadOptions;
use crate::checkpoint::{self, TensorMap};
use crate::chronos_bolt::blocks::ResidualBlock;
use crate::chronos_bolt::loss::Target;
use crate::chronos_bolt::scaler::Context;
use crate::forecaster::{FinetuneMode, ModelError};
use crate::lora::{self, LoraConfig};
use crate::nn::{Embedding, WeightSource, hf_grads, hf_tensors};

/// Chronos-2, loaded from a HuggingFace checkpoint.
#[derive(Module, Debug)]
pub struct Chronos2Model {
    /// Row 0 is `[PAD]` (unused by the forward pass), row 1 `[REG]`.
    pub shared: Embedding,
    pub input_patch_embedding: ResidualBlock,
    pub encoder: Chronos2Encoder,
    pub output_patch_embedding: ResidualBlock,
    #[module(skip)]
    pub config: Chronos2Config,
    /// The checkpoint's `config.json`, written back by `save_pretrained`.
    #[module(skip)]
    pub raw_config: Map<String, Value>,
    #[module(skip)]
    pub finetune: FinetuneMode,
}

/// One model call: what `Chronos2Model.forward` takes besides the target.
#[derive(Debug, Clone)]
pub struct Chronos2Input {
    /// `[rows, time]`; longer than `context_length` keeps the last steps.
    pub context: Context,
    /// One group id per row (rows of a group attend to each other); `None` = every row alone.
    pub group_ids: Option<Vec<i64>>,
    /// `[rows, future]` known-future values, `future <= num_output_patches * patch`.
    pub future_covariates: Option<FutureCovariates>,
    /// Output patches to predict (the future tokens appended after the context).
    pub num_output_patches: usize,
}

impl Chronos2Input {
    /// Every row on its own, no covariates.
    pub fn univariate(context: Context, num_output_patches: usize) -> Self {
        Self {
            context,
            group_ids: None,
            future_covariates: None,
            num_output_patches,
        }
    }
}

/// Everything one forward pass computes.
#[derive(Debug, Clone)]
pub struct Chronos2Output {
    pub normaliser: Normaliser,
    /// `[rows, context_patches, 3 patch]`: time encoding, values, mask.
    pub patched_context: Tensor<3>,
    /// `[rows, context_patches]`, 1 where a patch has an observed step.
    pub context_patch_mask: Tensor<2>,
    /// `[rows, num_output_patches, 3 patch]`: time encoding, known values, their mask.
    pub patched_future: Tensor<3>,
    /// `[rows, num_output_patches * patch]`, 1 where a future covariate value was given.
    pub known_future: Tensor<2>,
    /// `[rows, tokens, d_model]`: context patches, `[REG]`, future tokens.
    pub input_embeds: Tensor<3>,
    /// `[rows, tokens]`.
    pub attention_mask: Tensor<2>,
    /// Every token's final states with `forward_with_attentions` (and in autodiff); only the
    /// future tokens' from `forward` and `quantile_loss` at inference, the last block then
    /// being computed at those tokens alone.
    pub encoder: EncoderOutput,
    /// `[rows, n_quantiles, horizon]` on the normalised scale (what the loss reads).
    pub normalised_quantiles: Tensor<3>,
}

impl Chronos2Output {
    /// `quantile_preds` in data units, `[rows, n_quantiles, horizon]`.
    pub fn quantile_preds(&self) -> Tensor<3> {
        let [b, q, h] = self.normalised_quantiles.dims();
        self.normaliser
            .denormalise(self.normalised_quantiles.clone().reshape([b, q * h]))
            .reshape([b, q, h])
    }
}

fn invalid(msg: String) -> ModelError {
    ModelError::Invalid(format!("Chronos-2 input: {msg}"))
}

impl Chronos2Model {
    /// Builds the model from a parsed config and the checkpoint's tensors (HF names). Returns
    /// the model and the names of checkpoint tensors it did not use.
    pub fn from_tensors(
        config: Chronos2Config,
        raw_config: Map<String, Value>,
        tensors: TensorMap,
        lora: Option<&LoraConfig>,
        device: &Device,
    ) -> Result<(Self, Vec<String>), ModelError> {
        let source = WeightSource::new(tensors).with_lora(lora, "chronos2")?;
        let vb = source.root(device);
        let cfg = &config;
        let (d, ff, p) = (
            cfg.core.d_model,
            cfg.core.d_ff,
            cfg.chronos.input_patch_size,
        );
        let dropout = cfg.core.dropout_rate;
        let model = Self {
            shared: Embedding::load(&vb.pp("shared"), cfg.vocab_size(), d)?,
            // x3: time encoding, values, mask.
            input_patch_embedding: ResidualBlock::load(
                &vb.pp("input_patch_embedding"),
                3 * p,
                ff,
                d,
                cfg.activation,
                dropout,
            )?,
            encoder: Chronos2Encoder::load(&vb.pp("encoder"), cfg)?,
            output_patch_embedding: ResidualBlock::load(
                &vb.pp("output_patch_embedding"),
                d,
                ff,
                cfg.num_quantiles() * cfg.chronos.output_patch_size,
                cfg.activation,
                dropout,
            )?,
            config,
            raw_config,
            finetune: FinetuneMode::Full,
        };
        Ok((model, source.finish()?))
    }

    /// Loads a checkpoint directory (`config.json` + `model.safetensors`). Returns the model and
    /// warnings (unknown config keys, unused tensors).
    pub fn from_pretrained(dir: &Path, device: &Device) -> Result<(Self, Vec<String>), ModelError> {
        Self::from_pretrained_with(dir, device, &LoadOptions::default())
    }

    /// As [`from_pretrained`](Self::from_pretrained), with LoRA adapters when `options` asks.
    pub fn from_pretrained_with(
        dir: &Path,
        device: &Device,
        options: &LoadOptions,
    ) -> Result<(Self, Vec<String>), ModelError> {
        let raw = checkpoint::read_config_json(dir)?;
        let source = dir.join(checkpoint::CONFIG_FILE).display().to_string();
        let parsed = Chronos2Config::from_json(raw, &source)?;
        let tensors = checkpoint::load_checkpoint_tensors(dir)?;
        let (model, unused) = Self::from_tensors(
            parsed.config,
            parsed.raw,
            tensors,
            options.lora.as_ref(),
            device,
        )?;
        let mut warnings = parsed.warnings;
        warnings.extend(checkpoint::unused_tensor_warnings(dir, unused));
        Ok((model, warnings))
    }

    fn device(&self) -> Device {
        self.shared.weight.device()
    }

    /// The package's `_validate_input`, as errors instead of exceptions.
    fn validate(&self, input: &Chronos2Input, target: Option<&Target>) -> Result<(), ModelError> {
        let [b, t] = input.context.values.dims();
        if b == 0 || t == 0 {
            return Err(invalid(format!(
                "the context is empty ({b} rows of {t} steps)"
            )));
        }
        if input.context.observed.dims() != [b, t] {
            return Err(invalid(
                "the context mask's shape differs from the context's".into(),
            ));
        }
        let n_out = input.num_output_patches;
        if n_out == 0 {
            return Err(invalid("num_output_patches must be at least 1".into()));
        }
        let horizon = n_out * self.config.chronos.output_patch_size;
        if let Some(ids) = &input.group_ids
            && ids.len() != b
        {
            return Err(invalid(format!("{} group ids for {b} rows", ids.len())));
        }
        let check_future = |what: &str, dims: [usize; 2]| {
            if dims[0] != b {
                return Err(invalid(format!(
                    "{what} has {} rows, the context {b}",
                    dims[0]
                )));
            }
            if dims[1] > horizon {
                return Err(invalid(format!(
                    "{what} has {} steps, more than num_output_patches {n_out} x patch {} = {horizon}",
                    dims[1], self.config.chronos.output_patch_size
                )));
            }
            Ok(())
        };
        if let Some(f) = &input.future_covariates {
            check_future("future_covariates", f.values.dims())?;
            if f.known.dims() != f.values.dims() {
                return Err(invalid(
                    "the future covariates' mask differs in shape".into(),
                ));
            }
        }
        if let Some(target) = target {
            check_future("future_target", target.values.dims())?;
            if let Some(f) = &input.future_covariates
                && f.values.dims() != target.values.dims()
            {
                return Err(invalid(format!(
                    "future_target {:?} and future_covariates {:?} must have the same shape",
                    target.values.dims(),
                    f.values.dims()
                )));
            }
        }
        Ok(())
    }

    /// `Chronos2Model.forward` without a target.
    pub fn forward(&self, input: Chronos2Input) -> Result<Chronos2Output, ModelError> {
        self.validate(&input, None)?;
        Ok(self.run(input, false))
    }

    /// As [`forward`](Self::forward), also keeping every block's attention weights
    /// (`output_attentions=True`).
    pub fn forward_with_attentions(
        &self,
        input: Chronos2Input,
    ) -> Result<Chronos2Output, ModelError> {
        self.validate(&input, None)?;
        Ok(self.run(input, true))
    }

    /// `forward(..., future_target=...).loss` and the forward pass it came from.
    pub fn quantile_loss(
        &self,
        input: Chronos2Input,
        target: Target,
    ) -> Result<(Tensor<1>, Chronos2Output), ModelError> {
        self.validate(&input, Some(&target))?;
        let out = self.run(input, false);
        let loss = quantile_loss(
            out.normalised_quantiles.clone(),
            target,
            out.known_future.clone(),
            &out.normaliser,
            &self.config.chronos.quantiles,
        );
        Ok((loss, out))
    }

    /// The forward pass on validated input.
    fn run(&self, input: Chronos2Input, keep_weights: bool) -> Chronos2Output {
        let chronos = &self.config.chronos;
        let device = self.device();
        let context = input.context.last(chronos.context_length);
        let b = context.values.dims()[0];
        let (scaled, normaliser) = instance_norm(&context, chronos.use_arcsinh);
        let (patched_context, context_patch_mask) = patch_context(
            scaled,
            context.observed,
            chronos.input_patch_size,
            chronos.input_patch_stride,
            chronos.time_scale(),
        );
        let mut embeds = vec![self.input_patch_embedding.forward(patched_context.clone())];
        let mut masks = vec![context_patch_mask.clone()];
        if chronos.use_reg_token {
            let ids = Tensor::<1, Int>::from_data(
                TensorData::new(vec![REG_TOKEN_ID as i64; b], [b]),
                &device,
            );
            embeds.push(self.shared.forward(ids).unsqueeze_dim(1));
            masks.push(Tensor::ones([b, 1], &device));
        }
        let n_out = input.num_output_patches;
        let (patched_future, known_future) = patch_future(
            input.future_covariates,
            &normaliser,
            b,
            n_out,
            chronos.output_patch_size,
            chronos.time_scale(),
            &device,
        );
        embeds.push(self.input_patch_embedding.forward(patched_future.clone()));
        masks.push(Tensor::ones([b, n_out], &device));
        let input_embeds = Tensor::cat(embeds, 1);
        let attention_mask = Tensor::cat(masks, 1);
        // By default each row is its own group: no mixing across the batch.
        let group_ids = input.group_ids.unwrap_or_else(|| (0..b as i64).collect());
        let encoder = self.encoder.forward(
            input_embeds.clone(),
            attention_mask.clone(),
            &group_ids,
            keep_weights,
            Some(n_out),
        );
        let hidden = encoder.last_hidden_state.clone();
        let tokens = hidden.dims()[1];
        let (q, p) = (self.config.num_quantiles(), chronos.output_patch_size);
        // `b n (q p) -> b q (n p)`.
        let normalised_quantiles = self
            .output_patch_embedding
            .forward(hidden.narrow(1, tokens - n_out, n_out))
            .reshape([b, n_out, q, p])
            .swap_dims(1, 2)
            .reshape([b, q, n_out * p]);
        Chronos2Output {
            normaliser,
            patched_context,
            context_patch_mask,
            patched_future,
            known_future,
            input_embeds,
            attention_mask,
            encoder,
            normalised_quantiles,
        }
    }

    /// Every parameter under its HuggingFace name, PyTorch layout.
    pub fn hf_state_dict(&self) -> TensorMap {
        hf_tensors(self)
    }

    /// Gradients by HuggingFace name (parameters without a gradient are left out).
    pub fn hf_gradients(&self, grads: &Gradients) -> TensorMap {
        hf_grads(self, grads)
    }

    /// Writes `config.json` and `model.safetensors` (HF names, f32) into `dir`, atomically.
    pub fn save_pretrained_dir(&self, dir: &Path) -> Result<(), ModelError> {
        checkpoint::save_pretrained_files(
            dir,
            &self.config.to_json(&self.raw_config),
            &self.hf_state_dict(),
        )
    }

    /// Turns every dropout layer on or off, leaving gradients alone (PyTorch's `model.eval()`
    /// while still back-propagating, as the gradient reference does).
    pub fn with_dropout(self, enabled: bool) -> Self {
        crate::nn::set_dropout(self, enabled)
    }
}

impl Chronos2Model {
    /// Freezes what `mode` leaves untrained: `FrozenBackbone` the encoder and the `[REG]`
    /// embedding (the patch embeddings in and out still train), `HeadOnly` also the input
    /// patch embedding (only `output_patch_embedding` trains), `Lora` everything but the
    /// adapters.
    pub fn with_finetune_mode(mut self, mode: FinetuneMode) -> Self {
        if mode == FinetuneMode::Lora {
            self = lora::train_adapters_only(self);
            self.finetune = mode;
            return self;
        }
        if mode != FinetuneMode::Full {
            self.shared = self.shared.no_grad();
            self.encoder = self.encoder.no_grad();
        }
        if mode == FinetuneMode::HeadOnly {
            self.input_patch_embedding = self.input_patch_embedding.no_grad();
        }
        self.finetune = mode;
        self
    }

    /// Parameters that stay trainable under the current fine-tune mode.
    pub fn trainable_params(&self) -> usize {
        let backbone = self.shared.num_params() + self.encoder.num_params();
        let frozen = match self.finetune {
            FinetuneMode::Lora => return lora::adapter_param_count(self),
            FinetuneMode::Full => 0,
            FinetuneMode::FrozenBackbone => backbone,
            FinetuneMode::HeadOnly => backbone + self.input_patch_embedding.num_params(),
        };
        self.num_params() - frozen
    }
}
