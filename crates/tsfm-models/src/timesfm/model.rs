//! `TimesFM_2p5_200M_torch_module`: patches of `[values, mask]` -> tokenizer residual block ->
//! stacked decoder-only transformer -> point and quantile residual heads, each patch's outputs
//! in that patch's normalised space. Field names are the official tensor names
//! (`stacked_xf.0.attn.qkv_proj.weight`).

use std::path::Path;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, Gradients};

use super::attention::{AttentionContext, LayerCache, MultiHeadAttention};
use super::config::{TensorNaming, TimesFmDefinition, TransformerConfig};
use super::layers::{Activation, ResidualBlock, RmsNorm, linear};
use super::names::port_to_official;
use super::pipeline::ForecastSettings;
use crate::any::LoadOptions;
use crate::checkpoint::{self, TensorMap};
use crate::forecaster::{FinetuneMode, ModelError};
use crate::lora::{self, LoraConfig};
use crate::nn::{Linear, VarBuilder, WeightSource, hf_grads, hf_tensors};

/// `transformer.Transformer`: pre/post-normed attention and feed-forward, each residual.
#[derive(Module, Debug)]
pub struct Transformer {
    pub pre_attn_ln: RmsNorm,
    pub post_attn_ln: RmsNorm,
    pub attn: MultiHeadAttention,
    pub pre_ff_ln: RmsNorm,
    pub post_ff_ln: RmsNorm,
    pub ff0: Linear,
    pub ff1: Linear,
    #[module(skip)]
    pub activation: Activation,
}

impl Transformer {
    pub fn load(vb: &VarBuilder<'_>, cfg: &TransformerConfig) -> Result<Self, ModelError> {
        let (d, h, bias) = (cfg.model_dims, cfg.hidden_dims, cfg.use_bias);
        Ok(Self {
            pre_attn_ln: RmsNorm::load(&vb.pp("pre_attn_ln"), d)?,
            post_attn_ln: RmsNorm::load(&vb.pp("post_attn_ln"), d)?,
            attn: MultiHeadAttention::load(&vb.pp("attn"), cfg)?,
            pre_ff_ln: RmsNorm::load(&vb.pp("pre_ff_ln"), d)?,
            post_ff_ln: RmsNorm::load(&vb.pp("post_ff_ln"), d)?,
            ff0: linear(&vb.pp("ff0"), d, h, bias)?,
            ff1: linear(&vb.pp("ff1"), h, d, bias)?,
            activation: Activation::from_name(&cfg.ff_activation),
        })
    }

    pub fn forward(
        &self,
        x: Tensor<3>,
        ctx: &AttentionContext,
        cache: Option<&mut Option<LayerCache>>,
    ) -> Tensor<3> {
        let n = x.dims()[1];
        self.forward_last(x, ctx, cache, n)
    }

    /// The layer's output at the last `keep` patches only (keys and values of every patch
    /// still computed and cached): `[batch, keep, d]`.
    pub fn forward_last(
        &self,
        x: Tensor<3>,
        ctx: &AttentionContext,
        cache: Option<&mut Option<LayerCache>>,
        keep: usize,
    ) -> Tensor<3> {
        let n = x.dims()[1];
        let keep = keep.min(n);
        let attended =
            self.attn
                .forward_last(self.pre_attn_ln.forward(x.clone()), ctx, cache, keep);
        let x = self.post_attn_ln.forward(attended) + x.narrow(1, n - keep, keep);
        let hidden = self
            .activation
            .apply(self.ff0.forward(self.pre_ff_ln.forward(x.clone())));
        self.post_ff_ln.forward(self.ff1.forward(hidden)) + x
    }
}

/// TimesFM 2.5 loaded from a checkpoint.
#[derive(Module, Debug)]
pub struct TimesFmModel {
    pub tokenizer: ResidualBlock,
    pub stacked_xf: Vec<Transformer>,
    pub output_projection_point: ResidualBlock,
    pub output_projection_quantiles: ResidualBlock,
    #[module(skip)]
    pub definition: TimesFmDefinition,
    #[module(skip)]
    pub finetune: FinetuneMode,
    /// How `forecast` and `loss` call the model (not part of the checkpoint).
    #[module(skip)]
    pub settings: ForecastSettings,
}

/// What one call of the network computes (`forward` of the official module).
#[derive(Debug, Clone)]
pub struct NetworkOutput {
    /// `[batch, patches, model_dims]`.
    pub input_embeddings: Tensor<3>,
    pub output_embeddings: Tensor<3>,
}

impl TimesFmModel {
    /// Builds the model from a definition and the checkpoint's tensors (official names).
    /// Returns the model and the names of checkpoint tensors it did not use.
    pub fn from_tensors(
        definition: TimesFmDefinition,
        tensors: TensorMap,
        lora: Option<&LoraConfig>,
        device: &Device,
    ) -> Result<(Self, Vec<String>), ModelError> {
        let source = WeightSource::new(tensors).with_lora(lora, "timesfm")?;
        let vb = source.root(device);
        let d = &definition;
        let xf = vb.pp("stacked_xf");
        let model = Self {
            tokenizer: ResidualBlock::load(&vb.pp("tokenizer"), &d.tokenizer)?,
            stacked_xf: (0..d.stacked_transformers.num_layers)
                .map(|i| Transformer::load(&xf.pp(i), &d.stacked_transformers.transformer))
                .collect::<Result<_, _>>()?,
            output_projection_point: ResidualBlock::load(
                &vb.pp("output_projection_point"),
                &d.output_projection_point,
            )?,
            output_projection_quantiles: ResidualBlock::load(
                &vb.pp("output_projection_quantiles"),
                &d.output_projection_quantiles,
            )?,
            definition,
            finetune: FinetuneMode::Full,
            settings: ForecastSettings::default(),
        };
        Ok((model, source.finish()?))
    }

