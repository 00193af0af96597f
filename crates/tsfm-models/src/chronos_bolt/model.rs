//! `ChronosBoltModelForForecasting`: instance norm -> patches with their mask -> input residual
//! block (+ `[REG]`) -> T5 encoder -> one decoder step from `decoder_start_token_id` -> output
//! residual block -> `[batch, n_quantiles, prediction_length]`, de-normalised. Field names are
//! the HuggingFace tensor names (`input_patch_embedding.hidden_layer.weight`, `shared.weight`).

use std::path::Path;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, Gradients, Int, TensorData};
use serde_json::{Map, Value};

use super::blocks::ResidualBlock;
use super::config::{ChronosBoltConfig, REG_TOKEN_ID};
use super::loss::{Target, quantile_loss};
use super::scaler::{Context, LocScale, instance_norm, patchify};
use crate::any::LoadOptions;
use crate::checkpoint::{self, TensorMap};
use crate::forecaster::{FinetuneMode, ModelError};
use crate::lora::{self, LoraConfig};
use crate::nn::{Embedding, WeightSource, hf_grads, hf_tensors};
use crate::t5::{T5Decoder, T5Encoder};

/// Chronos-Bolt, loaded from a HuggingFace checkpoint.
#[derive(Module, Debug)]
pub struct ChronosBoltModel {
    /// Row `decoder_start_token_id` starts the decoder, row 1 is `[REG]`.
    pub shared: Embedding,
    pub input_patch_embedding: ResidualBlock,
    pub encoder: T5Encoder,
    pub decoder: T5Decoder,
    pub output_patch_embedding: ResidualBlock,
    #[module(skip)]
    pub config: ChronosBoltConfig,
    /// The checkpoint's `config.json`, written back by `save_pretrained`.
    #[module(skip)]
    pub raw_config: Map<String, Value>,
    #[module(skip)]
    pub finetune: FinetuneMode,
}

/// What `encode` feeds the T5 encoder.
#[derive(Debug, Clone)]
pub struct EncoderInput {
    /// `[batch, tokens, d_model]`: embedded patches, then `[REG]`.
    pub input_embeds: Tensor<3>,
    /// `[batch, tokens]`, 1 where a patch has an observed step (and for `[REG]`).
    pub attention_mask: Tensor<2>,
    pub loc_scale: LocScale,
}

/// Everything one forward pass computes.
#[derive(Debug, Clone)]
pub struct BoltOutput {
    pub loc_scale: LocScale,
    pub input_embeds: Tensor<3>,
    pub attention_mask: Tensor<2>,
    pub encoder_hidden_states: Tensor<3>,
    /// `[batch, 1, d_model]`.
    pub decoder_hidden_state: Tensor<3>,
    /// `[batch, n_quantiles, prediction_length]` on the normalised scale (what the loss reads).
    pub normalised_quantiles: Tensor<3>,
}

impl BoltOutput {
    /// `quantile_preds` in data units, `[batch, n_quantiles, prediction_length]`.
    pub fn quantile_preds(&self) -> Tensor<3> {
        let [b, q, h] = self.normalised_quantiles.dims();
        self.loc_scale
            .denormalise(self.normalised_quantiles.clone().reshape([b, q * h]))
            .reshape([b, q, h])
    }
}

