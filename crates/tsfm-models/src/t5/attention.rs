//! T5 attention: multi-head attention WITHOUT the `1/sqrt(d_kv)` scaling (T5 folds it into the
//! initialisation), a learned relative position bias owned by the first layer of each stack,
//! and the additive masks.
//!
//! Tensors inside attention are `[batch, heads, positions, d_kv]`.

// Fields carry PyTorch's attribute names (`SelfAttention`, `DenseReluDense`) so that the HF
// tensor names follow from the struct paths; the Module derive binds them as variables too.
#![allow(non_snake_case)]

use burn::Tensor;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Int, TensorData};

use super::config::T5Config;
use super::layers::T5LayerNorm;
use crate::forecaster::ModelError;
use crate::kernels::attention::PANEL;
use crate::kernels::{key_panels, panel_attention, softmax_biased};
use crate::nn::{Embedding, Linear, VarBuilder, dropout};

/// What transformers adds for a masked key (`torch.finfo(float32).min`, not `-inf`: a row with
/// every key masked then gets uniform weights instead of NaN, as in PyTorch).
pub const MASKED: f32 = f32::MIN;

/// `T5Attention._relative_position_bucket`: the bucket of `relative_position = key - query`.
///
/// Half the buckets (all of them when causal) hold exact distances below `max_exact`; larger
/// distances share logarithmically wider buckets up to `max_distance`. The logarithm is taken
/// in `f32`, as PyTorch does on the model's float tensors, so bucket edges match exactly.
pub fn relative_position_bucket(
    relative_position: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let mut num_buckets = num_buckets as i64;
    let mut bucket = 0i64;
    let distance = if bidirectional {
        num_buckets /= 2;
        if relative_position > 0 {
            bucket += num_buckets;
        }
        relative_position.abs()
    } else {
        // Causal: only keys at or before the query exist; later ones count as distance 0.
        (-relative_position).max(0)
    };
    let max_exact = num_buckets / 2;
    if distance < max_exact {
        bucket += distance;
    } else {
        let scale = ((max_distance as f64) / (max_exact as f64)).ln() as f32;
        let log_ratio = ((distance as f32) / (max_exact as f32)).ln() / scale;
        let large = max_exact + (log_ratio * (num_buckets - max_exact) as f32) as i64;
        bucket += large.min(num_buckets - 1);
    }
    bucket as usize
}

/// `T5Attention`: `q`, `k`, `v`, `o` projections without bias; `relative_attention_bias`
/// (`[num_buckets, num_heads]`) only in the first layer of a stack.
#[derive(Module, Debug)]
pub struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub relative_attention_bias: Option<Embedding>,
    /// Dropout on the attention weights.
    pub dropout: Dropout,
    #[module(skip)]
    pub num_heads: usize,
    #[module(skip)]
    pub d_kv: usize,
    #[module(skip)]
    pub num_buckets: usize,
    #[module(skip)]
    pub max_distance: usize,
}

impl Attention {
    pub fn load(
        vb: &VarBuilder<'_>,
        cfg: &T5Config,
        has_relative_attention_bias: bool,
    ) -> Result<Self, ModelError> {
        let (d, inner) = (cfg.d_model, cfg.inner_dim());
        Ok(Self {
            q: Linear::load_no_bias(&vb.pp("q"), d, inner)?,
            k: Linear::load_no_bias(&vb.pp("k"), d, inner)?,
            v: Linear::load_no_bias(&vb.pp("v"), d, inner)?,
            o: Linear::load_no_bias(&vb.pp("o"), inner, d)?,
            relative_attention_bias: has_relative_attention_bias
                .then(|| {
                    Embedding::load(
                        &vb.pp("relative_attention_bias"),
                        cfg.relative_attention_num_buckets,
                        cfg.num_heads,
                    )
                })
                .transpose()?,
            dropout: DropoutConfig::new(cfg.dropout_rate).init(),
            num_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
            num_buckets: cfg.relative_attention_num_buckets,
            max_distance: cfg.relative_attention_max_distance,
        })
    }

