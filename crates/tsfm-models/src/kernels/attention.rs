//! Attention of a group of queries over keys and values they share, in one pass per group and
//! head: `softmax(q k^T + bias) v`, unscaled (T5 folds the scale into its weights).
//!
//! Made for decoding steps. A decoding step of Chronos-T5 has the samples of each series
//! attend to that series' encoder keys and values: a few hundred small products per step,
//! each reading 270 KB of keys and values for 20 query rows. Through Burn's batched matmul
//! each is a GEMM call that packs or strides through the keys; here the keys are stored once
//! as panels of [`PANEL`] positions (`[blocks, d, PANEL]`, each panel contiguous), so a step
//! streams them in order, and scores, softmax and values stay in cache for a group and head.
//!
//! An encoder's self-attention is the same pass with every position a query and a bias row
//! per query (the position bias with the mask added): each head's `[t, t]` scores stay in
//! cache where Burn's composition wrote the whole `[batch, heads, t, t]` tensor, read it back
//! for the softmax and again for the values (1.40x on a Chronos-T5-tiny encoder layer).
//!
//! Every score is `q . k` summed over `d` in order with fused multiply-adds, every output
//! `p . v` over the positions in order: the same floats on every instruction set and thread
//! count.

use super::math::{SimdLoop, run};
use super::rows::softmax_biased_in_place;

/// Positions per key panel: one AVX-512 `f32` register (two AVX2 ones).
pub const PANEL: usize = 16;

/// Where a group's and a head's keys, values and bias start, and the shapes.
#[derive(Debug, Clone, Copy)]
pub struct PanelAttentionDims {
    pub groups: usize,
    pub queries: usize,
    pub heads: usize,
    pub d: usize,
    /// Positions attended; the panels hold `positions.div_ceil(PANEL)` blocks.
    pub positions: usize,
    /// Element strides of `key_panels` between groups and between heads.
    pub key_strides: [usize; 2],
    /// Element strides of `values` between groups, heads and positions (the `d` values of a
    /// position are contiguous).
    pub value_strides: [usize; 3],
    /// Element strides of `bias` between groups, heads and queries (0 where broadcast); a
    /// bias row is `positions` contiguous values.
    pub bias_strides: [usize; 3],
}

/// `out[g, q, h, :] = softmax(q[g, q, h, :] . keys[g, h] + bias[g, h, q]) . values[g, h]`.
///
/// `q` and `out` are `[groups, queries, heads, d]`; the keys of group `g` and head `h` start at
/// `g * key_strides[0] + h * key_strides[1]` as `[blocks, d, PANEL]` (positions past
/// `positions` in the last panel are read but never used); `d` is a multiple of [`PANEL`].
pub fn panel_attention(
    q: &[f32],
    key_panels: &[f32],
    values: &[f32],
    bias: &[f32],
    dims: PanelAttentionDims,
    out: &mut [f32],
) {
    let PanelAttentionDims {
        groups,
        queries,
        heads,
        d,
        positions,
        ..
    } = dims;
    assert!(
        d > 0 && d.is_multiple_of(PANEL),
        "d must be a multiple of {PANEL}"
    );
    assert!(positions > 0, "attention over no position");
    let rows = groups * queries * heads * d;
    assert!(q.len() == rows && out.len() == rows, "q/out shape");
    let last = |strides: &[usize], extent: usize| {
        strides
            .iter()
            .zip([groups, heads])
            .map(|(s, n)| s * (n - 1))
            .sum::<usize>()
            + extent
    };
    let blocks = positions.div_ceil(PANEL);
    assert!(key_panels.len() >= last(&dims.key_strides, blocks * d * PANEL));
    let value_extent = (positions - 1) * dims.value_strides[2] + d;
    assert!(values.len() >= last(&dims.value_strides[..2], value_extent));
    let bias_rows = (queries - 1) * dims.bias_strides[2] + positions;
    assert!(bias.len() >= last(&dims.bias_strides[..2], bias_rows));
    let kernel = PanelAttentionLoop {
        q,
        key_panels,
        values,
        bias,
        dims,
        out,
    };
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F.
            return unsafe { x86::run_avx512(kernel) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has AVX2 and FMA.
            return unsafe { x86::run_avx2(kernel) };
        }
    }
    run(kernel);
}

