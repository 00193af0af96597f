//! `TinyTimeMixerForPrediction`: scale -> patch -> encoder (mixer levels) -> decoder -> head ->
//! un-scale. Module and field names follow the HuggingFace tensor names
//! (`backbone.encoder.patcher.weight`, `decoder.adapter.bias`, `head.base_forecast_block.weight`).

use std::path::Path;

use burn::Tensor;
use burn::module::{Module, Param};
use burn::tensor::{Gradients, Int};
use serde_json::{Map, Value};

use super::config::{TtmConfig, TtmScaling};
use super::head::{PredictionHead, select_channels};
use super::mixer::{MixerBlock, MixerDims};
use super::scaler::{patchify, scale};
use crate::any::LoadOptions;
use crate::checkpoint::{self, TensorMap};
use crate::forecaster::{FinetuneMode, ModelError};
use crate::lora;
use crate::nn::{Embedding, Linear, gelu};
use crate::nn::{WeightSource, hf_grads, hf_tensors};

/// `freq_mod`: `nn.Sequential(Embedding, Linear, GELU, Linear)`; `_0` is saved as `freq_mod.0`.
#[derive(Module, Debug)]
pub struct FrequencyModule {
    pub _0: Embedding,
    pub _1: Linear,
    pub _3: Linear,
}

impl FrequencyModule {
    fn forward(&self, tokens: Tensor<1, Int>) -> Tensor<2> {
        self._3
            .forward(gelu(self._1.forward(self._0.forward(tokens))))
    }
}

/// Learned or fixed (sincos) positional encoding added to every patch.
#[derive(Module, Debug)]
pub struct PositionalEncoding {
    pub position_enc: Param<Tensor<2>>,
}

/// `TinyTimeMixerEncoder`.
#[derive(Module, Debug)]
pub struct Encoder {
    pub patcher: Linear,
    pub freq_mod: Option<FrequencyModule>,
    pub positional_encoder: Option<PositionalEncoding>,
    pub mlp_mixer_encoder: MixerBlock,
}

/// `TinyTimeMixerModel`: the scaler and patching hold no weights, so only `encoder` remains.
#[derive(Module, Debug)]
pub struct Backbone {
    pub encoder: Encoder,
}

/// `TinyTimeMixerDecoder`.
#[derive(Module, Debug)]
pub struct Decoder {
    pub adapter: Option<Linear>,
    pub decoder_raw_embedding: Option<Linear>,
    pub decoder_block: MixerBlock,
}

/// Inputs in granite-tsfm's layout: every channel of the checkpoint, un-scaled.
#[derive(Debug, Clone)]
pub struct TtmInput {
    /// `[batch, time, num_input_channels]`; longer keeps the last `context_length` steps,
    /// shorter is left-padded with zeros.
    pub past_values: Tensor<3>,
    /// 1 observed / 0 missing, same shape. When given and the input is short, padding is
    /// marked missing; when absent every step (padding included) counts as observed, exactly
    /// as in granite-tsfm.
    pub past_observed_mask: Option<Tensor<3>>,
    /// `[batch, horizon, num_input_channels]`: needed for exogenous channels (forecast channel
    /// mixing reads their known future values); other channels are ignored.
    pub future_values: Option<Tensor<3>>,
    /// `[batch]` frequency token ids (required when `resolution_prefix_tuning`).
    pub freq_token: Option<Tensor<1, Int>>,
}

impl TtmInput {
    pub fn new(past_values: Tensor<3>) -> Self {
        Self {
            past_values,
            past_observed_mask: None,
            future_values: None,
            freq_token: None,
        }
    }
}

/// Everything `TinyTimeMixerForPrediction.forward` returns.
#[derive(Debug, Clone)]
pub struct TtmOutput {
    /// `[batch, output_length, forecast channels]`, un-scaled.
    pub prediction: Tensor<3>,
    /// `[batch, 1, forecast channels]`.
    pub loc: Tensor<3>,
    pub scale: Tensor<3>,
    /// `[batch, channels, patches, d_model]`.
    pub backbone_hidden_state: Tensor<4>,
    /// `[batch, channels, patches, decoder_d_model]` (the encoder output without a decoder).
    pub decoder_hidden_state: Tensor<4>,
    /// Per mixer step, granite's order, when requested.
    pub hidden_states: Option<Vec<Tensor<4>>>,
}

