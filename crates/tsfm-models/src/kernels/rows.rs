//! Row kernels on contiguous `f32` rows of the last axis: layer norm, RMS norm and the softmax
//! gate (`x * softmax(logits)`), forward and backward, each one pass over a row where Burn's
//! autodiff graph of the same expression makes eight to ten.
//!
//! Sums over a row use eight fixed lanes combined in a fixed order, so the loops vectorise and
//! the result is the same on every instruction set and thread count. Each kernel's row loop is
//! a [`SimdLoop`] (everything it calls `#[inline(always)]`), so it is compiled for the
//! instruction set found at run time; loops run over zipped iterators (no bounds checks).

use super::math::{SimdLoop, exp, run};

const LANES: usize = 8;

/// Sum over `i` of `f([slices[0][i], slices[1][i], ..])` in eight lanes, combined pairwise in
/// a fixed order. The slices have one length. Each chunk of eight is read as arrays, so the
/// lanes compile to one vector add with no bounds check inside (indexing the slices from a
/// closure kept the sums scalar).
#[inline(always)]
fn lane_sum<const K: usize>(slices: [&[f32]; K], f: impl Fn([f32; K]) -> f32) -> f32 {
    let n = slices[0].len();
    assert!(slices.iter().all(|s| s.len() == n));
    let mut acc = [0.0f32; LANES];
    let whole = n - n % LANES;
    for start in (0..whole).step_by(LANES) {
        let chunks: [&[f32; LANES]; K] =
            std::array::from_fn(|k| slices[k][start..start + LANES].try_into().unwrap());
        for (lane, a) in acc.iter_mut().enumerate() {
            *a += f(std::array::from_fn(|k| chunks[k][lane]));
        }
    }
    for (lane, i) in (whole..n).enumerate() {
        acc[lane] += f(std::array::from_fn(|k| slices[k][i]));
    }
    ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))
}

/// Maximum of a row in eight lanes, combined pairwise. NaN is ignored like `f32::max` does (a
/// NaN logit still turns its row to NaN through the exp); `v > a` keeps the lane and the
/// combination at one `max` instruction each (`f32::max`'s NaN handling took three, and a
/// sequential fold of eight lanes was most of a short row's time).
#[inline(always)]
fn lane_max(row: &[f32]) -> f32 {
    #[inline(always)]
    fn max(a: f32, v: f32) -> f32 {
        if v > a { v } else { a }
    }
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = row.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a = max(*a, v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(chunks.remainder()) {
        *a = max(*a, v);
    }
    max(
        max(max(acc[0], acc[4]), max(acc[2], acc[6])),
        max(max(acc[1], acc[5]), max(acc[3], acc[7])),
    )
}

struct AddBiasRows<'a> {
    values: &'a mut [f32],
    bias: &'a [f32],
}

impl SimdLoop for AddBiasRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        for row in self.values.chunks_exact_mut(self.bias.len()) {
            for (v, &b) in row.iter_mut().zip(self.bias) {
                *v += b;
            }
        }
    }
}

/// Values per block when a bias is shorter: TTM's patch mixer adds biases of 8 to 64 values,
/// where a loop per row of that length cost more than the adds; whole rows are added per
/// block of the bias repeated instead.
const SHORT_ROW: usize = 256;

/// `values[r, i] += bias[i]` for every row of `bias.len()`, in place (a linear layer's bias).
pub fn add_bias(values: &mut [f32], bias: &[f32]) {
    assert!(!bias.is_empty() && values.len().is_multiple_of(bias.len()));
    let d = bias.len();
    if d >= SHORT_ROW || values.len() < 2 * SHORT_ROW {
        return run(AddBiasRows { values, bias });
    }
    // The bias repeated over whole rows up to a block of about SHORT_ROW: the same adds.
    let tiled = bias.repeat(SHORT_ROW.div_ceil(d));
    let whole = values.len() - values.len() % tiled.len();
    let (head, tail) = values.split_at_mut(whole);
    run(AddBiasRows {
        values: head,
        bias: &tiled,
    });
    run(AddBiasRows { values: tail, bias });
}