    /// Loads a checkpoint directory: `model.safetensors` (official or transformers-port
    /// names) with or without `config.json`. Returns the model and warnings.
    pub fn from_pretrained_with(
        dir: &Path,
        device: &Device,
        options: &LoadOptions,
    ) -> Result<(Self, Vec<String>), ModelError> {
        let config_path = dir.join(checkpoint::CONFIG_FILE);
        let raw = if config_path.is_file() {
            Some(checkpoint::read_config_json(dir)?)
        } else {
            None
        };
        let source = config_path.display().to_string();
        let mut tensors = checkpoint::load_checkpoint_tensors(dir)?;
        let parsed = TimesFmDefinition::from_checkpoint(raw.as_ref(), &tensors, &source)?;
        if parsed.naming == TensorNaming::TransformersPort {
            tensors = port_to_official(
                tensors,
                &dir.join(checkpoint::WEIGHTS_FILE).display().to_string(),
            )?;
        }
        let (mut model, unused) =
            Self::from_tensors(parsed.definition, tensors, options.lora.as_ref(), device)?;
        if let Some(settings) = options.timesfm {
            model.settings = settings;
        }
        let mut warnings = parsed.warnings;
        warnings.extend(checkpoint::unused_tensor_warnings(dir, unused));
        Ok((model, warnings))
    }

    pub fn device(&self) -> Device {
        self.output_projection_point.output_layer.weight.device()
    }

    /// The tokenizer on `[normalised patch, mask]` (`[batch, patches, p]` each, mask 1.0 where
    /// padded or missing).
    pub fn embed(&self, normed: Tensor<3>, mask: Tensor<3>) -> Tensor<3> {
        self.tokenizer.forward(Tensor::cat(vec![normed, mask], 2))
    }

    /// The network on `patches` new patches per row. With `caches` (one slot per layer) the
    /// patches attend to those of earlier calls too, and their keys and values are kept.
    pub fn forward(
        &self,
        normed: Tensor<3>,
        mask: Tensor<3>,
        ctx: &AttentionContext,
        caches: Option<&mut [Option<LayerCache>]>,
    ) -> NetworkOutput {
        let n = normed.dims()[1];
        self.forward_last(normed, mask, ctx, caches, n)
    }

    /// The same when only the last `keep` patches' outputs are read (the heads of a forecast
    /// read the last one): the last layer computes its queries, output projection and
    /// feed-forward at those patches alone, and `output_embeddings` is `[batch, keep, d]`,
    /// the last `keep` rows of `forward`'s. Every layer's keys and values are still cached.
    pub fn forward_last(
        &self,
        normed: Tensor<3>,
        mask: Tensor<3>,
        ctx: &AttentionContext,
        mut caches: Option<&mut [Option<LayerCache>]>,
        keep: usize,
    ) -> NetworkOutput {
        let input_embeddings = self.embed(normed, mask);
        let mut x = input_embeddings.clone();
        let last = self.stacked_xf.len().saturating_sub(1);
        for (i, layer) in self.stacked_xf.iter().enumerate() {
            let cache = caches.as_deref_mut().map(|c| &mut c[i]);
            let n = x.dims()[1];
            let keep = if i == last { keep } else { n };
            x = layer.forward_last(x, ctx, cache, keep);
        }
        NetworkOutput {
            input_embeddings,
            output_embeddings: x,
        }
    }

    /// The point head: `[batch, patches, output_patch_len * outputs]`, normalised.
    pub fn point_head(&self, embeddings: Tensor<3>) -> Tensor<3> {
        self.output_projection_point.forward(embeddings)
    }

    /// The continuous quantile head: `[batch, patches, output_quantile_len * outputs]`.
    pub fn quantile_head(&self, embeddings: Tensor<3>) -> Tensor<3> {
        self.output_projection_quantiles.forward(embeddings)
    }

    /// Every parameter under its official name, PyTorch layout.
    pub fn hf_state_dict(&self) -> TensorMap {
        hf_tensors(self)
    }

    /// Gradients by official name (parameters without a gradient are left out).
    pub fn hf_gradients(&self, grads: &Gradients) -> TensorMap {
        hf_grads(self, grads)
    }

    /// Writes `config.json` (the official layout with its definition) and `model.safetensors`
    /// (official names, f32) into `dir`, atomically.
    pub fn save_pretrained_dir(&self, dir: &Path) -> Result<(), ModelError> {
        checkpoint::save_pretrained_files(dir, &self.definition.to_json(), &self.hf_state_dict())
    }

    /// Applies a fine-tune mode. `FrozenBackbone` freezes the tokenizer and the transformer
    /// (the heads train); `HeadOnly` is the same here: the heads are TimesFM's whole head.
    pub fn with_finetune_mode(mut self, mode: FinetuneMode) -> Self {
        if mode == FinetuneMode::Lora {
            self = lora::train_adapters_only(self);
        } else if mode != FinetuneMode::Full {
            self.tokenizer = self.tokenizer.no_grad();
            self.stacked_xf = self.stacked_xf.no_grad();
        }
        self.finetune = mode;
        self
    }

    /// Parameters that stay trainable under the current fine-tune mode.
    pub fn trainable_params(&self) -> usize {
        match self.finetune {
            FinetuneMode::Lora => lora::adapter_param_count(self),
            FinetuneMode::Full => self.num_params(),
            FinetuneMode::FrozenBackbone | FinetuneMode::HeadOnly => {
                self.output_projection_point.num_params()
                    + self.output_projection_quantiles.num_params()
            }
        }
    }
}