/// TinyTimeMixer for forecasting, loaded from a HuggingFace checkpoint.
#[derive(Module, Debug)]
pub struct TtmModel {
    pub backbone: Backbone,
    pub decoder: Option<Decoder>,
    pub head: PredictionHead,
    #[module(skip)]
    pub config: TtmConfig,
    /// The checkpoint's `config.json`, written back by `save_pretrained`.
    #[module(skip)]
    pub raw_config: Map<String, Value>,
    #[module(skip)]
    pub finetune: FinetuneMode,
}

fn encoder_dims(cfg: &TtmConfig) -> Result<MixerDims, ModelError> {
    Ok(MixerDims {
        num_patches: cfg.num_patches(),
        d_model: cfg.d_model,
        num_channels: cfg.num_input_channels,
        num_layers: cfg.num_layers,
        expansion: cfg.expansion_factor,
        dropout: cfg.dropout,
        gated_attn: cfg.gated_attn,
        gate: cfg.gate()?,
        mix_channel: cfg.mode == "mix_channel",
        adaptive_levels: cfg.adaptive_patching_levels,
        eps: cfg.norm_eps,
    })
}

fn decoder_dims(cfg: &TtmConfig) -> Result<MixerDims, ModelError> {
    Ok(MixerDims {
        d_model: cfg.decoder_d_model,
        num_layers: cfg.decoder_num_layers,
        dropout: cfg.head_dropout,
        adaptive_levels: cfg.decoder_adaptive_patching_levels,
        mix_channel: cfg.decoder_mode == "mix_channel",
        ..encoder_dims(cfg)?
    })
}

impl TtmModel {
    /// Builds the model from a parsed config and the checkpoint's tensors (HF names). Returns
    /// the model and the names of checkpoint tensors it did not use.
    pub fn from_tensors(
        config: TtmConfig,
        raw_config: Map<String, Value>,
        tensors: TensorMap,
        device: &burn::tensor::Device,
    ) -> Result<(Self, Vec<String>), ModelError> {
        let source = WeightSource::new(tensors);
        let model = Self::from_source(config, raw_config, &source, device)?;
        Ok((model, source.finish()?))
    }

    /// Builds the model from a parsed config and a weight source (which may attach LoRA
    /// adapters); the caller asks the source what was left unused.
    pub fn from_source(
        config: TtmConfig,
        raw_config: Map<String, Value>,
        source: &WeightSource,
        device: &burn::tensor::Device,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        let vb = source.root(device);
        let cfg = &config;
        let enc = vb.pp("backbone").pp("encoder");
        let freq_mod = if cfg.resolution_prefix_tuning {
            let f = enc.pp("freq_mod");
            let mid = (cfg.patch_length + cfg.d_model) / 2;
            Some(FrequencyModule {
                _0: Embedding::load(&f.pp(0), cfg.frequency_token_vocab_size, cfg.patch_length)?,
                _1: Linear::load(&f.pp(1), cfg.patch_length, mid)?,
                _3: Linear::load(&f.pp(3), mid, cfg.d_model)?,
            })
        } else {
            None
        };
        let positional_encoder = if cfg.use_positional_encoding {
            // granite builds the sincos table with `requires_grad=False`, but
            // `from_pretrained` (transformers 5) replaces it with an ordinary, trainable
            // parameter, so a loaded checkpoint fine-tunes it like the random one: so do we.
            let p = enc
                .pp("positional_encoder")
                .get("position_enc", [cfg.num_patches(), cfg.d_model])?;
            Some(PositionalEncoding { position_enc: p })
        } else {
            None
        };
        let encoder = Encoder {
            patcher: Linear::load(&enc.pp("patcher"), cfg.patch_length, cfg.d_model)?,
            freq_mod,
            positional_encoder,
            mlp_mixer_encoder: MixerBlock::load(&enc.pp("mlp_mixer_encoder"), &encoder_dims(cfg)?)?,
        };
        let decoder = if cfg.use_decoder {
            let d = vb.pp("decoder");
            Some(Decoder {
                adapter: (cfg.d_model != cfg.decoder_d_model)
                    .then(|| Linear::load(&d.pp("adapter"), cfg.d_model, cfg.decoder_d_model))
                    .transpose()?,
                decoder_raw_embedding: cfg
                    .decoder_raw_residual
                    .then(|| {
                        Linear::load(
                            &d.pp("decoder_raw_embedding"),
                            cfg.patch_length,
                            cfg.decoder_d_model,
                        )
                    })
                    .transpose()?,
                decoder_block: MixerBlock::load(&d.pp("decoder_block"), &decoder_dims(cfg)?)?,
            })
        } else {
            None
        };
        let head = PredictionHead::load(&vb.pp("head"), cfg)?;
        Ok(Self {
            backbone: Backbone { encoder },
            decoder,
            head,
            config,
            raw_config,
            finetune: FinetuneMode::Full,
        })
    }