struct PanelAttentionLoop<'a> {
    q: &'a [f32],
    key_panels: &'a [f32],
    values: &'a [f32],
    bias: &'a [f32],
    dims: PanelAttentionDims,
    out: &'a mut [f32],
}

impl SimdLoop for PanelAttentionLoop<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        self.attend::<Portable>();
    }
}

impl PanelAttentionLoop<'_> {
    /// Every group and head: scores, the biased softmax in place, the weighted values.
    #[inline(always)]
    fn attend<T: Tiles>(self) {
        let PanelAttentionDims {
            groups,
            queries,
            heads,
            d,
            positions,
            key_strides,
            value_strides,
            bias_strides,
        } = self.dims;
        let blocks = positions.div_ceil(PANEL);
        let row_stride = heads * d;
        let mut weights = vec![0f32; queries * positions];
        let offsets: Vec<usize> = (0..queries).map(|r| r * bias_strides[2]).collect();
        let bias_rows = (queries - 1) * bias_strides[2] + positions;
        for g in 0..groups {
            let group_q = &self.q[g * queries * row_stride..][..queries * row_stride];
            let group_out = &mut self.out[g * queries * row_stride..][..queries * row_stride];
            for h in 0..heads {
                let keys = &self.key_panels[g * key_strides[0] + h * key_strides[1]..]
                    [..blocks * d * PANEL];
                let (next_g, next_h) = if h + 1 < heads {
                    (g, h + 1)
                } else {
                    (g + 1, 0)
                };
                let (mut keys_ahead, mut values_ahead) = if next_g < groups {
                    let keys = &self.key_panels
                        [next_g * key_strides[0] + next_h * key_strides[1]..][..blocks * d * PANEL];
                    let at = next_g * value_strides[0] + next_h * value_strides[1];
                    let values = &self.values[at..][..(positions - 1) * value_strides[2] + d];
                    (Ahead::new(keys), Ahead::new(values))
                } else {
                    (Ahead::new(&[]), Ahead::new(&[]))
                };
                let q_rows = Rows {
                    values: &group_q[h * d..],
                    stride: row_stride,
                    len: d,
                };
                scores::<T>(
                    q_rows,
                    queries,
                    keys,
                    d,
                    positions,
                    &mut weights,
                    &mut keys_ahead,
                );
                let at = g * bias_strides[0] + h * bias_strides[1];
                let bias = &self.bias[at..at + bias_rows];
                softmax_biased_in_place(&mut weights, positions, bias, &offsets);
                let values = Rows {
                    values: &self.values[g * value_strides[0] + h * value_strides[1]..],
                    stride: value_strides[2],
                    len: d,
                };
                weighted_values::<T>(
                    &weights,
                    queries,
                    positions,
                    values,
                    d,
                    h * d,
                    group_out,
                    &mut values_ahead,
                );
            }
        }
    }
}

/// Rows of `len` values `stride` apart.
#[derive(Clone, Copy)]
struct Rows<'a> {
    values: &'a [f32],
    stride: usize,
    len: usize,
}

impl<'a> Rows<'a> {
    #[inline(always)]
    fn row(&self, i: usize) -> &'a [f32] {
        &self.values[i * self.stride..][..self.len]
    }
}

/// Register tiles of one instruction set: `R` rows by `C` panels of accumulators, each a
/// chain of fused multiply-adds in order along the shared axis.
trait Tiles {
    /// The largest tile that fits the registers.
    const ROWS: usize;
    const BLOCKS: usize;
    /// `acc[r][c][l] = init[r][c][l] + sum_k a[r][k] * b[c][k * stride + l]` over
    /// `k < depth`, in order; each `b[c]` is `depth` rows of [`PANEL`] contiguous values,
    /// `stride` apart. Starting from a previous tile's accumulators continues its chains: a
    /// long sum cut into blocks gives the same floats as in one go.
    fn products<const R: usize, const C: usize>(
        a: [&[f32]; R],
        b: [&[f32]; C],
        stride: usize,
        depth: usize,
        init: &[[[f32; PANEL]; C]; R],
        ahead: &mut Ahead<'_>,
    ) -> [[[f32; PANEL]; C]; R];
}