    /// `compute_bias`: `[1, heads, q_len, k_len]` for queries at positions
    /// `q_start..q_start + q_len` and keys at `0..k_len`. Only the layer that owns
    /// `relative_attention_bias` can compute it; later layers reuse it.
    pub fn position_bias(
        &self,
        q_start: usize,
        q_len: usize,
        k_len: usize,
        bidirectional: bool,
    ) -> Tensor<4> {
        let table = self
            .relative_attention_bias
            .as_ref()
            .expect("position_bias is computed by the first layer of a stack");
        let mut buckets = Vec::with_capacity(q_len * k_len);
        for i in q_start..q_start + q_len {
            for j in 0..k_len {
                let rel = j as i64 - i as i64;
                let b = relative_position_bucket(
                    rel,
                    bidirectional,
                    self.num_buckets,
                    self.max_distance,
                );
                buckets.push(b as i64);
            }
        }
        let device = table.weight.device();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(buckets, [q_len * k_len]), &device);
        table
            .forward(ids)
            .reshape([q_len, k_len, self.num_heads])
            .permute([2, 0, 1])
            .unsqueeze::<4>()
    }

    /// `[batch, t, inner]` -> `[batch, heads, t, d_kv]`.
    pub fn split_heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, t, _] = x.dims();
        x.reshape([b, t, self.num_heads, self.d_kv]).swap_dims(1, 2)
    }

    fn merge_heads(&self, x: Tensor<4>) -> Tensor<3> {
        let [b, h, t, dk] = x.dims();
        x.swap_dims(1, 2).reshape([b, t, h * dk])
    }

    /// Unscaled dot-product attention of `q` over the keys `key_t` (transposed:
    /// `[batch, heads, d_kv, k]`) and values `v` with an additive `bias` (position bias and/or
    /// mask, broadcast over the batch and heads), then the output projection.
    fn attend(&self, q: Tensor<4>, key_t: Tensor<4>, v: Tensor<4>, bias: Tensor<4>) -> Tensor<3> {
        let weights = dropout(&self.dropout, softmax_biased(q.matmul(key_t), bias));
        self.o.forward(self.merge_heads(weights.matmul(v)))
    }

    /// Keys and values of `x` (`[batch, t, d_model]`), split into heads.
    pub fn key_values(&self, x: Tensor<3>) -> (Tensor<4>, Tensor<4>) {
        (
            self.split_heads(self.k.forward(x.clone())),
            self.split_heads(self.v.forward(x)),
        )
    }
}

/// Self-attention keys and values of one decoder layer for the positions decoded so far,
/// `[rows, heads, capacity, d_kv]` of which the first `len` positions are filled.
///
/// Decoding appends one position per step: with room reserved up front the new keys and
/// values are written in place (`slice_assign` on buffers nothing else holds between steps),
/// where concatenating would copy the whole cache every step (quadratic in the horizon).
#[derive(Debug, Clone)]
pub struct LayerCache {
    key: Tensor<4>,
    value: Tensor<4>,
    len: usize,
}

impl LayerCache {
    /// `past` extended by `key`/`value` (`[rows, heads, q, d_kv]`), with room for at least
    /// `reserve` positions in all.
    pub fn append(
        past: Option<LayerCache>,
        key: Tensor<4>,
        value: Tensor<4>,
        reserve: usize,
    ) -> Self {
        let [rows, heads, q_len, d_kv] = key.dims();
        let (len, capacity) = match &past {
            Some(p) => (p.len, p.key.dims()[2]),
            None => (0, 0),
        };
        let needed = len + q_len;
        if needed <= capacity {
            let past = past.expect("capacity comes from a cache");
            let at = [0..rows, 0..heads, len..needed, 0..d_kv];
            return Self {
                key: past.key.slice_assign(at.clone(), key),
                value: past.value.slice_assign(at, value),
                len: needed,
            };
        }
        let capacity = reserve.max(needed);
        // The filled part (if any), the new positions, then zeros up to the capacity.
        let grow = |old: Option<Tensor<4>>, new: Tensor<4>| {
            let mut parts: Vec<Tensor<4>> = old.into_iter().collect();
            parts.push(new);
            if capacity > needed {
                let device = parts[0].device();
                parts.push(Tensor::zeros(
                    [rows, heads, capacity - needed, d_kv],
                    &device,
                ));
            }
            match parts.len() {
                1 => parts.pop().expect("one part"),
                _ => Tensor::cat(parts, 2),
            }
        };
        let (old_key, old_value) = match past {
            Some(p) => (Some(p.keys()), Some(p.values())),
            None => (None, None),
        };
        Self {
            key: grow(old_key, key),
            value: grow(old_value, value),
            len: needed,
        }
    }

    /// The keys of the positions so far, `[rows, heads, len, d_kv]` (a view).
    pub fn keys(&self) -> Tensor<4> {
        self.filled(&self.key)
    }

    /// The values of the positions so far, `[rows, heads, len, d_kv]` (a view).
    pub fn values(&self) -> Tensor<4> {
        self.filled(&self.value)
    }

    fn filled(&self, t: &Tensor<4>) -> Tensor<4> {
        if t.dims()[2] == self.len {
            t.clone()
        } else {
            t.clone().narrow(2, 0, self.len)
        }
    }
}

