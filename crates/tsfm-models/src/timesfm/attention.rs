//! TimesFM 2.5 self-attention: fused QKV, rotary positions counted from the first unpadded
//! patch, RMS-normed queries and keys, a learned per-dimension query scale instead of
//! `1/sqrt(d)`, and a causal mask that also hides leading padded patches. A query that sees no
//! key (a padded patch) gets a zero output, as PyTorch's SDPA gives it.
//!
//! Tensors inside attention are `[batch, heads, patches, head_dim]`.

use burn::Tensor;
use burn::module::{Module, Param};
use burn::tensor::activation::softplus;
use burn::tensor::{Device, TensorData};

use super::config::TransformerConfig;
use super::layers::{RmsNorm, linear};
use crate::forecaster::ModelError;
use crate::kernels::{rope, softmax_biased};
use crate::nn::{Linear, VarBuilder};

/// Added to a hidden score: finite, so a row with nothing visible stays finite (it is zeroed).
const HIDDEN: f32 = -1e30;
/// `PerDimScale`: `1.442695041 / sqrt(head_dim) * softplus(per_dim_scale)` (the package's
/// literal, kept as written rather than `LOG2_E`).
#[allow(clippy::approx_constant)]
const PER_DIM_SCALE: f64 = 1.442695041;

/// Where each patch of a call sits: rotary tables and the visibility mask, shared by all
/// layers of one forward pass.
#[derive(Debug, Clone)]
pub struct AttentionContext {
    /// `[batch, patches, head_dim / 2]`.
    cos: Tensor<3>,
    sin: Tensor<3>,
    /// `[batch, 1, patches, keys]`: 0 where visible, [`HIDDEN`] where not.
    bias: Tensor<4>,
    /// `[batch, 1, patches, 1]`: 1 where a query sees at least one key.
    any_visible: Tensor<4>,
}

impl AttentionContext {
    /// For `patches` new patches per row after `cached` earlier ones; `masked[b]` counts row
    /// `b`'s padded patches so far (these calls' included; padding only ever leads).
    pub fn new(
        masked: &[usize],
        cached: usize,
        patches: usize,
        head_dim: usize,
        device: &Device,
    ) -> Self {
        let b = masked.len();
        let half = head_dim / 2;
        let keys = cached + patches;
        let timescale: Vec<f32> = (0..half)
            .map(|i| 10000f32.powf((2 * i) as f32 / head_dim as f32))
            .collect();
        let (mut cos, mut sin) = (
            Vec::with_capacity(b * patches * half),
            Vec::with_capacity(b * patches * half),
        );
        let mut bias = Vec::with_capacity(b * patches * keys);
        let mut any = Vec::with_capacity(b * patches);
        for &m in masked {
            for i in 0..patches {
                let position = (cached + i) as f32 - m as f32;
                for t in &timescale {
                    let angle = position / t;
                    cos.push(angle.cos());
                    sin.push(angle.sin());
                }
                let q = cached + i;
                let mut seen = false;
                for k in 0..keys {
                    let visible = q >= k && k >= m;
                    seen |= visible;
                    bias.push(if visible { 0.0 } else { HIDDEN });
                }
                any.push(if seen { 1.0f32 } else { 0.0 });
            }
        }
        let t = |v: Vec<f32>, shape: [usize; 4]| {
            Tensor::<4>::from_data(TensorData::new(v, shape), device)
        };
        let table =
            |v: Vec<f32>| Tensor::<3>::from_data(TensorData::new(v, [b, patches, half]), device);
        Self {
            cos: table(cos),
            sin: table(sin),
            bias: t(bias, [b, 1, patches, keys]),
            any_visible: t(any, [b, 1, patches, 1]),
        }
    }

    /// `RotaryPositionalEmbedding`: halves rotated against each other, on `x` `[batch,
    /// patches, heads, head_dim]`.
    fn rotate(&self, x: Tensor<4>) -> Tensor<4> {
        rope(x, self.cos.clone(), self.sin.clone())
    }
}

/// Keys and values of one layer for the patches decoded so far.
#[derive(Debug, Clone)]
pub struct LayerCache {
    pub key: Tensor<4>,
    pub value: Tensor<4>,
}

/// `PerDimScale`.
#[derive(Module, Debug)]
pub struct PerDimScale {
    pub per_dim_scale: Param<Tensor<1>>,
}

/// `MultiHeadAttention` (fused or separate q/k/v projections).
#[derive(Module, Debug)]
pub struct MultiHeadAttention {
    pub qkv_proj: Option<Linear>,
    pub query: Option<Linear>,
    pub key: Option<Linear>,
    pub value: Option<Linear>,
    pub out: Linear,
    pub query_ln: Option<RmsNorm>,
    pub key_ln: Option<RmsNorm>,
    pub per_dim_scale: PerDimScale,
    #[module(skip)]
    pub num_heads: usize,
    #[module(skip)]
    pub rotary: bool,
}