struct ColumnSums<'a> {
    values: &'a [f32],
    sums: &'a mut [f32],
}

impl SimdLoop for ColumnSums<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        for row in self.values.chunks_exact(self.sums.len()) {
            for (s, &v) in self.sums.iter_mut().zip(row) {
                *s += v;
            }
        }
    }
}

/// Sums over rows of `d` (a bias's gradient), each column added in row order.
pub fn column_sums(values: &[f32], d: usize) -> Vec<f32> {
    assert!(d > 0 && values.len().is_multiple_of(d));
    let mut sums = vec![0.0f32; d];
    run(ColumnSums {
        values,
        sums: &mut sums,
    });
    sums
}

/// Per-row statistics a layer norm's backward needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowStats {
    pub mean: f32,
    /// `1 / sqrt(var + eps)`, the biased variance as in `nn.LayerNorm`.
    pub rstd: f32,
}

/// `out = (x - mean) * rstd * weight + bias` per row of `weight.len()`; returns each row's stats.
pub fn layer_norm_forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    eps: f32,
    out: &mut [f32],
) -> Vec<RowStats> {
    let d = weight.len();
    assert!(d > 0 && x.len().is_multiple_of(d) && out.len() == x.len());
    let mut stats = Vec::with_capacity(x.len() / d);
    run(LayerNormRows {
        x,
        weight,
        bias,
        eps,
        out,
        stats: &mut stats,
    });
    stats
}

struct LayerNormRows<'a> {
    x: &'a [f32],
    weight: &'a [f32],
    bias: Option<&'a [f32]>,
    eps: f32,
    out: &'a mut [f32],
    stats: &'a mut Vec<RowStats>,
}

impl SimdLoop for LayerNormRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let d = self.weight.len();
        for (row, out_row) in self.x.chunks_exact(d).zip(self.out.chunks_exact_mut(d)) {
            let stats = layer_norm_row(row, self.weight, self.bias, self.eps, out_row);
            self.stats.push(stats);
        }
    }
}

#[inline(always)]
fn layer_norm_row(
    row: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    eps: f32,
    out: &mut [f32],
) -> RowStats {
    let d = row.len();
    let mean = lane_sum([row], |[v]| v) / d as f32;
    let var = lane_sum([row], |[v]| (v - mean) * (v - mean)) / d as f32;
    let rstd = 1.0 / (var + eps).sqrt();
    match bias {
        Some(bias) => {
            for ((o, &v), (&w, &b)) in out.iter_mut().zip(row).zip(weight.iter().zip(bias)) {
                *o = (v - mean) * rstd * w + b;
            }
        }
        None => {
            for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
                *o = (v - mean) * rstd * w;
            }
        }
    }
    RowStats { mean, rstd }
}

/// Gradients of a layer norm: `dx` (as `x`), `dweight` and `dbias` (each `d`), the weight and
/// bias sums taken over rows in order.
pub fn layer_norm_backward(
    x: &[f32],
    weight: &[f32],
    stats: &[RowStats],
    grad: &[f32],
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let d = weight.len();
    assert!(x.len() == grad.len() && x.len() == stats.len() * d);
    let mut dx = vec![0.0f32; x.len()];
    let mut dweight = vec![0.0f32; d];
    let mut dbias = vec![0.0f32; d];
    run(LayerNormBackwardRows {
        x,
        weight,
        stats,
        grad,
        dx: &mut dx,
        dweight: &mut dweight,
        dbias: &mut dbias,
    });
    (dx, dweight, dbias)
}

struct LayerNormBackwardRows<'a> {
    x: &'a [f32],
    weight: &'a [f32],
    stats: &'a [RowStats],
    grad: &'a [f32],
    dx: &'a mut [f32],
    dweight: &'a mut [f32],
    dbias: &'a mut [f32],
}