/// The next group's and head's keys (while this head's scores run) or values (while its
/// weighted values run), one cache line asked for per step of a tile (where the instruction
/// set can): the current head's work then hides the wait for the next head's (a decoding step
/// reads them from L3 or memory, once). One range and one comparison per step: the tiles'
/// loops have no registers to spare.
struct Ahead<'a> {
    lines: &'a [f32],
    at: usize,
}

impl<'a> Ahead<'a> {
    const LINE: usize = 16;

    fn new(lines: &'a [f32]) -> Self {
        Self { lines, at: 0 }
    }

    /// The next line not yet asked for, if any.
    #[inline(always)]
    // Only the x86 tiles prefetch; the portable loop leaves the lines to the hardware.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn next(&mut self) -> Option<*const f32> {
        if self.at >= self.lines.len() {
            return None;
        }
        let line = self.lines[self.at..].as_ptr();
        self.at += Self::LINE;
        Some(line)
    }
}

/// What the unchecked loads of the tiles rely on: `a`'s rows hold `depth` values and `b`'s
/// `depth` rows of [`PANEL`], `stride` apart.
#[inline(always)]
fn check_operands(a: &[&[f32]], b: &[&[f32]], stride: usize, depth: usize) {
    assert!(b.iter().all(|b| b.len() >= (depth - 1) * stride + PANEL));
    assert!(a.iter().all(|a| a.len() >= depth));
}

/// Plain Rust, compiled for the instruction set [`run`] finds.
struct Portable;

impl Tiles for Portable {
    const ROWS: usize = 4;
    const BLOCKS: usize = 4;
    #[inline(always)]
    fn products<const R: usize, const C: usize>(
        a: [&[f32]; R],
        b: [&[f32]; C],
        stride: usize,
        depth: usize,
        init: &[[[f32; PANEL]; C]; R],
        _ahead: &mut Ahead<'_>,
    ) -> [[[f32; PANEL]; C]; R] {
        let mut acc = *init;
        for k in 0..depth {
            for r in 0..R {
                let x = a[r][k];
                for c in 0..C {
                    let y = &b[c][k * stride..][..PANEL];
                    for l in 0..PANEL {
                        acc[r][c][l] = x.mul_add(y[l], acc[r][c][l]);
                    }
                }
            }
        }
        acc
    }
}

/// Runs a tile of at most `T::ROWS` by `T::BLOCKS` as its const shape: the height picks the
/// rows, then the width the panels.
macro_rules! dispatch_tile {
    ($t:ty, $height:expr, $width:expr, $f:ident($($arg:expr),*)) => {
        match $height.min(<$t>::ROWS) {
            6 => dispatch_tile!(@panels $t, 6, $width, $f($($arg),*)),
            5 => dispatch_tile!(@panels $t, 5, $width, $f($($arg),*)),
            4 => dispatch_tile!(@panels $t, 4, $width, $f($($arg),*)),
            3 => dispatch_tile!(@panels $t, 3, $width, $f($($arg),*)),
            2 => dispatch_tile!(@panels $t, 2, $width, $f($($arg),*)),
            _ => dispatch_tile!(@panels $t, 1, $width, $f($($arg),*)),
        }
    };
    (@panels $t:ty, $rows:literal, $width:expr, $f:ident($($arg:expr),*)) => {
        match $width.min(<$t>::BLOCKS) {
            4 => $f::<$t, $rows, 4>($($arg),*),
            3 => $f::<$t, $rows, 3>($($arg),*),
            2 => $f::<$t, $rows, 2>($($arg),*),
            _ => $f::<$t, $rows, 1>($($arg),*),
        }
    };
}