    /// Loads a checkpoint directory (`config.json` + `model.safetensors`). Returns the model and
    /// warnings (unknown config keys, unused checkpoint tensors).
    pub fn from_pretrained(
        dir: &Path,
        device: &burn::tensor::Device,
    ) -> Result<(Self, Vec<String>), ModelError> {
        Self::from_pretrained_with(dir, device, &LoadOptions::default())
    }

    /// As [`from_pretrained`](Self::from_pretrained), with LoRA adapters when `options` asks.
    pub fn from_pretrained_with(
        dir: &Path,
        device: &burn::tensor::Device,
        options: &LoadOptions,
    ) -> Result<(Self, Vec<String>), ModelError> {
        let raw = checkpoint::read_config_json(dir)?;
        let source = dir.join(checkpoint::CONFIG_FILE).display().to_string();
        let parsed = TtmConfig::from_json(raw, &source)?;
        let tensors = checkpoint::load_checkpoint_tensors(dir)?;
        let weights = WeightSource::new(tensors).with_lora(options.lora.as_ref(), "ttm")?;
        let model = Self::from_source(parsed.config, parsed.raw, &weights, device)?;
        let unused = weights.finish()?;
        let mut warnings = parsed.warnings;
        warnings.extend(checkpoint::unused_tensor_warnings(dir, unused));
        Ok((model, warnings))
    }

    /// Every parameter under its HuggingFace name, PyTorch layout (LoRA adapters merged).
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