impl SimdLoop for LayerNormBackwardRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let d = self.weight.len();
        let rows = self.x.chunks_exact(d).zip(self.grad.chunks_exact(d));
        for (((row, g), dx), s) in rows.zip(self.dx.chunks_exact_mut(d)).zip(self.stats) {
            layer_norm_backward_row(row, g, self.weight, *s, dx, self.dweight, self.dbias);
        }
    }
}

/// `dx = rstd * (g w - mean(g w) - xhat * mean(g w xhat))`; adds into `dweight` and `dbias`.
#[inline(always)]
fn layer_norm_backward_row(
    row: &[f32],
    g: &[f32],
    weight: &[f32],
    s: RowStats,
    dx: &mut [f32],
    dweight: &mut [f32],
    dbias: &mut [f32],
) {
    let d = row.len();
    let mean_gw = lane_sum([g, weight], |[gi, w]| gi * w) / d as f32;
    let mean_gw_xhat = lane_sum([g, weight, row], |[gi, w, v]| {
        gi * w * ((v - s.mean) * s.rstd)
    }) / d as f32;
    let inputs = row.iter().zip(g).zip(weight);
    let outputs = dx.iter_mut().zip(dweight.iter_mut()).zip(dbias.iter_mut());
    for (((&v, &gi), &w), ((dxi, dwi), dbi)) in inputs.zip(outputs) {
        let xhat = (v - s.mean) * s.rstd;
        *dxi = s.rstd * (gi * w - mean_gw - xhat * mean_gw_xhat);
        *dwi += gi * xhat;
        *dbi += gi;
    }
}

/// `out = x * rstd * weight` per row of `weight.len()`, `rstd = 1 / sqrt(mean(x^2) + eps)`
/// (T5's and TimesFM's RMS norm); returns each row's `rstd`.
pub fn rms_norm_forward(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) -> Vec<f32> {
    let d = weight.len();
    assert!(d > 0 && x.len().is_multiple_of(d) && out.len() == x.len());
    let mut rstds = Vec::with_capacity(x.len() / d);
    run(RmsNormRows {
        x,
        weight,
        eps,
        out,
        rstds: &mut rstds,
    });
    rstds
}

struct RmsNormRows<'a> {
    x: &'a [f32],
    weight: &'a [f32],
    eps: f32,
    out: &'a mut [f32],
    rstds: &'a mut Vec<f32>,
}

impl SimdLoop for RmsNormRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let d = self.weight.len();
        for (row, out_row) in self.x.chunks_exact(d).zip(self.out.chunks_exact_mut(d)) {
            self.rstds
                .push(rms_norm_row(row, self.weight, self.eps, out_row));
        }
    }
}

#[inline(always)]
fn rms_norm_row(row: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) -> f32 {
    let d = row.len();
    let rstd = 1.0 / (lane_sum([row], |[v]| v * v) / d as f32 + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(row).zip(weight) {
        *o = v * rstd * w;
    }
    rstd
}

/// Gradients of [`rms_norm_forward`]: `dx = rstd (g w - xhat mean(g w xhat))` with
/// `xhat = x rstd`, and `dweight` summed over rows in order.
pub fn rms_norm_backward(
    x: &[f32],
    weight: &[f32],
    rstds: &[f32],
    grad: &[f32],
) -> (Vec<f32>, Vec<f32>) {
    let d = weight.len();
    assert!(x.len() == grad.len() && x.len() == rstds.len() * d);
    let mut dx = vec![0.0f32; x.len()];
    let mut dweight = vec![0.0f32; d];
    run(RmsNormBackwardRows {
        x,
        weight,
        rstds,
        grad,
        dx: &mut dx,
        dweight: &mut dweight,
    });
    (dx, dweight)
}

struct RmsNormBackwardRows<'a> {
    x: &'a [f32],
    weight: &'a [f32],
    rstds: &'a [f32],
    grad: &'a [f32],
    dx: &'a mut [f32],
    dweight: &'a mut [f32],
}