/// `weights[r, j] = q_r . key_j` for every query row and position, `[queries, positions]`.
#[inline(always)]
fn scores<T: Tiles>(
    q: Rows<'_>,
    queries: usize,
    keys: &[f32],
    d: usize,
    positions: usize,
    weights: &mut [f32],
    ahead: &mut Ahead<'_>,
) {
    let blocks = positions.div_ceil(PANEL);
    let mut block = 0;
    while block < blocks {
        let width = (blocks - block).min(T::BLOCKS);
        let mut row = 0;
        while row < queries {
            let height = (queries - row).min(T::ROWS);
            let tile = Tile { row, block };
            let out = ScoresOut { weights, positions };
            dispatch_tile!(T, height, width, scores_tile(q, keys, d, tile, out, ahead));
            row += height;
        }
        block += width;
    }
}

/// The corner of a register tile: its first query row and first panel (or column block).
#[derive(Clone, Copy)]
struct Tile {
    row: usize,
    block: usize,
}

/// Where scores go: `[queries, positions]`.
struct ScoresOut<'a> {
    weights: &'a mut [f32],
    positions: usize,
}

#[inline(always)]
fn scores_tile<T: Tiles, const R: usize, const C: usize>(
    q: Rows<'_>,
    keys: &[f32],
    d: usize,
    tile: Tile,
    out: ScoresOut<'_>,
    ahead: &mut Ahead<'_>,
) {
    let a: [&[f32]; R] = std::array::from_fn(|r| q.row(tile.row + r));
    let b: [&[f32]; C] =
        std::array::from_fn(|c| &keys[(tile.block + c) * d * PANEL..][..d * PANEL]);
    let acc = T::products::<R, C>(a, b, PANEL, d, &[[[0.0; PANEL]; C]; R], ahead);
    let positions = out.positions;
    for (r, acc_row) in acc.iter().enumerate() {
        let row = &mut out.weights[(tile.row + r) * positions..][..positions];
        for (c, lanes) in acc_row.iter().enumerate() {
            let start = (tile.block + c) * PANEL;
            let n = positions.saturating_sub(start).min(PANEL);
            row[start..start + n].copy_from_slice(&lanes[..n]);
        }
    }
}

/// Positions of values one pass of the weighted values takes for all query rows: a block of
/// a head's values (16 KB for 64-wide heads) stays in L1 while every row tile reads it, where
/// whole-depth tiles read the head's values from L2 again for every 4 query rows.
const VALUE_BLOCK: usize = 64;

/// `out[r * row_stride + first + c] = sum_j weights[r, j] values[j, c]` for every query row
/// `r` and `c < d` (the output rows are `q`'s, `first` the head's offset in them), summed over
/// the positions in order, [`VALUE_BLOCK`] positions per pass: each pass continues the
/// accumulators the last one left in `out`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn weighted_values<T: Tiles>(
    weights: &[f32],
    queries: usize,
    positions: usize,
    values: Rows<'_>,
    d: usize,
    first: usize,
    out: &mut [f32],
    ahead: &mut Ahead<'_>,
) {
    let row_stride = out.len() / queries;
    let blocks = d / PANEL;
    let mut from = 0;
    while from < positions {
        let span = (positions - from).min(VALUE_BLOCK);
        let mut block = 0;
        while block < blocks {
            let width = (blocks - block).min(T::BLOCKS);
            let mut row = 0;
            while row < queries {
                let height = (queries - row).min(T::ROWS);
                let tile = Tile { row, block };
                let w = Rows {
                    values: &weights[from..],
                    stride: positions,
                    len: span,
                };
                let v = Rows {
                    values: &values.values[from * values.stride..],
                    stride: values.stride,
                    len: values.len,
                };
                let dst = ValuesOut {
                    out: &mut *out,
                    row_stride,
                    first,
                    continues: from > 0,
                };
                dispatch_tile!(T, height, width, values_tile(w, v, tile, dst, ahead));
                row += height;
            }
            block += width;
        }
        from += span;
    }
}

/// Where weighted values go: row `r`'s head at `r * row_stride + first`; `continues` when
/// the sums there are partial, to be carried on rather than started.
struct ValuesOut<'a> {
    out: &'a mut [f32],
    row_stride: usize,
    first: usize,
    continues: bool,
}

