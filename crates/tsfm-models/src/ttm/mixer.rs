//! The TSMixer part of TTM: patch, feature and channel mixing, stacked into layers and
//! adaptive-patching levels. Tensors are `[batch, channels, patches, features]`.

use burn::Tensor;
use burn::module::Module;

use super::config::{GateMode, adaptive_factor};
use super::layers::{GatedAttention, Mlp, NormLayer};
use crate::forecaster::ModelError;
use crate::nn::VarBuilder;

/// The dimensions one mixer block works with (the encoder, the decoder and the forecast
/// channel mixer each derive one from the checkpoint config, like granite's `temp_config`).
#[derive(Debug, Clone)]
pub struct MixerDims {
    pub num_patches: usize,
    pub d_model: usize,
    pub num_channels: usize,
    pub num_layers: usize,
    pub expansion: usize,
    pub dropout: f64,
    pub gated_attn: bool,
    pub gate: GateMode,
    pub mix_channel: bool,
    pub adaptive_levels: i64,
    pub eps: f64,
}

fn gating(
    vb: &VarBuilder<'_>,
    on: bool,
    size: usize,
    mode: GateMode,
) -> Result<Option<GatedAttention>, ModelError> {
    on.then(|| GatedAttention::load(&vb.pp("gating_block"), size, mode))
        .transpose()
}

/// Mixes along the patch (time) axis: norm -> MLP over patches -> gate -> residual.
#[derive(Module, Debug)]
pub struct PatchMixerBlock {
    pub norm: NormLayer,
    pub mlp: Mlp,
    pub gating_block: Option<GatedAttention>,
}