impl SimdLoop for RmsNormBackwardRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let d = self.weight.len();
        let rows = self.x.chunks_exact(d).zip(self.grad.chunks_exact(d));
        for (((row, g), dx), &rstd) in rows.zip(self.dx.chunks_exact_mut(d)).zip(self.rstds) {
            rms_norm_backward_row(row, g, self.weight, rstd, dx, self.dweight);
        }
    }
}

#[inline(always)]
fn rms_norm_backward_row(
    row: &[f32],
    g: &[f32],
    weight: &[f32],
    rstd: f32,
    dx: &mut [f32],
    dweight: &mut [f32],
) {
    let d = row.len();
    let mean_gw_xhat = lane_sum([g, weight, row], |[gi, w, v]| gi * w * (v * rstd)) / d as f32;
    let inputs = row.iter().zip(g).zip(weight);
    for (((&v, &gi), &w), (dxi, dwi)) in inputs.zip(dx.iter_mut().zip(dweight.iter_mut())) {
        let xhat = v * rstd;
        *dxi = rstd * (gi * w - xhat * mean_gw_xhat);
        *dwi += gi * xhat;
    }
}

/// `out = x * softmax(logits)` per row of `d`; returns the softmax (the backward's state).
pub fn softmax_gate_forward(x: &[f32], logits: &[f32], d: usize, out: &mut [f32]) -> Vec<f32> {
    assert!(d > 0 && x.len().is_multiple_of(d) && logits.len() == x.len() && out.len() == x.len());
    let mut gate = vec![0.0f32; x.len()];
    run(SoftmaxGateRows {
        x,
        logits,
        d,
        gate: &mut gate,
        out,
    });
    gate
}

struct SoftmaxGateRows<'a> {
    x: &'a [f32],
    logits: &'a [f32],
    d: usize,
    gate: &'a mut [f32],
    out: &'a mut [f32],
}

impl SimdLoop for SoftmaxGateRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        softmax_rows(self.logits, self.d, self.gate);
        for ((g, o), &v) in self.gate.iter().zip(self.out.iter_mut()).zip(self.x) {
            *o = v * *g;
        }
    }
}

/// `logits = x * softmax(logits)` per row of `d`, in place: [`softmax_gate_forward`] for
/// inference, where nothing keeps the gate for a backward. The same float operations.
pub fn softmax_gate_in_place(x: &[f32], logits: &mut [f32], d: usize) {
    assert!(d > 0 && x.len().is_multiple_of(d) && logits.len() == x.len());
    run(SoftmaxGateInPlaceRows { x, logits, d });
}

struct SoftmaxGateInPlaceRows<'a> {
    x: &'a [f32],
    logits: &'a mut [f32],
    d: usize,
}

impl SimdLoop for SoftmaxGateInPlaceRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        for row in self.logits.chunks_exact_mut(self.d) {
            let max = lane_max(row);
            for v in row.iter_mut() {
                *v -= max;
            }
        }
        exp_and_normalise(self.logits, self.d);
        for (g, &v) in self.logits.iter_mut().zip(self.x) {
            *g *= v;
        }
    }
}

/// `out = softmax(x)` per row of `d`: every row shifted by its maximum, then one exp pass over
/// the whole buffer (TTM's patch-mixer gates and a decoder's first steps have rows of 1 to 32,
/// too short for the exp to vectorise within a row), then each row normalised.
#[inline(always)]
fn softmax_rows(x: &[f32], d: usize, out: &mut [f32]) {
    for (row, out) in x.chunks_exact(d).zip(out.chunks_exact_mut(d)) {
        let max = lane_max(row);
        for (o, &v) in out.iter_mut().zip(row) {
            *o = v - max;
        }
    }
    exp_and_normalise(out, d);
}