/// `T5LayerSelfAttention`: pre-norm self-attention with a residual connection.
#[derive(Module, Debug)]
pub struct SelfAttentionLayer {
    pub SelfAttention: Attention,
    pub layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

impl SelfAttentionLayer {
    pub fn load(
        vb: &VarBuilder<'_>,
        cfg: &T5Config,
        has_relative_attention_bias: bool,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            SelfAttention: Attention::load(
                &vb.pp("SelfAttention"),
                cfg,
                has_relative_attention_bias,
            )?,
            layer_norm: T5LayerNorm::load(
                &vb.pp("layer_norm"),
                cfg.d_model,
                cfg.layer_norm_epsilon,
            )?,
            dropout: DropoutConfig::new(cfg.dropout_rate).init(),
        })
    }

    /// `x` attends to itself and, in a decoder, to the `past` positions cached before it.
    /// `bias` is `[1|batch, heads, q, k]`. Returns the output and the keys/values of every
    /// position so far (`past` + `x`, room for `reserve` positions), the cache for the next
    /// step.
    pub fn forward(
        &self,
        x: Tensor<3>,
        bias: Tensor<4>,
        past: Option<LayerCache>,
        reserve: usize,
    ) -> (Tensor<3>, LayerCache) {
        let attn = &self.SelfAttention;
        let [rows, q_len, _] = x.dims();
        let normed = self.layer_norm.forward(x.clone());
        let q = attn.q.forward(normed.clone());
        let (key, value) = attn.key_values(normed);
        // The kernel's shapes: many queries, heads a whole number of panels wide.
        let whole_sequence = past.is_none() && q_len >= PANEL && attn.d_kv.is_multiple_of(PANEL);
        let cache = LayerCache::append(past, key, value, reserve);
        let out = if whole_sequence && !x.device().is_autodiff() {
            // An encoder (or a whole decoder sequence) in inference: the keys as panels, the
            // scores, biased softmax and values per row and head in one pass, the heads in
            // place for `o` (no `[rows, heads, t, t]` scores tensor, no dropout).
            let (heads, d_kv) = (attn.num_heads, attn.d_kv);
            let panels = key_panels(cache.keys().swap_dims(2, 3));
            let q = q.reshape([rows, q_len, heads, d_kv]);
            let out = panel_attention(q, panels, cache.values(), bias);
            attn.o.forward(out.reshape([rows, q_len, heads * d_kv]))
        } else {
            let q = attn.split_heads(q);
            attn.attend(q, cache.keys().swap_dims(2, 3), cache.values(), bias)
        };
        (x + dropout(&self.dropout, out), cache)
    }
}

/// The keys of one decoder layer's cross-attention.
#[derive(Debug, Clone)]
pub enum CrossKeys {
    /// Transposed, `[series, heads, d_kv, t_enc]`, as the whole decoder reads them at once.
    Transposed(Tensor<4>),
    /// As panels of [`PANEL`] positions, `[series, heads, blocks, d_kv, PANEL]` (the last
    /// panel padded with zeros), for decoding steps ([`panel_attention`]).
    Panels(Tensor<5>),
}

/// Cross-attention keys and values of one decoder layer, one row per series: the values
/// `[series, heads, t_enc, d_kv]`.
#[derive(Debug, Clone)]
pub struct CrossKv {
    pub keys: CrossKeys,
    pub value: Tensor<4>,
}

impl CrossKv {
    /// The same keys laid out for many decoding steps: as panels, stored contiguously, so
    /// every step streams them in order. Burn's matmul over the transposed keys was a GEMM
    /// call per series and head that strode through them (with the values and the softmax,
    /// a fifth of a Chronos-T5 sampling call).
    pub fn for_decoding(self) -> Self {
        let CrossKeys::Transposed(key_t) = self.keys else {
            return self;
        };
        Self {
            keys: CrossKeys::Panels(key_panels(key_t)),
            value: self.value,
        }
    }

    /// The keys transposed, `[series, heads, d_kv, t_enc]`, whatever their layout.
    pub fn key_t(&self) -> Tensor<4> {
        match &self.keys {
            CrossKeys::Transposed(key_t) => key_t.clone(),
            CrossKeys::Panels(panels) => {
                let [series, heads, blocks, d_kv, panel] = panels.dims();
                panels
                    .clone()
                    .permute([0, 1, 3, 2, 4])
                    .reshape([series, heads, d_kv, blocks * panel])
                    .narrow(3, 0, self.value.dims()[2])
            }
        }
    }
}

/// `T5LayerCrossAttention`: pre-norm attention over the encoder output (no position bias,
/// only the encoder mask), residual connection.
#[derive(Module, Debug)]
pub struct CrossAttentionLayer {
    pub EncDecAttention: Attention,
    pub layer_norm: T5LayerNorm,
    pub dropout: Dropout,
}

