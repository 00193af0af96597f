//! The forecast head and the optional forecast channel mixer (exogenous fusion).

use burn::Tensor;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};

use super::config::TtmConfig;
use super::layers::GatedAttention;
use super::mixer::{MixerBlock, MixerDims};
use crate::forecaster::ModelError;
use crate::nn::VarBuilder;
use crate::nn::{Linear, dropout};

/// `TinyTimeMixerForPredictionHead`: flatten patches x features, dropout, one linear layer to
/// the horizon, channel selection, `prediction_filter_length`, then optional channel mixing.
#[derive(Module, Debug)]
pub struct PredictionHead {
    pub dropout_layer: Dropout,
    pub base_forecast_block: Linear,
    pub fcm_block: Option<ForecastChannelHeadMixer>,
    /// Forecast channels when the config selects some (`prediction_channel_indices`).
    #[module(skip)]
    pub channel_select: Option<Vec<usize>>,
    #[module(skip)]
    pub filter_length: Option<usize>,
}

impl PredictionHead {
    pub fn load(vb: &VarBuilder<'_>, cfg: &TtmConfig) -> Result<Self, ModelError> {
        let head_d = if cfg.use_decoder {
            cfg.decoder_d_model
        } else {
            cfg.d_model
        };
        let selects =
            cfg.prediction_channel_indices.is_some() || cfg.exogenous_channel_indices.is_some();
        Ok(Self {
            dropout_layer: DropoutConfig::new(cfg.head_dropout).init(),
            base_forecast_block: Linear::load(
                &vb.pp("base_forecast_block"),
                cfg.num_patches() * head_d,
                cfg.prediction_length,
            )?,
            fcm_block: cfg
                .enable_forecast_channel_mixing
                .then(|| ForecastChannelHeadMixer::load(&vb.pp("fcm_block"), cfg))
                .transpose()?,
            channel_select: selects.then(|| cfg.forecast_channels()),
            filter_length: cfg.prediction_filter_length,
        })
    }

    /// `hidden` `[b, c, n, d]` -> `[b, horizon, forecast channels]` in scaled units.
    /// `past_values` / `future_values` are the un-scaled `[b, t, c]` inputs (granite feeds the
    /// channel mixer un-scaled context, so do we).
    pub fn forward(
        &self,
        hidden: Tensor<4>,
        past_values: &Tensor<3>,
        future_values: Option<&Tensor<3>>,
    ) -> Tensor<3> {
        let h = dropout(&self.dropout_layer, hidden.flatten::<3>(2, 3));
        let mut y = self.base_forecast_block.forward(h).swap_dims(1, 2);
        if let Some(sel) = &self.channel_select {
            y = select_channels(y, sel);
        }
        if let Some(f) = self.filter_length {
            y = y.narrow(1, 0, f);
        }
        match &self.fcm_block {
            Some(fcm) => fcm.forward(y, past_values, future_values),
            None => y,
        }
    }
}

/// Picks channels (last axis) in the given order.
pub fn select_channels(x: Tensor<3>, channels: &[usize]) -> Tensor<3> {
    let n = x.dims()[2];
    if channels.len() == n && channels.iter().enumerate().all(|(i, &c)| i == c) {
        return x;
    }
    Tensor::cat(
        channels
            .iter()
            .map(|&c| x.clone().narrow(2, c, 1))
            .collect(),
        2,
    )
}

/// `ForecastChannelHeadMixer`: each forecast step sees its neighbours (`fcm_context_length`
/// either side, the last context steps prepended) in every channel, exogenous future values
/// included, and a gated linear layer adds a correction to the base forecast.
#[derive(Module, Debug)]
pub struct ForecastChannelHeadMixer {
    pub fcm_embedding: Option<Linear>,
    pub exog_mixer: Option<MixerBlock>,
    pub fcm_gating_block: Option<GatedAttention>,
    pub mlp: Linear,
    #[module(skip)]
    pub context: usize,
    #[module(skip)]
    pub prepend_past: bool,
    #[module(skip)]
    pub prepend_offset: usize,
    #[module(skip)]
    pub forecast_channels: Vec<usize>,
    #[module(skip)]
    pub exogenous_channels: Vec<usize>,
}

