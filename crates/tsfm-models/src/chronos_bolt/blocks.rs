//! `ResidualBlock`: the patch embedding on the way in and the quantile head on the way out.

use burn::Tensor;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::activation;

use crate::forecaster::ModelError;
use crate::nn::{Linear, VarBuilder, dropout};
use crate::t5::Activation;

/// `act(hidden_layer(x)) -> output_layer -> dropout`, plus `residual_layer(x)`. (The package's
/// optional layer norm is never switched on by Chronos-Bolt.)
#[derive(Module, Debug)]
pub struct ResidualBlock {
    pub hidden_layer: Linear,
    pub output_layer: Linear,
    pub residual_layer: Linear,
    pub dropout: Dropout,
    #[module(skip)]
    pub act: Activation,
}

impl ResidualBlock {
    pub fn load(
        vb: &VarBuilder<'_>,
        in_dim: usize,
        h_dim: usize,
        out_dim: usize,
        act: Activation,
        dropout_p: f64,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            hidden_layer: Linear::load(&vb.pp("hidden_layer"), in_dim, h_dim)?,
            output_layer: Linear::load(&vb.pp("output_layer"), h_dim, out_dim)?,
            residual_layer: Linear::load(&vb.pp("residual_layer"), in_dim, out_dim)?,
            dropout: DropoutConfig::new(dropout_p).init(),
            act,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let hid = apply(self.act, self.hidden_layer.forward(x.clone()));
        let out = dropout(&self.dropout, self.output_layer.forward(hid));
        out + self.residual_layer.forward(x)
    }
}

/// `ACT2FN[name](x)`.
pub fn apply<const D: usize>(act: Activation, x: Tensor<D>) -> Tensor<D> {
    match act {
        Activation::Relu => activation::relu(x),
        Activation::Gelu => crate::nn::gelu(x),
        Activation::GeluNew => activation::gelu_approximate(x),
        Activation::Silu => activation::silu(x),
    }
}