impl CrossAttentionLayer {
    pub fn load(vb: &VarBuilder<'_>, cfg: &T5Config) -> Result<Self, ModelError> {
        Ok(Self {
            EncDecAttention: Attention::load(&vb.pp("EncDecAttention"), cfg, false)?,
            layer_norm: T5LayerNorm::load(
                &vb.pp("layer_norm"),
                cfg.d_model,
                cfg.layer_norm_epsilon,
            )?,
            dropout: DropoutConfig::new(cfg.dropout_rate).init(),
        })
    }

    /// Keys and values of the encoder output, computed once per series.
    pub fn key_values(&self, encoder_hidden: Tensor<3>) -> CrossKv {
        let (key, value) = self.EncDecAttention.key_values(encoder_hidden);
        CrossKv {
            keys: CrossKeys::Transposed(key.swap_dims(2, 3)),
            value,
        }
    }

    /// `x` is `[series * samples, q, d_model]`, rows grouped by series (the samples of series
    /// `i` are rows `i * samples..(i + 1) * samples`); `kv` and `mask` (`[series, 1, 1, t_enc]`)
    /// hold one row per series. Cross-attention has no position bias, so the samples of a
    /// series are folded into its query axis and share its keys and values: nothing of the
    /// encoder is copied per sample.
    pub fn forward(&self, x: Tensor<3>, kv: &CrossKv, mask: &Tensor<4>) -> Tensor<3> {
        let attn = &self.EncDecAttention;
        let [rows, q_len, d] = x.dims();
        let series = kv.value.dims()[0];
        let samples = rows / series;
        let (heads, d_kv) = (attn.num_heads, attn.d_kv);
        let normed = self.layer_norm.forward(x.clone());
        let q = attn
            .q
            .forward(normed)
            .reshape([series, samples * q_len, heads, d_kv]);
        let out = match &kv.keys {
            // Decoding: no dropout on the weights, and the heads stay in place for `o`.
            CrossKeys::Panels(panels) if !x.device().is_autodiff() => {
                let out = panel_attention(q, panels.clone(), kv.value.clone(), mask.clone());
                attn.o
                    .forward(out.reshape([series, samples * q_len, heads * d_kv]))
            }
            _ => attn.attend(
                q.swap_dims(1, 2),
                kv.key_t(),
                kv.value.clone(),
                mask.clone(),
            ),
        };
        x + dropout(&self.dropout, out.reshape([rows, q_len, d]))
    }
}

/// `[batch, t]` 1/0 mask -> additive `[batch, 1, 1, t]`: 0 where attended, [`MASKED`] where not.
pub fn additive_mask(mask: Tensor<2>) -> Tensor<4> {
    let [b, t] = mask.dims();
    (mask.neg() + 1.0).mul_scalar(MASKED).reshape([b, 1, 1, t])
}

/// `[1, 1, q_len, k_len]`: [`MASKED`] where key `j` lies after query `q_start + i`.
pub fn causal_mask(
    q_start: usize,
    q_len: usize,
    k_len: usize,
    device: &burn::tensor::Device,
) -> Tensor<4> {
    let mut values = Vec::with_capacity(q_len * k_len);
    for i in q_start..q_start + q_len {
        for j in 0..k_len {
            values.push(if j > i { MASKED } else { 0.0 });
        }
    }
    Tensor::from_data(TensorData::new(values, [1, 1, q_len, k_len]), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_transformers_at_the_edges() {
        // transformers' `_relative_position_bucket(rel, num_buckets=32, max_distance=128)`.
        let bi = |r| relative_position_bucket(r, true, 32, 128);
        assert_eq!([bi(0), bi(1), bi(7), bi(-1), bi(-7)], [0, 17, 23, 1, 7]);
        // 8..128 share 8 log-spaced buckets: 8 -> 8, 16 -> 10, 32 -> 12, 64 -> 14, >= 128 -> 15.
        assert_eq!(
            [
                bi(-8),
                bi(-15),
                bi(-16),
                bi(-32),
                bi(-64),
                bi(-127),
                bi(-500)
            ],
            [8, 9, 10, 12, 14, 15, 15]
        );
        assert_eq!([bi(8), bi(16), bi(500)], [24, 26, 31]);
        let causal = |r| relative_position_bucket(r, false, 32, 128);
        // Keys after the query fall in bucket 0; 16 exact distances, then log buckets.
        assert_eq!(
            [causal(3), causal(0), causal(-15), causal(-16), causal(-32)],
            [0, 0, 15, 16, 21]
        );
        assert_eq!(causal(-1000), 31);
    }
}