impl PatchMixerBlock {
    fn load(vb: &VarBuilder<'_>, d: &MixerDims) -> Result<Self, ModelError> {
        Ok(Self {
            norm: NormLayer::load(&vb.pp("norm"), d.d_model, d.eps)?,
            mlp: Mlp::load(
                &vb.pp("mlp"),
                d.num_patches,
                d.num_patches,
                d.expansion,
                d.dropout,
            )?,
            gating_block: gating(vb, d.gated_attn, d.num_patches, d.gate)?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = x.clone();
        let h = self.norm.forward(x).swap_dims(2, 3);
        let mut h = self.mlp.forward(h);
        if let Some(g) = &self.gating_block {
            h = g.forward(h);
        }
        h.swap_dims(2, 3) + residual
    }
}

/// Mixes along the feature axis: norm -> MLP over features -> gate -> residual.
#[derive(Module, Debug)]
pub struct FeatureMixerBlock {
    pub norm: NormLayer,
    pub mlp: Mlp,
    pub gating_block: Option<GatedAttention>,
}

impl FeatureMixerBlock {
    fn load(vb: &VarBuilder<'_>, d: &MixerDims) -> Result<Self, ModelError> {
        Ok(Self {
            norm: NormLayer::load(&vb.pp("norm"), d.d_model, d.eps)?,
            mlp: Mlp::load(&vb.pp("mlp"), d.d_model, d.d_model, d.expansion, d.dropout)?,
            gating_block: gating(vb, d.gated_attn, d.d_model, d.gate)?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = x.clone();
        let mut h = self.mlp.forward(self.norm.forward(x));
        if let Some(g) = &self.gating_block {
            h = g.forward(h);
        }
        h + residual
    }
}

/// `mix_channel` mode: mixes along the channel axis; the gate comes before the MLP here.
#[derive(Module, Debug)]
pub struct ChannelFeatureMixerBlock {
    pub norm: NormLayer,
    pub mlp: Mlp,
    pub gating_block: Option<GatedAttention>,
}

impl ChannelFeatureMixerBlock {
    fn load(vb: &VarBuilder<'_>, d: &MixerDims) -> Result<Self, ModelError> {
        Ok(Self {
            norm: NormLayer::load(&vb.pp("norm"), d.d_model, d.eps)?,
            mlp: Mlp::load(
                &vb.pp("mlp"),
                d.num_channels,
                d.num_channels,
                d.expansion,
                d.dropout,
            )?,
            gating_block: gating(vb, d.gated_attn, d.num_channels, d.gate)?,
        })
    }

    fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let residual = x.clone();
        let mut h = self.norm.forward(x).permute([0, 3, 2, 1]);
        if let Some(g) = &self.gating_block {
            h = g.forward(h);
        }
        self.mlp.forward(h).permute([0, 3, 2, 1]) + residual
    }
}

/// `TinyTimeMixerLayer`: [channel mixing] -> patch mixing (if more than one patch) -> feature mixing.
#[derive(Module, Debug)]
pub struct MixerLayer {
    pub channel_feature_mixer: Option<ChannelFeatureMixerBlock>,
    pub patch_mixer: Option<PatchMixerBlock>,
    pub feature_mixer: FeatureMixerBlock,
}

impl MixerLayer {
    fn load(vb: &VarBuilder<'_>, d: &MixerDims) -> Result<Self, ModelError> {
        Ok(Self {
            channel_feature_mixer: d
                .mix_channel
                .then(|| ChannelFeatureMixerBlock::load(&vb.pp("channel_feature_mixer"), d))
                .transpose()?,
            patch_mixer: (d.num_patches > 1)
                .then(|| PatchMixerBlock::load(&vb.pp("patch_mixer"), d))
                .transpose()?,
            feature_mixer: FeatureMixerBlock::load(&vb.pp("feature_mixer"), d)?,
        })
    }

    fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        if let Some(c) = &self.channel_feature_mixer {
            x = c.forward(x);
        }
        if let Some(p) = &self.patch_mixer {
            x = p.forward(x);
        }
        self.feature_mixer.forward(x)
    }
}

/// One adaptive-patching level: reshape `[.., N, D]` to `[.., N*f, D/f]`, mix, reshape back.
#[derive(Module, Debug)]
pub struct AdaptivePatchingBlock {
    pub mixer_layers: Vec<MixerLayer>,
    pub factor: usize,
}

impl AdaptivePatchingBlock {
    fn load(vb: &VarBuilder<'_>, d: &MixerDims, level: u32) -> Result<Self, ModelError> {
        let factor = adaptive_factor(d.d_model, level);
        let level_dims = MixerDims {
            num_patches: d.num_patches * factor,
            d_model: d.d_model / factor,
            ..d.clone()
        };
        let layers = vb.pp("mixer_layers");
        Ok(Self {
            mixer_layers: (0..d.num_layers)
                .map(|i| MixerLayer::load(&layers.pp(i), &level_dims))
                .collect::<Result<_, _>>()?,
            factor,
        })
    }

    fn forward(&self, x: Tensor<4>, hidden: &mut Option<Vec<Tensor<4>>>) -> Tensor<4> {
        let [b, c, n, d] = x.dims();
        let f = self.factor;
        push(hidden, &x);
        let mut h = x.reshape([b, c, n * f, d / f]);
        push(hidden, &h);
        for layer in &self.mixer_layers {
            h = layer.forward(h);
            push(hidden, &h);
        }
        let h = h.reshape([b, c, n, d]);
        push(hidden, &h);
        h
    }
}

fn push(hidden: &mut Option<Vec<Tensor<4>>>, x: &Tensor<4>) {
    if let Some(v) = hidden {
        v.push(x.clone());
    }
}

/// The layers of a mixer block: adaptive-patching levels (coarsest factor first) or plain layers.
#[derive(Module, Debug)]
pub enum Mixers {
    Adaptive(Vec<AdaptivePatchingBlock>),
    Plain(Vec<MixerLayer>),
}

/// `TinyTimeMixerBlock`.
#[derive(Module, Debug)]
pub struct MixerBlock {
    pub mixers: Mixers,
}

impl MixerBlock {
    pub fn load(vb: &VarBuilder<'_>, d: &MixerDims) -> Result<Self, ModelError> {
        let vb = vb.pp("mixers");
        let mixers = if d.adaptive_levels > 0 {
            let levels = d.adaptive_levels as u32;
            Mixers::Adaptive(
                (0..levels)
                    .map(|i| AdaptivePatchingBlock::load(&vb.pp(i), d, levels - 1 - i))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            Mixers::Plain(
                (0..d.num_layers)
                    .map(|i| MixerLayer::load(&vb.pp(i), d))
                    .collect::<Result<_, _>>()?,
            )
        };
        Ok(Self { mixers })
    }

    /// Runs the block; when `hidden` is `Some`, appends the activations granite-tsfm reports
    /// with `output_hidden_states=True`, in the same order.
    pub fn forward(&self, x: Tensor<4>, hidden: &mut Option<Vec<Tensor<4>>>) -> Tensor<4> {
        match &self.mixers {
            Mixers::Adaptive(levels) => levels.iter().fold(x, |h, level| level.forward(h, hidden)),
            Mixers::Plain(layers) => layers.iter().fold(x, |h, layer| {
                let h = layer.forward(h);
                push(hidden, &h);
                h
            }),
        }
    }
}
