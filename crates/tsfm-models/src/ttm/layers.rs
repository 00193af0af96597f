//! The small layers TTM is built from: linear, layer norm, embedding, the two-layer MLP and the
//! gated attention. Field names are the PyTorch attribute names.

use burn::Tensor;
use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::Int;
use burn::tensor::activation;
use burn::tensor::module::{layer_norm, linear};

use super::config::GateMode;
use super::weights::VarBuilder;
use crate::forecaster::ModelError;

/// `nn.Linear`; `weight` is held as `[in, out]` (see `weights.rs`).
#[derive(Module, Debug)]
pub struct Linear {
    pub weight: Param<Tensor<2>>,
    pub bias: Param<Tensor<1>>,
}

impl Linear {
    pub fn load(vb: &VarBuilder<'_>, d_in: usize, d_out: usize) -> Result<Self, ModelError> {
        Ok(Self {
            weight: vb.get_linear_weight("weight", d_in, d_out)?,
            bias: vb.get("bias", [d_out])?,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        linear(x, self.weight.val(), Some(self.bias.val()))
    }
}

/// `nn.LayerNorm` over the last axis.
#[derive(Module, Debug)]
pub struct LayerNorm {
    pub weight: Param<Tensor<1>>,
    pub bias: Param<Tensor<1>>,
    pub eps: f64,
}

impl LayerNorm {
    pub fn load(vb: &VarBuilder<'_>, d: usize, eps: f64) -> Result<Self, ModelError> {
        Ok(Self {
            weight: vb.get("weight", [d])?,
            bias: vb.get("bias", [d])?,
            eps,
        })
    }

    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        layer_norm(x, self.weight.val(), Some(self.bias.val()), self.eps)
    }
}

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

/// `nn.Embedding`.
#[derive(Module, Debug)]
pub struct Embedding {
    pub weight: Param<Tensor<2>>,
}

impl Embedding {
    pub fn load(vb: &VarBuilder<'_>, vocab: usize, d: usize) -> Result<Self, ModelError> {
        Ok(Self {
            weight: vb.get("weight", [vocab, d])?,
        })
    }

    /// `[batch]` ids -> `[batch, d]`.
    pub fn forward(&self, ids: Tensor<1, Int>) -> Tensor<2> {
        self.weight.val().select(0, ids)
    }
}

/// Exact (erf) GELU, as `nn.functional.gelu`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    activation::gelu(x)
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
        let x = self.dropout1.forward(gelu(self.fc1.forward(x)));
        self.dropout2.forward(self.fc2.forward(x))
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
        let gate = match self.mode {
            GateMode::Softmax => activation::softmax(logits, D - 1),
            GateMode::Sigmoid => activation::sigmoid(logits),
        };
        x * gate
    }
}
