//! TTM's own layers: the norm wrapper, the two-layer MLP and the gated attention. Field names
//! are the PyTorch attribute names.

use burn::Tensor;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::activation;

use super::config::GateMode;
use crate::forecaster::ModelError;
use crate::nn::{LayerNorm, Linear, VarBuilder, dropout, gelu};

/// `TinyTimeMixerNormLayer`: a wrapper whose only child is `norm` (hence `norm.norm.weight`).
#[derive(Module, Debug)]
pub struct NormLayer {
    pub norm: LayerNorm,
}

impl NormLayer {
    pub fn load(vb: &VarBuilder<'_>, d: usize, eps: f64) -> Result<Self, ModelError> {
        Ok(Self {
            norm: LayerNorm::load(&vb.pp("norm"), d, eps)?,
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.norm.forward(x)
    }
}

/// `TinyTimeMixerMLP`: fc1 -> GELU -> dropout -> fc2 -> dropout.
#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: Linear,
    pub dropout1: Dropout,
    pub fc2: Linear,
    pub dropout2: Dropout,
}

impl Mlp {
    pub fn load(
        vb: &VarBuilder<'_>,
        d_in: usize,
        d_out: usize,
        expansion: usize,
        dropout: f64,
    ) -> Result<Self, ModelError> {
        let hidden = d_in * expansion;
        Ok(Self {
            fc1: Linear::load(&vb.pp("fc1"), d_in, hidden)?,
            dropout1: DropoutConfig::new(dropout).init(),
            fc2: Linear::load(&vb.pp("fc2"), hidden, d_out)?,
            dropout2: DropoutConfig::new(dropout).init(),
        })
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let x = dropout(&self.dropout1, gelu(self.fc1.forward(x)));
        dropout(&self.dropout2, self.fc2.forward(x))
    }
}

/// `TinyTimeMixerGatedAttention`: `x * softmax(W x + b)` over the last axis.
#[derive(Module, Debug)]
pub struct GatedAttention {
    pub attn_layer: Linear,
    #[module(skip)]
    pub mode: GateMode,
}

impl GatedAttention {
    pub fn load(vb: &VarBuilder<'_>, size: usize, mode: GateMode) -> Result<Self, ModelError> {
        Ok(Self {
            attn_layer: Linear::load(&vb.pp("attn_layer"), size, size)?,
            mode,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let logits = self.attn_layer.forward(x.clone());
        match self.mode {
            GateMode::Softmax => crate::kernels::softmax_gate(x, logits),
            GateMode::Sigmoid => x * activation::sigmoid(logits),
        }
    }
}