impl ForecastChannelHeadMixer {
    fn load(vb: &VarBuilder<'_>, cfg: &TtmConfig) -> Result<Self, ModelError> {
        let horizon = cfg.output_length();
        let scl = 2 * cfg.fcm_context_length + 1;
        let forecast_channels = cfg.forecast_channels();
        let exogenous_channels = cfg.exogenous_channels();
        let total = forecast_channels.len() + exogenous_channels.len();
        let gate = cfg.gate()?;
        let (fcm_embedding, exog_mixer, features) = if cfg.fcm_use_mixer {
            let dims = MixerDims {
                num_patches: total,
                d_model: 2 * scl,
                num_channels: horizon,
                num_layers: cfg.fcm_mix_layers,
                expansion: cfg.expansion_factor,
                dropout: cfg.head_dropout,
                gated_attn: cfg.fcm_gated_attn,
                gate,
                mix_channel: false,
                adaptive_levels: 0,
                eps: cfg.norm_eps,
            };
            (
                Some(Linear::load(&vb.pp("fcm_embedding"), scl, 2 * scl)?),
                Some(MixerBlock::load(&vb.pp("exog_mixer"), &dims)?),
                2 * scl,
            )
        } else {
            (None, None, scl)
        };
        Ok(Self {
            fcm_embedding,
            exog_mixer,
            fcm_gating_block: cfg
                .fcm_gated_attn
                .then(|| GatedAttention::load(&vb.pp("fcm_gating_block"), total * features, gate))
                .transpose()?,
            mlp: Linear::load(&vb.pp("mlp"), total * features, forecast_channels.len())?,
            context: cfg.fcm_context_length,
            prepend_past: cfg.fcm_prepend_past,
            prepend_offset: cfg.fcm_prepend_past_offset.unwrap_or(0),
            forecast_channels,
            exogenous_channels,
        })
    }

    fn forward(
        &self,
        base: Tensor<3>,
        past_values: &Tensor<3>,
        future_values: Option<&Tensor<3>>,
    ) -> Tensor<3> {
        let [b, horizon, _] = base.dims();
        let residual = base.clone();
        let mut vars = base;
        let k = self.context;
        let t = past_values.dims()[1];
        let recent = |channels: &[usize]| {
            let start = t - (self.prepend_offset + k);
            select_channels(past_values.clone().narrow(1, start, k), channels)
        };
        let mut prepend = (k > 0).then(|| recent(&self.forecast_channels));
        if !self.exogenous_channels.is_empty() {
            let future =
                future_values.expect("future values of the exogenous channels are required");
            let exog = select_channels(
                future.clone().narrow(1, 0, horizon),
                &self.exogenous_channels,
            );
            vars = Tensor::cat(vec![vars, exog], 2);
            prepend = prepend.map(|p| Tensor::cat(vec![p, recent(&self.exogenous_channels)], 2));
        }
        let x = if k > 0 {
            let nv = vars.dims()[2];
            let dummy = Tensor::zeros([b, k, nv], &vars.device());
            let head = match (self.prepend_past, prepend) {
                (true, Some(p)) => p,
                _ => dummy.clone(),
            };
            let extended = Tensor::cat(vec![head, vars, dummy], 1);
            // Overlapping windows of 2k+1 steps around each forecast step: [b, h, vars, 2k+1].
            let windows: Vec<Tensor<3>> = (0..2 * k + 1)
                .map(|j| extended.clone().narrow(1, j, horizon))
                .collect();
            let mut w: Tensor<4> = Tensor::stack(windows, 3);
            if let (Some(emb), Some(mixer)) = (&self.fcm_embedding, &self.exog_mixer) {
                w = mixer.forward(emb.forward(w), &mut None);
            }
            let mut flat = w.flatten::<3>(2, 3);
            if let Some(g) = &self.fcm_gating_block {
                flat = g.forward(flat);
            }
            self.mlp.forward(flat)
        } else {
            let gated = match &self.fcm_gating_block {
                Some(g) => g.forward(vars),
                None => vars,
            };
            self.mlp.forward(gated)
        };
        x + residual
    }
}