/// The end of a softmax over rows already shifted by their maxima: one exp pass over the
/// whole buffer, then each row divided by its sum.
#[inline(always)]
fn exp_and_normalise(out: &mut [f32], d: usize) {
    for o in out.iter_mut() {
        *o = exp(*o);
    }
    for out in out.chunks_exact_mut(d) {
        let inv_sum = 1.0 / lane_sum([&*out], |[v]| v);
        for o in out.iter_mut() {
            *o *= inv_sum;
        }
    }
}

/// Gradients of [`softmax_gate_forward`]: `(dx, dlogits)`, with
/// `dx = g s` and `dlogits = s (g x - sum(s g x))`.
pub fn softmax_gate_backward(
    x: &[f32],
    gate: &[f32],
    grad: &[f32],
    d: usize,
) -> (Vec<f32>, Vec<f32>) {
    assert!(x.len() == gate.len() && x.len() == grad.len() && x.len().is_multiple_of(d));
    let mut dx = vec![0.0f32; x.len()];
    let mut dlogits = vec![0.0f32; x.len()];
    run(SoftmaxGateBackwardRows {
        x,
        gate,
        grad,
        d,
        dx: &mut dx,
        dlogits: &mut dlogits,
    });
    (dx, dlogits)
}

struct SoftmaxGateBackwardRows<'a> {
    x: &'a [f32],
    gate: &'a [f32],
    grad: &'a [f32],
    d: usize,
    dx: &'a mut [f32],
    dlogits: &'a mut [f32],
}

impl SimdLoop for SoftmaxGateBackwardRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let d = self.d;
        let rows = self.x.chunks_exact(d).zip(self.gate.chunks_exact(d));
        let rows = rows.zip(self.grad.chunks_exact(d));
        let outs = self
            .dx
            .chunks_exact_mut(d)
            .zip(self.dlogits.chunks_exact_mut(d));
        for (((row, s), g), (dx, dl)) in rows.zip(outs) {
            softmax_gate_backward_row(row, s, g, dx, dl);
        }
    }
}

#[inline(always)]
fn softmax_gate_backward_row(row: &[f32], s: &[f32], g: &[f32], dx: &mut [f32], dl: &mut [f32]) {
    let dot = lane_sum([s, g, row], |[si, gi, v]| si * gi * v);
    let inputs = row.iter().zip(s).zip(g);
    for (((&v, &si), &gi), (dxi, dli)) in inputs.zip(dx.iter_mut().zip(dl.iter_mut())) {
        *dxi = gi * si;
        *dli = si * (gi * v - dot);
    }
}

/// `out = softmax(x)` per row of `d` (attention weights).
pub fn softmax_forward(x: &[f32], d: usize, out: &mut [f32]) {
    assert!(d > 0 && x.len().is_multiple_of(d) && out.len() == x.len());
    run(SoftmaxRows { x, d, out });
}

struct SoftmaxRows<'a> {
    x: &'a [f32],
    d: usize,
    out: &'a mut [f32],
}

impl SimdLoop for SoftmaxRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        softmax_rows(self.x, self.d, self.out);
    }
}

/// `x = softmax(x + bias)` per row of `d`, in place: row `i` adds `bias[offsets[i]..][..d]`
/// (an attention mask or position bias broadcast over the batch, heads or queries). The same
/// float operations as adding the bias and then [`softmax_forward`], without the sum's buffer.
pub fn softmax_biased_in_place(x: &mut [f32], d: usize, bias: &[f32], offsets: &[usize]) {
    assert!(d > 0 && x.len().is_multiple_of(d) && offsets.len() == x.len() / d);
    assert!(
        offsets.iter().all(|&at| at + d <= bias.len()),
        "softmax bias: a row offset past the bias"
    );
    run(SoftmaxBiasedRows {
        x,
        d,
        bias,
        offsets,
    });
}

struct SoftmaxBiasedRows<'a> {
    x: &'a mut [f32],
    d: usize,
    bias: &'a [f32],
    offsets: &'a [usize],
}

