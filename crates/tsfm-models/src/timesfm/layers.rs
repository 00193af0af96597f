//! TimesFM's small layers: RMS norm with a plain `scale`, the residual block (tokenizer and
//! output heads) and the activations the definition names. Field names are the official
//! module's attribute names, so tensor names follow from the struct paths.

use burn::Tensor;
use burn::module::{Module, Param};
use burn::tensor::activation;

use super::config::ResidualBlockConfig;
use crate::forecaster::ModelError;
use crate::nn::{Linear, VarBuilder};

/// `relu`, `swish` (SiLU) or `none`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Activation {
    Relu,
    #[default]
    Swish,
    Identity,
}

impl Activation {
    /// The definition's name (validated before loading).
    pub fn from_name(name: &str) -> Self {
        match name {
            "relu" => Self::Relu,
            "none" => Self::Identity,
            _ => Self::Swish,
        }
    }

    pub fn apply<const D: usize>(self, x: Tensor<D>) -> Tensor<D> {
        match self {
            Self::Relu => activation::relu(x),
            Self::Swish => activation::silu(x),
            Self::Identity => x,
        }
    }
}

/// `nn.Linear` with or without bias.
pub fn linear(
    vb: &VarBuilder<'_>,
    d_in: usize,
    d_out: usize,
    bias: bool,
) -> Result<Linear, ModelError> {
    if bias {
        Linear::load(vb, d_in, d_out)
    } else {
        Linear::load_no_bias(vb, d_in, d_out)
    }
}

/// `normalization.RMSNorm`: `x / sqrt(mean(x^2) + 1e-6) * scale` (the scale is used as
/// stored, not as `1 + scale`).
#[derive(Module, Debug)]
pub struct RmsNorm {
    pub scale: Param<Tensor<1>>,
}

/// The package's RMS norm epsilon.
const RMS_EPS: f64 = 1e-6;

impl RmsNorm {
    pub fn load(vb: &VarBuilder<'_>, d: usize) -> Result<Self, ModelError> {
        Ok(Self {
            scale: vb.get("scale", [d])?,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        crate::kernels::rms_norm(x, self.scale.val(), RMS_EPS)
    }
}

/// `dense.ResidualBlock`: `output_layer(act(hidden_layer(x))) + residual_layer(x)`.
#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub hidden_layer: Linear,
    pub output_layer: Linear,
    pub residual_layer: Linear,
    #[module(skip)]
    pub activation: Activation,
}

impl ResidualBlock {
    pub fn load(vb: &VarBuilder<'_>, cfg: &ResidualBlockConfig) -> Result<Self, ModelError> {
        let (i, h, o, bias) = (
            cfg.input_dims,
            cfg.hidden_dims,
            cfg.output_dims,
            cfg.use_bias,
        );
        Ok(Self {
            hidden_layer: linear(&vb.pp("hidden_layer"), i, h, bias)?,
            output_layer: linear(&vb.pp("output_layer"), h, o, bias)?,
            residual_layer: linear(&vb.pp("residual_layer"), i, o, bias)?,
            activation: Activation::from_name(&cfg.activation),
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let hidden = self.activation.apply(self.hidden_layer.forward(x.clone()));
        self.output_layer.forward(hidden) + self.residual_layer.forward(x)
    }
}
