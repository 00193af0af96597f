//! Chronos-2's multi-head attention (`MHA`): bias-free q/k/v/o projections, no `1/sqrt(d_kv)`
//! scaling (the Mesh-TensorFlow initialisation absorbs it), optional rotary positions, and
//! additive masks of `finfo(float32).min` rather than `-inf`, so a query that sees no key
//! stays finite (it averages every key uniformly, as the package's softmax does).
//!
//! Tensors inside attention are `[batch, heads, seq, d_kv]` (rotary positions apply before the
//! heads are split off, on `[batch, seq, heads, d_kv]`); "batch" and "seq" are rows and
//! tokens for time attention and the other way round for group attention.

use burn::Tensor;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::{Device, TensorData};

use super::config::Chronos2Core;
use crate::forecaster::ModelError;
use crate::kernels::{rope, softmax_biased};
use crate::nn::{Linear, VarBuilder, dropout};

/// The additive value of a hidden key: `torch.finfo(torch.float32).min`.
pub const HIDDEN: f32 = f32::MIN;

/// `Chronos2RotaryEmbedding` tables for positions `0..seq`: `cos`/`sin` of the frequencies,
/// `[1, seq, d_kv / 2]` (the package's tables are `cat(freqs, freqs)`: both halves the same).
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor<3>,
    sin: Tensor<3>,
}

impl Rope {
    /// Computed in f32 step by step as the package does (inverse frequencies, products,
    /// then `cos`/`sin`), so the tables are the same floats.
    pub fn new(seq: usize, d_kv: usize, theta: f64, device: &Device) -> Self {
        let half = d_kv / 2;
        let theta = theta as f32;
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| 1.0 / theta.powf((2 * i) as f32 / d_kv as f32))
            .collect();
        let angles = (0..seq).flat_map(|pos| inv_freq.iter().map(move |f| pos as f32 * f));
        let cos: Vec<f32> = angles.clone().map(f32::cos).collect();
        let sin: Vec<f32> = angles.map(f32::sin).collect();
        let t = |v| Tensor::<3>::from_data(TensorData::new(v, [1, seq, half]), device);
        Self {
            cos: t(cos),
            sin: t(sin),
        }
    }

    /// `x cos + rotate_half(x) sin`, `rotate_half(x) = cat(-x2, x1)`, on `x` `[batch, seq,
    /// heads, d_kv]`.
    fn apply(&self, x: Tensor<4>) -> Tensor<4> {
        rope(x, self.cos.clone(), self.sin.clone())
    }

    /// The tables of the last `n` positions only.
    fn last(&self, n: usize) -> Self {
        let seq = self.cos.dims()[1];
        Self {
            cos: self.cos.clone().narrow(1, seq - n, n),
            sin: self.sin.clone().narrow(1, seq - n, n),
        }
    }
}

/// `MHA`: `q`, `k`, `v`, `o` without bias; dropout on the attention weights in training.
#[derive(Module, Debug)]
pub struct Mha {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub dropout: Dropout,
    #[module(skip)]
    pub num_heads: usize,
    #[module(skip)]
    pub d_kv: usize,
}

impl Mha {
    pub fn load(vb: &VarBuilder<'_>, cfg: &Chronos2Core) -> Result<Self, ModelError> {
        let (d, inner) = (cfg.d_model, cfg.inner_dim());
        Ok(Self {
            q: Linear::load_no_bias(&vb.pp("q"), d, inner)?,
            k: Linear::load_no_bias(&vb.pp("k"), d, inner)?,
            v: Linear::load_no_bias(&vb.pp("v"), d, inner)?,
            o: Linear::load_no_bias(&vb.pp("o"), inner, d)?,
            dropout: DropoutConfig::new(cfg.dropout_rate).init(),
            num_heads: cfg.num_heads,
            d_kv: cfg.d_kv,
        })
    }

    /// `[batch, seq, inner]` -> `[batch, seq, heads, d_kv]` (a view).
    fn heads(&self, x: Tensor<3>) -> Tensor<4> {
        let [b, s, _] = x.dims();
        x.reshape([b, s, self.num_heads, self.d_kv])
    }

    /// Self-attention of `x` `[batch, seq, d_model]` with an additive `mask` broadcastable to
    /// `[batch, heads, seq, seq]` and, for time attention, rotary positions. Returns the
    /// projected output and the softmax weights `[batch, heads, seq, seq]`.
    pub fn forward(
        &self,
        x: Tensor<3>,
        mask: Tensor<4>,
        rope: Option<&Rope>,
    ) -> (Tensor<3>, Tensor<4>) {
        let [b, s, _] = x.dims();
        let q = self.heads(self.q.forward(x.clone()));
        let k = self.heads(self.k.forward(x.clone()));
        let v = self.heads(self.v.forward(x)).swap_dims(1, 2);
        // Rotated before the heads are split off: the projections' own buffers, in place.
        let (q, k) = match rope {
            Some(r) => (r.apply(q), r.apply(k)),
            None => (q, k),
        };
        let (q, k) = (q.swap_dims(1, 2), k.swap_dims(1, 2));
        let weights = softmax_biased(q.matmul(k.swap_dims(2, 3)), mask);
        let attended = dropout(&self.dropout, weights.clone()).matmul(v);
        let out = attended
            .swap_dims(1, 2)
            .reshape([b, s, self.num_heads * self.d_kv]);
        (self.o.forward(out), weights)
    }

