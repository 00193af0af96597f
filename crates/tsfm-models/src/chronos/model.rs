//! `ChronosModel`: a `T5ForConditionalGeneration` over value tokens, with its tokenizer. Its
//! weights sit at the module root under their HuggingFace names (`shared.weight`,
//! `encoder.block.0.layer.0.SelfAttention.q.weight`, `lm_head.weight` when untied).

use std::path::Path;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, Gradients, Int, TensorData};
use serde_json::{Map, Value};

use super::config::{ChronosModelConfig, ParsedChronosConfig};
use super::tokenizer::MeanScaleUniformBins;
use crate::any::LoadOptions;
use crate::checkpoint::{self, TensorMap};
use crate::forecaster::{FinetuneMode, ModelError};
use crate::lora::{self, LoraConfig};
use crate::nn::{Embedding, Linear, WeightSource, hf_grads, hf_tensors};
use crate::t5::{T5Decoder, T5Encoder, T5Lm, load_lm_head, load_shared};

/// The label value `CrossEntropyLoss` ignores (HF's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// Chronos-T5, loaded from a HuggingFace checkpoint.
#[derive(Module, Debug)]
pub struct ChronosModel {
    pub shared: Embedding,
    pub encoder: T5Encoder,
    pub decoder: T5Decoder,
    /// `Some` only for an untied output projection.
    pub lm_head: Option<Linear>,
    #[module(skip)]
    pub config: ChronosModelConfig,
    #[module(skip)]
    pub tokenizer: MeanScaleUniformBins,
    /// The checkpoint's `config.json`, written back by `save_pretrained`.
    #[module(skip)]
    pub raw_config: Map<String, Value>,
    #[module(skip)]
    pub finetune: FinetuneMode,
}

/// One batch of series, tokenised for the encoder.
#[derive(Debug, Clone)]
pub struct EncoderBatch {
    pub ids: Vec<i64>,
    pub mask: Vec<f32>,
    pub scale: Vec<f32>,
    pub rows: usize,
    pub len: usize,
}

impl EncoderBatch {
    pub fn tensors(&self, device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
        let shape = [self.rows, self.len];
        (
            Tensor::from_data(TensorData::new(self.ids.clone(), shape), device),
            Tensor::from_data(TensorData::new(self.mask.clone(), shape), device),
        )
    }
}

impl ChronosModel {
    /// Builds the model from a parsed config and the checkpoint's tensors. Returns the model
    /// and the names of checkpoint tensors it did not use.
    pub fn from_tensors(
        parsed: ParsedChronosConfig,
        tensors: TensorMap,
        lora: Option<&LoraConfig>,
        device: &Device,
    ) -> Result<(Self, Vec<String>), ModelError> {
        let config = parsed.config;
        let t5 = &config.t5;
        let ff = t5.feed_forward("config.json")?;
        let source = WeightSource::new(tensors).with_lora(lora, "chronos")?;
        let vb = source.root(device);
        let shared = load_shared(&vb, t5)?;
        let encoder = T5Encoder::load(&vb.pp("encoder"), t5, ff)?;
        let decoder = T5Decoder::load(&vb.pp("decoder"), t5, ff)?;
        let lm_head = load_lm_head(&vb, t5, &shared)?;
        let model = Self {
            shared,
            encoder,
            decoder,
            lm_head,
            tokenizer: MeanScaleUniformBins::new(&config.chronos),
            config,
            raw_config: parsed.raw,
            finetune: FinetuneMode::Full,
        };
        Ok((model, source.finish()?))
    }

    /// Loads a checkpoint directory. Returns the model and warnings (unknown config keys,
    /// unused tensors).
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
        let parsed = ChronosModelConfig::from_json(raw, &source)?;
        let mut warnings = parsed.warnings.clone();
        let tensors = checkpoint::load_checkpoint_tensors(dir)?;
        let (model, unused) = Self::from_tensors(parsed, tensors, options.lora.as_ref(), device)?;
        warnings.extend(checkpoint::unused_tensor_warnings(dir, unused));
        Ok((model, warnings))
    }

    /// The seq2seq LM over this model's parts.
    pub fn lm(&self) -> T5Lm<'_> {
        T5Lm {
            config: &self.config.t5,
            shared: &self.shared,
            encoder: &self.encoder,
            decoder: &self.decoder,
            lm_head: self.lm_head.as_ref(),
        }
    }

    /// `context_input_transform` of every series (all the same length; NaN = missing).
    pub fn tokenize_contexts(&self, series: &[Vec<f32>]) -> EncoderBatch {
        let mut batch = EncoderBatch {
            ids: Vec::new(),
            mask: Vec::new(),
            scale: Vec::with_capacity(series.len()),
            rows: series.len(),
            len: 0,
        };
        for s in series {
            let (tokens, scale) = self.tokenizer.context_input_transform(s);
            batch.len = tokens.ids.len();
            batch.ids.extend(tokens.ids);
            batch.mask.extend(tokens.mask);
            batch.scale.push(scale);
        }
        batch
    }

    /// Every parameter under its HuggingFace name, PyTorch layout (the tied head is `shared`).
    pub fn hf_state_dict(&self) -> TensorMap {
        hf_tensors(self)
    }

    /// Gradients by HuggingFace name (parameters without a gradient are left out).
    pub fn hf_gradients(&self, grads: &Gradients) -> TensorMap {
        hf_grads(self, grads)
    }

    /// Writes `config.json` (every key of the original, unknown ones included) and
    /// `model.safetensors` into `dir`, atomically; `chronos-forecasting` loads the result.
    pub fn save_pretrained_dir(&self, dir: &Path) -> Result<(), ModelError> {
        checkpoint::save_pretrained_files(dir, &self.raw_config, &self.hf_state_dict())
    }

    /// Applies a fine-tune mode (frozen parameters stop requiring gradients):
    /// - `FrozenBackbone`: the encoder and the `shared` embedding (its input, and the tied
    ///   output projection) are frozen; the decoder (and an untied `lm_head`) train;
    /// - `HeadOnly`: only the output side trains: the decoder's final layer norm and an
    ///   untied `lm_head` (with tied embeddings, the norm alone).
    pub fn with_finetune_mode(mut self, mode: FinetuneMode) -> Self {
        match mode {
            FinetuneMode::Full => {}
            FinetuneMode::FrozenBackbone => {
                self.shared = self.shared.no_grad();
                self.encoder = self.encoder.no_grad();
            }
            FinetuneMode::HeadOnly => {
                self.shared = self.shared.no_grad();
                self.encoder = self.encoder.no_grad();
                self.decoder.block = self.decoder.block.no_grad();
            }
            FinetuneMode::Lora => self = lora::train_adapters_only(self),
        }
        self.finetune = mode;
        self
    }

    /// Parameters that stay trainable under the current fine-tune mode.
    pub fn trainable_params(&self) -> usize {
        let frozen = match self.finetune {
            FinetuneMode::Lora => return lora::adapter_param_count(self),
            FinetuneMode::Full => 0,
            FinetuneMode::FrozenBackbone => self.shared.num_params() + self.encoder.num_params(),
            FinetuneMode::HeadOnly => {
                self.shared.num_params()
                    + self.encoder.num_params()
                    + self.decoder.block.num_params()
            }
        };
        self.num_params() - frozen
    }

    /// Turns every dropout layer on or off, leaving gradients alone (PyTorch's `model.eval()`
    /// while still back-propagating).
    pub fn with_dropout(self, enabled: bool) -> Self {
        crate::nn::set_dropout(self, enabled)
    }
}
