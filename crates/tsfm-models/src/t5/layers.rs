//! T5's small layers: the RMS layer norm and the (optionally gated) feed-forward block.

// Fields carry PyTorch's attribute names (`SelfAttention`, `DenseReluDense`) so that the HF
// tensor names follow from the struct paths; the Module derive binds them as variables too.
#![allow(non_snake_case)]

use burn::Tensor;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::activation;

use super::config::{Activation, FeedForwardKind, T5Config};
use crate::forecaster::ModelError;
use crate::nn::{Linear, VarBuilder, dropout, gelu};

/// `T5LayerNorm`: RMS normalisation (no mean subtraction, no bias), then a learned scale.
#[derive(Module, Debug)]
pub struct T5LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub eps: f64,
}

impl T5LayerNorm {
    pub fn load(vb: &VarBuilder<'_>, d: usize, eps: f64) -> Result<Self, ModelError> {
        Ok(Self {
            weight: vb.get("weight", [d])?,
            eps,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        crate::kernels::rms_norm(x, self.weight.val(), self.eps)
    }
}

fn activate<const D: usize>(act: Activation, x: Tensor<D>) -> Tensor<D> {
    match act {
        Activation::Relu => activation::relu(x),
        Activation::Gelu => gelu(x),
        Activation::GeluNew => activation::gelu_approximate(x),
        Activation::Silu => activation::silu(x),
    }
}

/// `T5DenseActDense` (`wi`) or `T5DenseGatedActDense` (`wi_0` activated times `wi_1`), then
/// dropout and `wo`. Both are saved under the name `DenseReluDense`.
#[derive(Module, Debug)]
pub struct DenseActDense {
    pub wi: Option<Linear>,
    pub wi_0: Option<Linear>,
    pub wi_1: Option<Linear>,
    pub wo: Linear,
    pub dropout: Dropout,
    #[module(skip)]
    pub activation: Activation,
}

impl DenseActDense {
    pub fn load(
        vb: &VarBuilder<'_>,
        cfg: &T5Config,
        kind: FeedForwardKind,
    ) -> Result<Self, ModelError> {
        let (d, ff) = (cfg.d_model, cfg.d_ff);
        let (wi, wi_0, wi_1) = if kind.gated {
            (
                None,
                Some(Linear::load_no_bias(&vb.pp("wi_0"), d, ff)?),
                Some(Linear::load_no_bias(&vb.pp("wi_1"), d, ff)?),
            )
        } else {
            (Some(Linear::load_no_bias(&vb.pp("wi"), d, ff)?), None, None)
        };
        Ok(Self {
            wi,
            wi_0,
            wi_1,
            wo: Linear::load_no_bias(&vb.pp("wo"), ff, d)?,
            dropout: DropoutConfig::new(cfg.dropout_rate).init(),
            activation: kind.activation,
        })
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = match (&self.wi, &self.wi_0, &self.wi_1) {
            (Some(wi), _, _) => activate(self.activation, wi.forward(x)),
            (None, Some(w0), Some(w1)) => {
                activate(self.activation, w0.forward(x.clone())) * w1.forward(x)
            }
            _ => unreachable!("load sets wi or both wi_0 and wi_1"),
        };
        self.wo.forward(dropout(&self.dropout, h))
    }
}

/// `T5LayerFF`: pre-norm feed-forward with a residual connection.
#[derive(Module, Debug)]
pub struct FeedForwardLayer {
    pub DenseReluDense: DenseActDense,
    pub layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

impl FeedForwardLayer {
    pub fn load(
        vb: &VarBuilder<'_>,
        cfg: &T5Config,
        kind: FeedForwardKind,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            DenseReluDense: DenseActDense::load(&vb.pp("DenseReluDense"), cfg, kind)?,
            layer_norm: T5LayerNorm::load(
                &vb.pp("layer_norm"),
                cfg.d_model,
                cfg.layer_norm_epsilon,
            )?,
            dropout: DropoutConfig::new(cfg.dropout_rate).init(),
        })
    }

    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let h = self
            .DenseReluDense
            .forward(self.layer_norm.forward(x.clone()));
        x + dropout(&self.dropout, h)
    }
}