    /// Rotary self-attention whose output is wanted at the last `keep` positions only (the
    /// encoder's last block, whose other states nothing reads): keys and values of every
    /// position, queries, weights and the output projection of those `keep` alone. Each query
    /// row is computed as in [`forward`](Self::forward), so the result is the last `keep` rows
    /// of its output. Inference only, as `forward_single_key`.
    pub fn forward_last(
        &self,
        x: Tensor<3>,
        keep: usize,
        mask: Tensor<4>,
        rope: &Rope,
    ) -> Tensor<3> {
        debug_assert!(!x.device().is_autodiff());
        let [b, s, _] = x.dims();
        let keep = keep.min(s);
        let q = self.heads(self.q.forward(x.clone().narrow(1, s - keep, keep)));
        let k = self.heads(self.k.forward(x.clone()));
        let v = self.heads(self.v.forward(x)).swap_dims(1, 2);
        let (q, k) = (rope.last(keep).apply(q), rope.apply(k));
        let (q, k) = (q.swap_dims(1, 2), k.swap_dims(1, 2));
        let attended = softmax_biased(q.matmul(k.swap_dims(2, 3)), mask).matmul(v);
        let out = attended
            .swap_dims(1, 2)
            .reshape([b, keep, self.num_heads * self.d_kv]);
        self.o.forward(out)
    }

    /// Self-attention where every query has a single key, its own position (a group of one
    /// row): the softmax over one score is exactly 1 whatever the score or its mask, so the
    /// result is the output projection of the value projection, bit for bit, and `q`/`k`
    /// (half of the projections' multiply-adds) need not run. Inference only: in training the
    /// weights' dropout draws from the dropout stream, and `q`/`k` get (zero) gradients.
    pub fn forward_single_key(&self, x: Tensor<3>) -> Tensor<3> {
        debug_assert!(!x.device().is_autodiff());
        self.o.forward(self.v.forward(x))
    }
}

/// `_expand_and_invert_time_attention_mask`: `[batch, 1, 1, seq]`, 0 where a token is
/// visible and [`HIDDEN`] where not.
pub fn time_mask(attention_mask: Tensor<2>) -> Tensor<4> {
    let [b, s] = attention_mask.dims();
    (attention_mask.neg() + 1.0)
        .mul_scalar(HIDDEN)
        .reshape([b, 1, 1, s])
}

/// `_construct_and_invert_group_time_mask`: `[seq, 1, batch, batch]`; query row `q` sees key
/// row `k` at token `t` when both are in the same group and row `k`'s token `t` is observed.
pub fn group_mask(group_ids: &[i64], attention_mask: Tensor<2>) -> Tensor<4> {
    let [b, s] = attention_mask.dims();
    let same: Vec<f32> = group_ids
        .iter()
        .flat_map(|q| group_ids.iter().map(move |k| f32::from(u8::from(q == k))))
        .collect();
    let same = Tensor::<3>::from_data(TensorData::new(same, [1, b, b]), &attention_mask.device());
    // [seq, 1 (query), batch (key)] times [1, query, key].
    let visible = attention_mask.swap_dims(0, 1).reshape([s, 1, b]) * same;
    (visible.neg() + 1.0)
        .mul_scalar(HIDDEN)
        .reshape([s, 1, b, b])
}

/// The group mask when the rows are consecutive runs of `g` rows, one group each, and
/// attention runs within each run: `[tokens * runs, 1, 1, g]` (token-major, as
/// `[rows, tokens, d] -> [tokens, rows, d] -> [tokens * runs, g, d]` orders the runs), 0 where
/// the key row observes the token and [`HIDDEN`] where not.
pub fn block_group_mask(attention_mask: Tensor<2>, g: usize) -> Tensor<4> {
    let [b, s] = attention_mask.dims();
    (attention_mask.swap_dims(0, 1).neg() + 1.0)
        .mul_scalar(HIDDEN)
        .reshape([s * b / g, 1, 1, g])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn group_mask_combines_groups_and_observed_tokens() {
        let device = Device::flex();
        // Rows 0 and 1 in one group, row 2 alone; row 1's token 0 is missing.
        let am = Tensor::<2>::from_data([[1.0f32, 1.0], [0.0, 1.0], [1.0, 1.0]], &device);
        let m = vals(group_mask(&[5, 5, 7], am));
        let h = HIDDEN;
        // Token 0: query rows x key rows.
        assert_eq!(&m[0..9], &[0.0, h, h, 0.0, h, h, h, h, 0.0]);
        assert_eq!(&m[9..18], &[0.0, 0.0, h, 0.0, 0.0, h, h, h, 0.0]);
    }

    #[test]
    fn rope_rotates_pairs_of_halves_by_position() {
        let device = Device::flex();
        let rope = Rope::new(2, 2, 10000.0, &device);
        // d_kv 2: frequency 1, so position 1 rotates (x1, x2) by 1 radian.
        let x = Tensor::<4>::from_data(
            TensorData::new(vec![1.0f32, 0.0, 1.0, 0.0], [1, 2, 1, 2]),
            &device,
        );
        let r = vals(rope.apply(x));
        assert_eq!(&r[0..2], &[1.0, 0.0]);
        assert!(
            (r[2] - 1f32.cos()).abs() < 1e-7 && (r[3] - 1f32.sin()).abs() < 1e-7,
            "{r:?}"
        );
    }
}