impl MultiHeadAttention {
    pub fn load(vb: &VarBuilder<'_>, cfg: &TransformerConfig) -> Result<Self, ModelError> {
        let (d, bias) = (cfg.model_dims, cfg.use_bias);
        let hd = d / cfg.num_heads;
        let separate = |name: &str| {
            (!cfg.fuse_qkv)
                .then(|| linear(&vb.pp(name), d, d, bias))
                .transpose()
        };
        let norm = |name: &str| {
            (cfg.qk_norm == "rms")
                .then(|| RmsNorm::load(&vb.pp(name), hd))
                .transpose()
        };
        Ok(Self {
            qkv_proj: cfg
                .fuse_qkv
                .then(|| linear(&vb.pp("qkv_proj"), d, 3 * d, bias))
                .transpose()?,
            query: separate("query")?,
            key: separate("key")?,
            value: separate("value")?,
            out: linear(&vb.pp("out"), d, d, bias)?,
            query_ln: norm("query_ln")?,
            key_ln: norm("key_ln")?,
            per_dim_scale: PerDimScale {
                per_dim_scale: vb.pp("per_dim_scale").get("per_dim_scale", [hd])?,
            },
            num_heads: cfg.num_heads,
            rotary: cfg.use_rotary_position_embeddings,
        })
    }

    /// `[batch, patches, d]` -> `[batch, heads, patches, head_dim]`.
    fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, n, d] = x.dims();
        x.reshape([b, n, self.num_heads, d / self.num_heads])
            .swap_dims(1, 2)
    }

    fn project_qkv(&self, x: Tensor<3>) -> [Tensor<3>; 3] {
        match &self.qkv_proj {
            Some(fused) => {
                let qkv = fused.forward(x);
                let d = qkv.dims()[2] / 3;
                [0, 1, 2].map(|i| qkv.clone().narrow(2, i * d, d))
            }
            None => [&self.query, &self.key, &self.value]
                .map(|l| l.as_ref().expect("separate projections").forward(x.clone())),
        }
    }

    /// Attention of `x`'s patches over themselves and, with a cache, over the patches before
    /// them (the slot is filled on the first call and grows on each later one).
    pub fn forward(
        &self,
        x: Tensor<3>,
        ctx: &AttentionContext,
        cache: Option<&mut Option<LayerCache>>,
    ) -> Tensor<3> {
        let n = x.dims()[1];
        self.forward_last(x, ctx, cache, n)
    }

    /// The same, returning the last `keep` patches' outputs only: the keys and values of
    /// every patch are computed (and cached) as by `forward`, the weights and the output
    /// projection only for the last `keep` queries, each the same row as `forward`'s.
    /// More than the patches there are means all of them.
    pub fn forward_last(
        &self,
        x: Tensor<3>,
        ctx: &AttentionContext,
        cache: Option<&mut Option<LayerCache>>,
        keep: usize,
    ) -> Tensor<3> {
        let [b, n, d] = x.dims();
        let keep = keep.min(n);
        let [q, k, v] = self.project_qkv(x);
        let (mut q, mut k) = if self.rotary {
            // Rotated before the heads are split off (the kernel's layout).
            let heads = |t: Tensor<3>| t.reshape([b, n, self.num_heads, d / self.num_heads]);
            let rotated = |t| ctx.rotate(heads(t)).swap_dims(1, 2);
            (rotated(q), rotated(k))
        } else {
            (self.split_heads(q), self.split_heads(k))
        };
        let v = self.split_heads(v);
        let from = n - keep;
        if keep < n {
            q = q.narrow(2, from, keep);
        }
        if let (Some(qn), Some(kn)) = (&self.query_ln, &self.key_ln) {
            q = qn.forward(q);
            k = kn.forward(k);
        }
        let hd = d / self.num_heads;
        let scale = softplus(self.per_dim_scale.per_dim_scale.val(), 1.0)
            * (PER_DIM_SCALE / (hd as f64).sqrt());
        q = q * scale.reshape([1, 1, 1, hd]);
        let (k, v) = match cache {
            None => (k, v),
            Some(slot) => {
                let (key, value) = match slot.take() {
                    None => (k, v),
                    Some(c) => (
                        Tensor::cat(vec![c.key, k], 2),
                        Tensor::cat(vec![c.value, v], 2),
                    ),
                };
                *slot = Some(LayerCache {
                    key: key.clone(),
                    value: value.clone(),
                });
                (key, value)
            }
        };
        let (bias, any_visible) = if keep < n {
            (
                ctx.bias.clone().narrow(2, from, keep),
                ctx.any_visible.clone().narrow(2, from, keep),
            )
        } else {
            (ctx.bias.clone(), ctx.any_visible.clone())
        };
        let weights = softmax_biased(q.matmul(k.swap_dims(2, 3)), bias);
        let attended = weights.matmul(v) * any_visible;
        self.out
            .forward(attended.swap_dims(1, 2).reshape([b, keep, d]))
    }
}
