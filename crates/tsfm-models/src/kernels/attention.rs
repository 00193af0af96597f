//! Attention of one new query per row over a key/value cache: the step of autoregressive
//! decoding. Through Burn each (row, head) pair is two matrix products with one row (a
//! thousand tiny GEMM calls per layer and step, each paying the GEMM's set-up); here it is one
//! pass over the cached keys and values, read in their preallocated buffer (the filled part is
//! never copied out).

use super::math::{SimdLoop, exp, run};
use super::rows::{lane_max, lane_sum};

/// One decoding step's attention: `out = softmax(scale * q k^T + bias) v` for every (row, head)
/// over the first `len` cached positions.
pub struct CachedAttention<'a> {
    /// `[rows, heads, d_kv]`.
    pub q: &'a [f32],
    /// Keys transposed, `[rows, heads, d_kv, capacity]`; positions `0..len` are read. A step's
    /// scores are then `sum_d q[d] * keys_t[d, ..]`: contiguous rows, no horizontal sums.
    pub keys_t: &'a [f32],
    /// `[rows, heads, capacity, d_kv]`.
    pub values: &'a [f32],
    /// Additive `[1 | rows, heads, len]`: a position bias shared by all rows, or one per row.
    pub bias: &'a [f32],
    pub heads: usize,
    pub d_kv: usize,
    pub capacity: usize,
    pub len: usize,
    pub scale: f32,
    /// `[rows, heads, d_kv]`.
    pub out: &'a mut [f32],
}

impl CachedAttention<'_> {
    /// Checks the slices against the shape and runs the step.
    pub fn run(self) {
        let (heads, d_kv, capacity, len) = (self.heads, self.d_kv, self.capacity, self.len);
        let shape_ok = heads > 0 && d_kv > 0 && len > 0 && len <= capacity;
        assert!(
            shape_ok,
            "cached attention: empty shape or len over capacity"
        );
        let pairs = self.q.len() / d_kv;
        let sizes_ok = pairs * d_kv == self.q.len()
            && pairs.is_multiple_of(heads)
            && self.out.len() == self.q.len()
            && self.keys_t.len() == pairs * capacity * d_kv
            && self.values.len() == self.keys_t.len();
        assert!(
            sizes_ok,
            "cached attention: buffer sizes do not fit the shape"
        );
        let bias_pairs = self.bias.len() / len;
        let bias_ok =
            bias_pairs * len == self.bias.len() && (bias_pairs == heads || bias_pairs == pairs);
        assert!(bias_ok, "cached attention: bias size");
        run(Step(self));
    }
}

struct Step<'a>(CachedAttention<'a>);

impl SimdLoop for Step<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let Step(a) = self;
        let (d_kv, len, capacity) = (a.d_kv, a.len, a.capacity);
        let bias_pairs = a.bias.len() / len;
        let mut weights = vec![0.0f32; len];
        let pairs = a.q.chunks_exact(d_kv).zip(a.out.chunks_exact_mut(d_kv));
        for (pair, (q, out)) in pairs.enumerate() {
            let base = pair * capacity * d_kv;
            let keys_t = &a.keys_t[base..base + capacity * d_kv];
            let values = &a.values[base..base + len * d_kv];
            let bias = &a.bias[(pair % bias_pairs) * len..][..len];
            scores(q, keys_t, capacity, &mut weights);
            for (w, &b) in weights.iter_mut().zip(bias) {
                *w = a.scale * *w + b;
            }
            let max = lane_max(&weights);
            for w in weights.iter_mut() {
                *w = exp(*w - max);
            }
            let inv_sum = 1.0 / lane_sum(len, |j| weights[j]);
            for w in weights.iter_mut() {
                *w *= inv_sum;
            }
            weighted_sum(&weights, values, out);
        }
    }
}

/// Positions (or value columns) per block: one 16-lane register of accumulators.
const BLOCK: usize = 16;

/// `scores[j] = sum_d q[d] * keys_t[d, j]` for `j < scores.len()`, a block of positions at a
/// time with its sums held in registers across `d`.
#[inline(always)]
fn scores(q: &[f32], keys_t: &[f32], capacity: usize, scores: &mut [f32]) {
    for (b, block) in scores.chunks_mut(BLOCK).enumerate() {
        let mut acc = [0.0f32; BLOCK];
        for (&qd, row) in q.iter().zip(keys_t.chunks_exact(capacity)) {
            let keys = &row[b * BLOCK..][..block.len()];
            for (s, &k) in acc.iter_mut().zip(keys) {
                *s += qd * k;
            }
        }
        block.copy_from_slice(&acc[..block.len()]);
    }
}

/// `out[c] = sum_j weights[j] * values[j, c]`, a block of columns at a time.
#[inline(always)]
fn weighted_sum(weights: &[f32], values: &[f32], out: &mut [f32]) {
    let d_kv = out.len();
    for (b, block) in out.chunks_mut(BLOCK).enumerate() {
        let mut acc = [0.0f32; BLOCK];
        for (&w, row) in weights.iter().zip(values.chunks_exact(d_kv)) {
            let v = &row[b * BLOCK..][..block.len()];
            for (o, &x) in acc.iter_mut().zip(v) {
                *o += w * x;
            }
        }
        block.copy_from_slice(&acc[..block.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_query_over_a_partly_filled_cache_is_the_plain_definition() {
        let (rows, heads, capacity, len, d_kv) = (3, 2, 7, 5, 11);
        let value =
            |i: usize, salt: usize| ((i * 7919 + salt * 104_729) % 1000) as f32 / 250.0 - 2.0;
        let q: Vec<f32> = (0..rows * heads * d_kv).map(|i| value(i, 1)).collect();
        let mut keys_t: Vec<f32> = (0..rows * heads * capacity * d_kv)
            .map(|i| value(i, 2))
            .collect();
        let mut values: Vec<f32> = (0..keys_t.len()).map(|i| value(i, 3)).collect();
        // Unfilled positions hold garbage that must not be read.
        for pair in 0..rows * heads {
            for p in len..capacity {
                for d in 0..d_kv {
                    keys_t[(pair * d_kv + d) * capacity + p] = f32::NAN;
                    values[(pair * capacity + p) * d_kv + d] = f32::NAN;
                }
            }
        }
        let bias: Vec<f32> = (0..heads * len).map(|i| value(i, 4)).collect();
        let scale = 0.5;
        let mut out = vec![0.0; q.len()];
        CachedAttention {
            q: &q,
            keys_t: &keys_t,
            values: &values,
            bias: &bias,
            heads,
            d_kv,
            capacity,
            len,
            scale,
            out: &mut out,
        }
        .run();
        for pair in 0..rows * heads {
            let h = pair % heads;
            let scores: Vec<f64> = (0..len)
                .map(|p| {
                    let dot: f64 = (0..d_kv)
                        .map(|d| {
                            q[pair * d_kv + d] as f64
                                * keys_t[(pair * d_kv + d) * capacity + p] as f64
                        })
                        .sum();
                    scale as f64 * dot + bias[h * len + p] as f64
                })
                .collect();
            let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = e.iter().sum();
            for d in 0..d_kv {
                let want: f64 = (0..len)
                    .map(|p| e[p] / sum * values[(pair * capacity + p) * d_kv + d] as f64)
                    .sum();
                let got = out[pair * d_kv + d] as f64;
                assert!(
                    (got - want).abs() <= 2e-6 * (1.0 + want.abs()),
                    "{pair} {d}: {got} vs {want}"
                );
            }
        }
    }
}