impl SimdLoop for SoftmaxBiasedRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let d = self.d;
        for (row, &at) in self.x.chunks_exact_mut(d).zip(self.offsets) {
            for (v, &b) in row.iter_mut().zip(&self.bias[at..at + d]) {
                *v += b;
            }
            let max = lane_max(row);
            for v in row.iter_mut() {
                *v -= max;
            }
        }
        exp_and_normalise(self.x, d);
    }
}

/// Gradient of [`softmax_forward`] given its output `s`: `dx = s (g - sum(s g))` per row.
pub fn softmax_backward(s: &[f32], grad: &[f32], d: usize) -> Vec<f32> {
    assert!(d > 0 && s.len() == grad.len() && s.len().is_multiple_of(d));
    let mut dx = vec![0.0f32; s.len()];
    run(SoftmaxBackwardRows {
        s,
        grad,
        d,
        dx: &mut dx,
    });
    dx
}

struct SoftmaxBackwardRows<'a> {
    s: &'a [f32],
    grad: &'a [f32],
    d: usize,
    dx: &'a mut [f32],
}

impl SimdLoop for SoftmaxBackwardRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let d = self.d;
        let rows = self.s.chunks_exact(d).zip(self.grad.chunks_exact(d));
        for ((s, g), dx) in rows.zip(self.dx.chunks_exact_mut(d)) {
            let dot = lane_sum([s, g], |[si, gi]| si * gi);
            for ((dxi, &si), &gi) in dx.iter_mut().zip(s).zip(g) {
                *dxi = si * (gi - dot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic values in about [-2, 2].
    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                let r = crate::nn::layers::split_mix64(&mut state);
                (r >> 40) as f32 / (1u64 << 22) as f32 - 2.0
            })
            .collect()
    }

    fn close(got: &[f32], want: &[f64], tolerance: f64, what: &str) {
        assert_eq!(got.len(), want.len());
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= tolerance * (1.0 + w.abs()),
                "{what}[{i}] = {g}, want {w}"
            );
        }
    }

    #[test]
    fn layer_norm_matches_the_definition_in_f64() {
        for d in [1, 7, 8, 13, 192] {
            let rows = 5;
            let x = values(rows * d, d as u64);
            let w = values(d, 99);
            let b = values(d, 98);
            let g = values(rows * d, 97);
            let eps = 1e-5;
            let mut out = vec![0.0; x.len()];
            let stats = layer_norm_forward(&x, &w, Some(&b), eps, &mut out);
            let (dx, dw, db) = layer_norm_backward(&x, &w, &stats, &g);

            let mut want_out = vec![0.0f64; x.len()];
            let mut want_dx = vec![0.0f64; x.len()];
            let mut want_dw = vec![0.0f64; d];
            let mut want_db = vec![0.0f64; d];
            for r in 0..rows {
                let row: Vec<f64> = x[r * d..(r + 1) * d].iter().map(|&v| v as f64).collect();
                let mean = row.iter().sum::<f64>() / d as f64;
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / d as f64;
                let rstd = 1.0 / (var + eps as f64).sqrt();
                let xhat: Vec<f64> = row.iter().map(|v| (v - mean) * rstd).collect();
                let gw: Vec<f64> = (0..d).map(|i| g[r * d + i] as f64 * w[i] as f64).collect();
                let m1 = gw.iter().sum::<f64>() / d as f64;
                let m2 = (0..d).map(|i| gw[i] * xhat[i]).sum::<f64>() / d as f64;
                for i in 0..d {
                    want_out[r * d + i] = xhat[i] * w[i] as f64 + b[i] as f64;
                    want_dx[r * d + i] = rstd * (gw[i] - m1 - xhat[i] * m2);
                    want_dw[i] += g[r * d + i] as f64 * xhat[i];
                    want_db[i] += g[r * d + i] as f64;
                }
            }
            close(&out, &want_out, 2e-6, "out");
            close(&dx, &want_dx, 2e-5, "dx");
            close(&dw, &want_dw, 2e-6, "dweight");
            close(&db, &want_db, 2e-6, "dbias");
        }
    }

    #[test]
    fn rms_norm_matches_the_definition_in_f64() {
        for d in [1, 6, 8, 17, 64] {
            let rows = 4;
            let x = values(rows * d, 40 + d as u64);
            let w = values(d, 41);
            let g = values(rows * d, 42);
            let eps = 1e-6;
            let mut out = vec![0.0; x.len()];
            let rstds = rms_norm_forward(&x, &w, eps, &mut out);
            let (dx, dw) = rms_norm_backward(&x, &w, &rstds, &g);
            let (mut want_out, mut want_dx, mut want_dw) = (vec![], vec![], vec![0.0f64; d]);
            for r in 0..rows {
                let row: Vec<f64> = x[r * d..(r + 1) * d].iter().map(|&v| v as f64).collect();
                let ms = row.iter().map(|v| v * v).sum::<f64>() / d as f64;
                let rstd = 1.0 / (ms + eps as f64).sqrt();
                let gw: Vec<f64> = (0..d).map(|i| g[r * d + i] as f64 * w[i] as f64).collect();
                let m = (0..d).map(|i| gw[i] * row[i] * rstd).sum::<f64>() / d as f64;
                for i in 0..d {
                    want_out.push(row[i] * rstd * w[i] as f64);
                    want_dx.push(rstd * (gw[i] - row[i] * rstd * m));
                    want_dw[i] += g[r * d + i] as f64 * row[i] * rstd;
                }
            }
            close(&out, &want_out, 2e-6, "out");
            close(&dx, &want_dx, 2e-5, "dx");
            close(&dw, &want_dw, 2e-6, "dweight");
        }
    }

    #[test]
    fn layer_norm_without_bias_is_the_same_minus_the_bias() {
        let x = values(3 * 10, 1);
        let w = values(10, 2);
        let b = vec![0.0; 10];
        let (mut with, mut without) = (vec![0.0; 30], vec![0.0; 30]);
        layer_norm_forward(&x, &w, Some(&b), 1e-6, &mut with);
        layer_norm_forward(&x, &w, None, 1e-6, &mut without);
        assert_eq!(with, without);
    }

    #[test]
    fn softmax_gate_matches_the_definition_in_f64() {
        for d in [1, 5, 8, 21, 64] {
            let rows = 4;
            let x = values(rows * d, 10 + d as u64);
            let l: Vec<f32> = values(rows * d, 20 + d as u64)
                .iter()
                .map(|v| v * 20.0)
                .collect();
            let g = values(rows * d, 30 + d as u64);
            let mut out = vec![0.0; x.len()];
            let gate = softmax_gate_forward(&x, &l, d, &mut out);
            let (dx, dl) = softmax_gate_backward(&x, &gate, &g, d);

            let (mut want_out, mut want_dx, mut want_dl) = (vec![], vec![], vec![]);
            for r in 0..rows {
                let span = r * d..(r + 1) * d;
                let lr: Vec<f64> = l[span.clone()].iter().map(|&v| v as f64).collect();
                let max = lr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = lr.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                let s: Vec<f64> = e.iter().map(|v| v / sum).collect();
                let u: Vec<f64> = span.clone().map(|i| g[i] as f64 * x[i] as f64).collect();
                let dot: f64 = (0..d).map(|i| s[i] * u[i]).sum();
                for (k, i) in span.enumerate() {
                    want_out.push(x[i] as f64 * s[k]);
                    want_dx.push(g[i] as f64 * s[k]);
                    want_dl.push(s[k] * (u[k] - dot));
                }
            }
            close(&out, &want_out, 2e-6, "out");
            close(&dx, &want_dx, 2e-6, "dx");
            close(&dl, &want_dl, 2e-6, "dlogits");
        }
    }

    #[test]
    fn softmax_matches_the_definition_in_f64() {
        for d in [1, 3, 8, 19, 513] {
            let rows = 3;
            let x: Vec<f32> = values(rows * d, 60 + d as u64)
                .iter()
                .map(|v| v * 20.0)
                .collect();
            let g = values(rows * d, 70 + d as u64);
            let mut s = vec![0.0; x.len()];
            softmax_forward(&x, d, &mut s);
            let dx = softmax_backward(&s, &g, d);
            let (mut want_s, mut want_dx) = (vec![], vec![]);
            for r in 0..rows {
                let span = r * d..(r + 1) * d;
                let xr: Vec<f64> = x[span.clone()].iter().map(|&v| v as f64).collect();
                let max = xr.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = xr.iter().map(|v| (v - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                let sr: Vec<f64> = e.iter().map(|v| v / sum).collect();
                let dot: f64 = span
                    .clone()
                    .enumerate()
                    .map(|(k, i)| sr[k] * g[i] as f64)
                    .sum();
                for (k, i) in span.enumerate() {
                    want_s.push(sr[k]);
                    want_dx.push(sr[k] * (g[i] as f64 - dot));
                }
            }
            close(&s, &want_s, 2e-6, "softmax");
            close(&dx, &want_dx, 2e-6, "dx");
        }
    }

    #[test]
    fn a_fully_masked_row_gets_uniform_weights_as_in_torch() {
        // transformers masks with f32::MIN, not -inf: every key masked leaves a uniform row.
        let x = [f32::MIN, f32::MIN, f32::MIN, 0.5, 1.5, f32::MIN];
        let mut s = [0.0; 6];
        softmax_forward(&x, 3, &mut s);
        assert_eq!(&s[..3], &[1.0 / 3.0; 3]);
        let e = (1.5f64 - 0.5).exp();
        close(
            &s[3..],
            &[1.0 / (1.0 + e), e / (1.0 + e), 0.0],
            2e-7,
            "masked key",
        );
    }

    #[test]
    fn a_nan_logit_spoils_only_its_own_row_as_in_torch() {
        let x = [1.0f32; 6];
        let logits = [0.5, f32::NAN, 2.0, 0.1, 0.2, 0.3];
        let mut out = [0.0; 6];
        softmax_gate_forward(&x, &logits, 3, &mut out);
        assert!(out[..3].iter().all(|v| v.is_nan()));
        let sum: f32 = out[3..].iter().sum();
        assert!((sum - 1.0).abs() < 1e-6 && out[3..].iter().all(|v| v.is_finite()));
    }

    #[test]
    fn bias_rows_and_column_sums_are_the_plain_loops() {
        // 9 rows: one loop per row; 101 rows of a short bias: blocks of the bias repeated
        // (20 rows each) and a tail of one row.
        for (d, rows) in [(13, 9), (13, 101), (300, 3)] {
            let x = values(rows * d, 50);
            let b = values(d, 51);
            let mut y = x.clone();
            add_bias(&mut y, &b);
            let mut want_sums = vec![0.0f32; d];
            for (i, (&got, &v)) in y.iter().zip(&x).enumerate() {
                assert_eq!(got, v + b[i % d], "d {d}, rows {rows}, value {i}");
                want_sums[i % d] += v;
            }
            assert_eq!(column_sums(&x, d), want_sums);
        }
    }

    #[test]
    fn lane_sum_order_does_not_depend_on_the_row_length_remainder() {
        // The same 8 values summed as one whole chunk or as a remainder give one fixed order.
        let v = [1e8f32, 1.0, -1e8, 1.0, 3.0, 0.5, 0.25, 2.0];
        let whole = lane_sum([&v], |[x]| x);
        assert_eq!(
            whole,
            ((1e8 + 3.0) + (-1e8 + 0.25)) + ((1.0 + 0.5) + (1.0 + 2.0))
        );
        let short = lane_sum([&v[..5]], |[x]| x);
        assert_eq!(short, ((1e8f32 + 3.0) + -1e8) + (1.0 + 1.0));
    }
}