    /// The full forward pass of `TinyTimeMixerForPrediction`.
    pub fn forward(&self, input: &TtmInput, output_hidden_states: bool) -> TtmOutput {
        let cfg = &self.config;
        let (past, mask) = fit_context(
            &input.past_values,
            input.past_observed_mask.as_ref(),
            cfg.context_length,
        );
        let observed = mask.unwrap_or_else(|| past.ones_like());
        let (scaled, loc, scl) = scale(cfg.scaling_kind(), past.clone(), observed);
        let n_data_patches = cfg.num_patches() - usize::from(cfg.resolution_prefix_tuning);
        let patches = patchify(scaled, cfg.patch_length, n_data_patches);

        let mut hidden = output_hidden_states.then(Vec::new);
        let enc = &self.backbone.encoder;
        let mut h = enc.patcher.forward(patches.clone());
        if let Some(fm) = &enc.freq_mod {
            let tokens = input.freq_token.clone().expect(
                "this checkpoint uses resolution_prefix_tuning: a frequency token is required",
            );
            let [b, c, _, d] = h.dims();
            let emb = fm
                .forward(tokens)
                .reshape([b, 1, 1, d])
                .expand([b, c, 1, d]);
            h = Tensor::cat(vec![emb, h], 2);
        }
        if let Some(pe) = &enc.positional_encoder {
            h = h + pe.position_enc.val().unsqueeze::<4>();
        }
        let backbone_hidden_state = enc.mlp_mixer_encoder.forward(h, &mut hidden);

        let decoder_hidden_state = match &self.decoder {
            Some(dec) => {
                let mut x = backbone_hidden_state.clone();
                if let Some(a) = &dec.adapter {
                    x = a.forward(x);
                    if let Some(v) = hidden.as_mut() {
                        v.push(x.clone());
                    }
                }
                if let Some(raw) = &dec.decoder_raw_embedding {
                    let mut p = patches;
                    if cfg.resolution_prefix_tuning {
                        let [b, c, _, l] = p.dims();
                        p = Tensor::cat(vec![Tensor::zeros([b, c, 1, l], &p.device()), p], 2);
                    }
                    x = x + raw.forward(p);
                    if let Some(v) = hidden.as_mut() {
                        v.push(x.clone());
                    }
                }
                dec.decoder_block.forward(x, &mut hidden)
            }
            None => backbone_hidden_state.clone(),
        };

        let y = self.head.forward(
            decoder_hidden_state.clone(),
            &past,
            input.future_values.as_ref(),
        );
        let (loc, scl) = match &self.head.channel_select {
            Some(sel) => (select_channels(loc, sel), select_channels(scl, sel)),
            None => (loc, scl),
        };
        let prediction = y * scl.clone() + loc.clone();
        TtmOutput {
            prediction,
            loc,
            scale: scl,
            backbone_hidden_state,
            decoder_hidden_state,
            hidden_states: hidden,
        }
    }

    /// Applies a fine-tune mode. Frozen parameters stop requiring gradients (`no_grad`), while
    /// dropout stays active in training like PyTorch's `requires_grad_(False)` fine-tuning.
    pub fn with_finetune_mode(mut self, mode: FinetuneMode) -> Self {
        match mode {
            FinetuneMode::Full => {}
            FinetuneMode::FrozenBackbone => {
                self.backbone = self.backbone.no_grad();
            }
            FinetuneMode::HeadOnly => {
                self.backbone = self.backbone.no_grad();
                self.decoder = self.decoder.map(|d| d.no_grad());
            }
            FinetuneMode::Lora => self = lora::train_adapters_only(self),
        }
        self.finetune = mode;
        self
    }

    /// Turns every dropout layer on or off, leaving gradients alone (PyTorch's
    /// `model.eval()` while still back-propagating, as the gradient reference does).
    pub fn with_dropout(self, enabled: bool) -> Self {
        crate::nn::set_dropout(self, enabled)
    }

    /// Parameters that stay trainable under the current fine-tune mode.
    pub fn trainable_params(&self) -> usize {
        let frozen = match self.finetune {
            FinetuneMode::Full => 0,
            FinetuneMode::FrozenBackbone => self.backbone.num_params(),
            FinetuneMode::HeadOnly => {
                self.backbone.num_params() + self.decoder.as_ref().map_or(0, |d| d.num_params())
            }
            FinetuneMode::Lora => return lora::adapter_param_count(self),
        };
        self.num_params() - frozen
    }

    pub fn scaling(&self) -> TtmScaling {
        self.config.scaling_kind()
    }
}

/// granite-tsfm's length handling: keep the last `len` steps, or left-pad with zeros (the mask,
/// when given, with zeros too).
pub fn fit_context(
    past: &Tensor<3>,
    mask: Option<&Tensor<3>>,
    len: usize,
) -> (Tensor<3>, Option<Tensor<3>>) {
    let fit = |x: &Tensor<3>| {
        let [b, t, c] = x.dims();
        if t > len {
            x.clone().narrow(1, t - len, len)
        } else if t < len {
            let pad = Tensor::zeros([b, len - t, c], &x.device());
            Tensor::cat(vec![pad, x.clone()], 1)
        } else {
            x.clone()
        }
    };
    (fit(past), mask.map(fit))
}