#[inline(always)]
fn values_tile<T: Tiles, const R: usize, const C: usize>(
    weights: Rows<'_>,
    values: Rows<'_>,
    tile: Tile,
    dst: ValuesOut<'_>,
    ahead: &mut Ahead<'_>,
) {
    let a: [&[f32]; R] = std::array::from_fn(|r| weights.row(tile.row + r));
    let first = tile.block * PANEL;
    let depth = weights.len;
    // Block `c` of position `j` is at `j * stride + first + c * PANEL`.
    let span = (depth - 1) * values.stride + C * PANEL;
    let b: [&[f32]; C] =
        std::array::from_fn(|c| &values.values[first + c * PANEL..][..span - c * PANEL]);
    let start = |r: usize| (tile.row + r) * dst.row_stride + dst.first + first;
    let mut init = [[[0f32; PANEL]; C]; R];
    if dst.continues {
        for (r, init_row) in init.iter_mut().enumerate() {
            for (c, lanes) in init_row.iter_mut().enumerate() {
                lanes.copy_from_slice(&dst.out[start(r) + c * PANEL..][..PANEL]);
            }
        }
    }
    let acc = T::products::<R, C>(a, b, values.stride, depth, &init, ahead);
    for (r, acc_row) in acc.iter().enumerate() {
        for (c, lanes) in acc_row.iter().enumerate() {
            dst.out[start(r) + c * PANEL..][..PANEL].copy_from_slice(lanes);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The tiles in AVX-512 and AVX2 registers. Each accumulator is the same chain of fused
    //! multiply-adds as [`super::Portable`]'s, so every instruction set gives the same floats.

    use std::arch::x86_64::*;

    use super::{Ahead, PANEL, PanelAttentionLoop, Tiles, check_operands};

    /// [`PanelAttentionLoop`] with AVX-512 tiles.
    ///
    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn run_avx512(kernel: PanelAttentionLoop<'_>) {
        kernel.attend::<Avx512>();
    }

    /// [`PanelAttentionLoop`] with AVX2 tiles.
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn run_avx2(kernel: PanelAttentionLoop<'_>) {
        kernel.attend::<Avx2>();
    }

    struct Avx512;

    impl Tiles for Avx512 {
        // 24 accumulators, four panels loaded, a broadcast: 29 of 32 registers.
        const ROWS: usize = 6;
        const BLOCKS: usize = 4;
        #[inline(always)]
        fn products<const R: usize, const C: usize>(
            a: [&[f32]; R],
            b: [&[f32]; C],
            stride: usize,
            depth: usize,
            init: &[[[f32; PANEL]; C]; R],
            ahead: &mut Ahead<'_>,
        ) -> [[[f32; PANEL]; C]; R] {
            check_operands(&a, &b, stride, depth);
            // SAFETY: only inlined into `run_avx512` (AVX-512F); every load is within the
            // slices checked above.
            unsafe {
                let mut acc = [[_mm512_setzero_ps(); C]; R];
                for r in 0..R {
                    for c in 0..C {
                        acc[r][c] = _mm512_loadu_ps(init[r][c].as_ptr());
                    }
                }
                let mut y = [_mm512_setzero_ps(); C];
                for k in 0..depth {
                    if let Some(line) = ahead.next() {
                        _mm_prefetch::<_MM_HINT_T1>(line.cast());
                    }
                    for c in 0..C {
                        y[c] = _mm512_loadu_ps(b[c].as_ptr().add(k * stride));
                    }
                    for r in 0..R {
                        let x = _mm512_set1_ps(*a[r].get_unchecked(k));
                        for c in 0..C {
                            acc[r][c] = _mm512_fmadd_ps(x, y[c], acc[r][c]);
                        }
                    }
                }
                let mut out = [[[0f32; PANEL]; C]; R];
                for r in 0..R {
                    for c in 0..C {
                        _mm512_storeu_ps(out[r][c].as_mut_ptr(), acc[r][c]);
                    }
                }
                out
            }
        }
    }

    struct Avx2;

    impl Tiles for Avx2 {
        // A panel is two registers: 8 accumulators, four loaded, a broadcast (of 16).
        const ROWS: usize = 2;
        const BLOCKS: usize = 2;
        #[inline(always)]
        fn products<const R: usize, const C: usize>(
            a: [&[f32]; R],
            b: [&[f32]; C],
            stride: usize,
            depth: usize,
            init: &[[[f32; PANEL]; C]; R],
            ahead: &mut Ahead<'_>,
        ) -> [[[f32; PANEL]; C]; R] {
            check_operands(&a, &b, stride, depth);
            // SAFETY: only inlined into `run_avx2` (AVX2, FMA); every load is within the
            // slices checked above.
            unsafe {
                let zero = _mm256_setzero_ps();
                let mut acc = [[[zero; 2]; C]; R];
                for r in 0..R {
                    for c in 0..C {
                        let p = init[r][c].as_ptr();
                        acc[r][c] = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))];
                    }
                }
                let mut y = [[zero; 2]; C];
                for k in 0..depth {
                    if let Some(line) = ahead.next() {
                        _mm_prefetch::<_MM_HINT_T1>(line.cast());
                    }
                    for c in 0..C {
                        let p = b[c].as_ptr().add(k * stride);
                        y[c] = [_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8))];
                    }
                    for r in 0..R {
                        let x = _mm256_set1_ps(*a[r].get_unchecked(k));
                        for c in 0..C {
                            acc[r][c][0] = _mm256_fmadd_ps(x, y[c][0], acc[r][c][0]);
                            acc[r][c][1] = _mm256_fmadd_ps(x, y[c][1], acc[r][c][1]);
                        }
                    }
                }
                let mut out = [[[0f32; PANEL]; C]; R];
                for r in 0..R {
                    for c in 0..C {
                        _mm256_storeu_ps(out[r][c].as_mut_ptr(), acc[r][c][0]);
                        _mm256_storeu_ps(out[r][c].as_mut_ptr().add(8), acc[r][c][1]);
                    }
                }
                out
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys `[matrices, d, positions]` (transposed) as panels `[matrices, blocks, d, PANEL]`,
    /// the last panel padded with `pad` (never read into a result).
    fn pack(key_t: &[f32], d: usize, positions: usize, pad: f32) -> Vec<f32> {
        let blocks = positions.div_ceil(PANEL);
        let matrices = key_t.len() / (d * positions);
        let mut panels = vec![pad; matrices * blocks * d * PANEL];
        for (m, key) in key_t.chunks_exact(d * positions).enumerate() {
            for k in 0..d {
                for j in 0..positions {
                    let (b, l) = (j / PANEL, j % PANEL);
                    panels[((m * blocks + b) * d + k) * PANEL + l] = key[k * positions + j];
                }
            }
        }
        panels
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A small deterministic spread of signs and magnitudes.
        (0..n as u32)
            .map(|i| {
                let x = i
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(40_503));
                ((x >> 8) % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    struct Case {
        groups: usize,
        queries: usize,
        heads: usize,
        d: usize,
        positions: usize,
        /// Value rows are this far apart (>= d: a cache with room).
        value_stride: usize,
        bias_per_group: bool,
        bias_per_head: bool,
        /// A bias row per query (a position bias), else one shared by the queries (a mask).
        bias_per_query: bool,
    }

    struct Inputs {
        q: Vec<f32>,
        key_t: Vec<f32>,
        panels: Vec<f32>,
        values: Vec<f32>,
        bias: Vec<f32>,
        dims: PanelAttentionDims,
    }

    fn inputs(case: &Case, pad: f32) -> Inputs {
        let Case {
            groups,
            queries,
            heads,
            d,
            positions,
            value_stride,
            ..
        } = *case;
        let blocks = positions.div_ceil(PANEL);
        let key_t = values(groups * heads * d * positions, 1);
        let bias_groups = if case.bias_per_group { groups } else { 1 };
        let bias_heads = if case.bias_per_head { heads } else { 1 };
        let bias_queries = if case.bias_per_query { queries } else { 1 };
        let mut bias = values(bias_groups * bias_heads * bias_queries * positions, 3);
        // A masked position, as an encoder mask has them.
        bias[positions / 2] = f32::MIN;
        Inputs {
            q: values(groups * queries * heads * d, 2),
            panels: pack(&key_t, d, positions, pad),
            key_t,
            values: values(groups * heads * positions * value_stride, 4),
            bias,
            dims: PanelAttentionDims {
                groups,
                queries,
                heads,
                d,
                positions,
                key_strides: [heads * blocks * d * PANEL, blocks * d * PANEL],
                value_strides: [
                    heads * positions * value_stride,
                    positions * value_stride,
                    value_stride,
                ],
                bias_strides: [
                    if case.bias_per_group {
                        bias_heads * bias_queries * positions
                    } else {
                        0
                    },
                    if case.bias_per_head {
                        bias_queries * positions
                    } else {
                        0
                    },
                    if case.bias_per_query { positions } else { 0 },
                ],
            },
        }
    }

    /// The expression in `f64`, one group and head at a time.
    fn reference(x: &Inputs) -> Vec<f64> {
        let PanelAttentionDims {
            groups,
            queries,
            heads,
            d,
            positions,
            value_strides,
            bias_strides,
            ..
        } = x.dims;
        let mut out = vec![0f64; groups * queries * heads * d];
        for g in 0..groups {
            for h in 0..heads {
                let key = &x.key_t[(g * heads + h) * d * positions..][..d * positions];
                for r in 0..queries {
                    let at = g * bias_strides[0] + h * bias_strides[1] + r * bias_strides[2];
                    let bias = &x.bias[at..][..positions];
                    let q = &x.q[((g * queries + r) * heads + h) * d..][..d];
                    let scores: Vec<f64> = (0..positions)
                        .map(|j| {
                            let dot: f64 = (0..d)
                                .map(|k| q[k] as f64 * key[k * positions + j] as f64)
                                .sum();
                            dot + bias[j] as f64
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::MIN, f64::max);
                    let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
                    let total: f64 = exps.iter().sum();
                    let dst = &mut out[((g * queries + r) * heads + h) * d..][..d];
                    for (j, e) in exps.iter().enumerate() {
                        let v = &x.values
                            [g * value_strides[0] + h * value_strides[1] + j * value_strides[2]..];
                        for c in 0..d {
                            dst[c] += e / total * v[c] as f64;
                        }
                    }
                }
            }
        }
        out
    }

    fn run_portable(x: &Inputs) -> Vec<f32> {
        let mut out = vec![f32::NAN; x.q.len()];
        run(PanelAttentionLoop {
            q: &x.q,
            key_panels: &x.panels,
            values: &x.values,
            bias: &x.bias,
            dims: x.dims,
            out: &mut out,
        });
        out
    }

    fn run_dispatched(x: &Inputs) -> Vec<f32> {
        let mut out = vec![f32::NAN; x.q.len()];
        panel_attention(&x.q, &x.panels, &x.values, &x.bias, x.dims, &mut out);
        out
    }

    const CASES: [Case; 5] = [
        // Chronos-T5 cross-attention: 20 samples of 3 series, 513 encoder positions.
        Case {
            groups: 3,
            queries: 20,
            heads: 4,
            d: 64,
            positions: 513,
            value_stride: 64,
            bias_per_group: true,
            bias_per_head: false,
            bias_per_query: false,
        },
        // One query per group (a self-attention step) over a cache with room, a bias per head.
        Case {
            groups: 5,
            queries: 1,
            heads: 3,
            d: 32,
            positions: 7,
            value_stride: 48,
            bias_per_group: false,
            bias_per_head: true,
            bias_per_query: false,
        },
        // Rows and panels that leave partial tiles of every size (with the next two cases:
        // 11, 10 and 39 queries leave 5, 4 and 3 rows after tiles of 6).
        Case {
            groups: 2,
            queries: 11,
            heads: 2,
            d: 80,
            positions: 16 * 6 + 3,
            value_stride: 80,
            bias_per_group: true,
            bias_per_head: true,
            bias_per_query: false,
        },
        Case {
            groups: 1,
            queries: 10,
            heads: 1,
            d: 16,
            positions: 16,
            value_stride: 16,
            bias_per_group: false,
            bias_per_head: false,
            bias_per_query: false,
        },
        // Encoder self-attention: every position a query, a position bias row per query
        // (with the mask added) per group and head.
        Case {
            groups: 2,
            queries: 39,
            heads: 2,
            d: 32,
            positions: 39,
            value_stride: 32,
            bias_per_group: true,
            bias_per_head: true,
            bias_per_query: true,
        },
    ];

    #[test]
    fn panel_attention_matches_the_expression_in_f64() {
        for (i, case) in CASES.iter().enumerate() {
            let x = inputs(case, 0.0);
            let want = reference(&x);
            let got = run_dispatched(&x);
            for (n, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*g as f64 - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "case {i}, output {n}: {g} against {w}"
                );
            }
        }
    }

    #[test]
    fn every_instruction_set_gives_the_same_bits_and_the_padding_is_never_read() {
        for (i, case) in CASES.iter().enumerate() {
            let x = inputs(case, 0.0);
            let portable = run_portable(&x);
            assert_eq!(run_dispatched(&x), portable, "case {i}: dispatched");
            // Garbage in the last panel's padding changes nothing.
            let poisoned = inputs(case, f32::NAN);
            assert_eq!(run_dispatched(&poisoned), portable, "case {i}: NaN padding");
            #[cfg(target_arch = "x86_64")]
            for (isa, found) in [
                ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
                (
                    "avx2",
                    std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma"),
                ),
            ] {
                if !found {
                    continue;
                }
                let mut out = vec![f32::NAN; x.q.len()];
                let kernel = PanelAttentionLoop {
                    q: &x.q,
                    key_panels: &x.panels,
                    values: &x.values,
                    bias: &x.bias,
                    dims: x.dims,
                    out: &mut out,
                };
                // SAFETY: the feature was detected just above.
                unsafe {
                    match isa {
                        "avx512f" => x86::run_avx512(kernel),
                        _ => x86::run_avx2(kernel),
                    }
                }
                assert_eq!(out, portable, "case {i}: {isa}");
            }
        }
    }

    #[test]
    fn a_sum_cut_into_blocks_gives_the_floats_of_one_pass() {
        // What the weighted values' position blocks rely on: continuing from a tile's
        // accumulators is the same chain of fused multiply-adds as one pass over the depth.
        let (depth, stride, cut) = (150, 40, 64);
        let a_rows = [values(depth, 5), values(depth, 6)];
        let b_cols = [values(depth * stride, 7), values(depth * stride, 8)];
        let a = [&a_rows[0][..], &a_rows[1][..]];
        let b = [&b_cols[0][..], &b_cols[1][8..]];
        let mut ahead = Ahead::new(&[]);
        let zero = [[[0f32; PANEL]; 2]; 2];
        let whole = Portable::products::<2, 2>(a, b, stride, depth, &zero, &mut ahead);
        let head = Portable::products::<2, 2>(a, b, stride, cut, &zero, &mut ahead);
        let tail_a = [&a_rows[0][cut..], &a_rows[1][cut..]];
        let tail_b = [&b[0][cut * stride..], &b[1][cut * stride..]];
        let split =
            Portable::products::<2, 2>(tail_a, tail_b, stride, depth - cut, &head, &mut ahead);
        assert_eq!(split, whole);
    }

    #[test]
    fn a_row_with_every_position_masked_gets_uniform_weights() {
        let case = &CASES[2];
        let mut x = inputs(case, 0.0);
        x.bias.iter_mut().for_each(|b| *b = f32::MIN);
        let got = run_dispatched(&x);
        let PanelAttentionDims {
            groups,
            queries,
            heads,
            d,
            positions,
            value_strides,
            ..
        } = x.dims;
        for g in 0..groups {
            for h in 0..heads {
                let mean: Vec<f64> = (0..d)
                    .map(|c| {
                        (0..positions)
                            .map(|j| {
                                x.values[g * value_strides[0]
                                    + h * value_strides[1]
                                    + j * value_strides[2]
                                    + c] as f64
                            })
                            .sum::<f64>()
                            / positions as f64
                    })
                    .collect();
                for r in 0..queries {
                    let row = &got[((g * queries + r) * heads + h) * d..][..d];
                    for c in 0..d {
                        assert!(
                            (row[c] as f64 - mean[c]).abs() < 1e-5,
                            "{} vs {}",
                            row[c],
                            mean[c]
                        );
                    }
                }
            }
        }
    }
}