impl ChronosBoltModel {
    /// Builds the model from a parsed config and the checkpoint's tensors (HF names). Returns
    /// the model and the names of checkpoint tensors it did not use.
    pub fn from_tensors(
        config: ChronosBoltConfig,
        raw_config: Map<String, Value>,
        mut tensors: TensorMap,
        lora: Option<&LoraConfig>,
        device: &Device,
    ) -> Result<(Self, Vec<String>), ModelError> {
        // The package ignores a stored `lm_head` (Bolt has no vocabulary head).
        tensors.remove("lm_head.weight");
        let source = WeightSource::new(tensors).with_lora(lora, "chronos_bolt")?;
        let vb = source.root(device);
        let cfg = &config;
        let t5 = &cfg.t5;
        let feed_forward = t5.feed_forward("config.json")?;
        let (d, ff) = (t5.d_model, t5.d_ff);
        let patch_in = 2 * cfg.chronos.input_patch_size;
        let head_out = cfg.num_quantiles() * cfg.chronos.prediction_length;
        let model = Self {
            shared: Embedding::load(&vb.pp("shared"), cfg.vocab_size(), d)?,
            input_patch_embedding: ResidualBlock::load(
                &vb.pp("input_patch_embedding"),
                patch_in,
                ff,
                d,
                cfg.activation,
                t5.dropout_rate,
            )?,
            encoder: T5Encoder::load(&vb.pp("encoder"), t5, feed_forward)?,
            decoder: T5Decoder::load(&vb.pp("decoder"), t5, feed_forward)?,
            output_patch_embedding: ResidualBlock::load(
                &vb.pp("output_patch_embedding"),
                d,
                ff,
                head_out,
                cfg.activation,
                t5.dropout_rate,
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
        let parsed = ChronosBoltConfig::from_json(raw, &source)?;
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

    /// `shared` rows for one token id, repeated over the batch: `[batch, 1, d_model]`.
    fn token_embeds(&self, id: usize, batch: usize) -> Tensor<3> {
        let ids = Tensor::<1, Int>::from_data(
            TensorData::new(vec![id as i64; batch], [batch]),
            &self.device(),
        );
        self.shared.forward(ids).unsqueeze_dim(1)
    }

    /// The first half of `encode`: scale, patch, embed, append `[REG]`.
    pub fn embed(&self, context: Context) -> EncoderInput {
        let chronos = &self.config.chronos;
        let context = context.last(chronos.context_length);
        let (scaled, loc_scale) = instance_norm(&context);
        let (patches, mut attention_mask) = patchify(
            scaled,
            context.observed,
            chronos.input_patch_size,
            chronos.input_patch_stride,
        );
        let mut input_embeds = self.input_patch_embedding.forward(patches);
        if chronos.use_reg_token {
            let b = input_embeds.dims()[0];
            input_embeds = Tensor::cat(vec![input_embeds, self.token_embeds(REG_TOKEN_ID, b)], 1);
            let ones = Tensor::<2>::ones([b, 1], &attention_mask.device());
            attention_mask = Tensor::cat(vec![attention_mask, ones], 1);
        }
        EncoderInput {
            input_embeds,
            attention_mask,
            loc_scale,
        }
    }

    /// `ChronosBoltModelForForecasting.forward` without a target.
    pub fn forward(&self, context: Context) -> BoltOutput {
        let EncoderInput {
            input_embeds,
            attention_mask,
            loc_scale,
        } = self.embed(context);
        let encoder_hidden_states = self
            .encoder
            .forward(input_embeds.clone(), attention_mask.clone());
        let b = input_embeds.dims()[0];
        let memory = self
            .decoder
            .memory(encoder_hidden_states.clone(), attention_mask.clone());
        let start = self.token_embeds(self.config.decoder_start_token_id(), b);
        let decoder_hidden_state = self.decoder.forward(start, &memory);
        let (q, h) = (
            self.config.num_quantiles(),
            self.config.chronos.prediction_length,
        );
        let normalised_quantiles = self
            .output_patch_embedding
            .forward(decoder_hidden_state.clone())
            .reshape([b, q, h]);
        BoltOutput {
            loc_scale,
            input_embeds,
            attention_mask,
            encoder_hidden_states,
            decoder_hidden_state,
            normalised_quantiles,
        }
    }

    /// `forward(context, target=..., target_mask=...).loss`: the package's quantile loss.
    pub fn quantile_loss(&self, context: Context, target: Target) -> Tensor<1> {
        let out = self.forward(context);
        quantile_loss(
            out.normalised_quantiles,
            target,
            &out.loc_scale,
            &self.config.chronos.quantiles,
        )
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

    /// Applies a fine-tune mode: frozen parameters stop requiring gradients.
    /// `FrozenBackbone` freezes the encoder side (token embeddings, patch embedding, T5
    /// encoder); `HeadOnly` also the T5 decoder, leaving only `output_patch_embedding`.
    pub fn with_finetune_mode(mut self, mode: FinetuneMode) -> Self {
        if mode == FinetuneMode::Lora {
            self = lora::train_adapters_only(self);
            self.finetune = mode;
            return self;
        }
        if mode != FinetuneMode::Full {
            self.shared = self.shared.no_grad();
            self.input_patch_embedding = self.input_patch_embedding.no_grad();
            self.encoder = self.encoder.no_grad();
        }
        if mode == FinetuneMode::HeadOnly {
            self.decoder = self.decoder.no_grad();
        }
        self.finetune = mode;
        self
    }

    /// Turns every dropout layer on or off, leaving gradients alone (PyTorch's `model.eval()`
    /// while still back-propagating, as the gradient reference does).
    pub fn with_dropout(self, enabled: bool) -> Self {
        crate::nn::set_dropout(self, enabled)
    }

    /// Parameters that stay trainable under the current fine-tune mode.
    pub fn trainable_params(&self) -> usize {
        let backbone = self.shared.num_params()
            + self.input_patch_embedding.num_params()
            + self.encoder.num_params();
        let frozen = match self.finetune {
            FinetuneMode::Lora => return lora::adapter_param_count(self),
            FinetuneMode::Full => 0,
            FinetuneMode::FrozenBackbone => backbone,
            FinetuneMode::HeadOnly => backbone + self.decoder.num_params(),
        };
        self.num_params() - frozen
    }
}
