//! Rotary positions (RoPE) in one pass over the projections, in place: each head's two halves
//! rotated against each other, `(x1 cos - x2 sin, x2 cos + x1 sin)`, the `rotate_half`
//! convention of Chronos-2 and TimesFM. Burn's composition of the same expression (two
//! narrows, four products, a negation or difference and a concatenation) makes six passes and
//! five tensors.
//!
//! Each value is computed as the composition computes it (a product each, then one sum or
//! difference, no fused multiply-add), so the results are the same floats.

use super::math::{SimdLoop, run};

struct RopeRows<'a> {
    x: &'a mut [f32],
    cos: &'a [f32],
    sin: &'a [f32],
    row: usize,
    half: usize,
    inverse: bool,
}

impl SimdLoop for RopeRows<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let table_rows = self.cos.len() / self.half;
        for (p, position) in self.x.chunks_exact_mut(self.row).enumerate() {
            let t = (p % table_rows) * self.half;
            let cos = &self.cos[t..t + self.half];
            let sin = &self.sin[t..t + self.half];
            for head in position.chunks_exact_mut(2 * self.half) {
                let (first, second) = head.split_at_mut(self.half);
                if self.inverse {
                    rotate(first, second, cos, sin, |s| -s);
                } else {
                    rotate(first, second, cos, sin, |s| s);
                }
            }
        }
    }
}

/// `(a, b) <- (a cos - b sin', b cos + a sin')` with `sin' = sign(sin)`.
#[inline(always)]
fn rotate(
    first: &mut [f32],
    second: &mut [f32],
    cos: &[f32],
    sin: &[f32],
    sign: impl Fn(f32) -> f32,
) {
    for (((a, b), &c), &s) in first.iter_mut().zip(second.iter_mut()).zip(cos).zip(sin) {
        let (x1, x2, s) = (*a, *b, sign(s));
        *a = x1 * c - x2 * s;
        *b = x2 * c + x1 * s;
    }
}

/// Rotates `x`, rows of `row` values per (batch, position) (`heads` heads of `2 * half`), by
/// the tables `cos`/`sin`, rows of `half` per position: one table row per row of `x`, or one
/// per position of a single sequence shared by every batch row (`x` row `p` reads table row
/// `p % table_rows`). `inverse` rotates by the opposite angles: the backward of the forward
/// (a rotation's transpose is its inverse).
pub fn rope_rows(x: &mut [f32], cos: &[f32], sin: &[f32], row: usize, half: usize, inverse: bool) {
    assert!(half > 0 && row.is_multiple_of(2 * half) && x.len().is_multiple_of(row));
    assert!(cos.len() == sin.len() && !cos.is_empty() && cos.len().is_multiple_of(half));
    assert!(
        (x.len() / row).is_multiple_of(cos.len() / half),
        "rope: tables do not tile the rows"
    );
    run(RopeRows {
        x,
        cos,
        sin,
        row,
        half,
        inverse,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_turn_swaps_the_halves_and_the_inverse_turns_back() {
        // One position, two heads of d = 4: cos 0 / sin 1 on the first pair, cos 1 / sin 0 on
        // the second.
        let (cos, sin) = ([0.0f32, 1.0], [1.0f32, 0.0]);
        let start = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let mut x = start;
        rope_rows(&mut x, &cos, &sin, 8, 2, false);
        assert_eq!(x, [-3.0, 2.0, 1.0, 4.0, -7.0, 6.0, 5.0, 8.0]);
        rope_rows(&mut x, &cos, &sin, 8, 2, true);
        assert_eq!(x, start);
    }

    #[test]
    fn a_single_sequence_table_serves_every_batch_row() {
        // Two batch rows of two positions, one head of d = 2; the table has the two positions.
        let (cos, sin) = ([1.0f32, 0.5], [0.0f32, 2.0]);
        let mut x = [1.0f32, 1.0, 1.0, 1.0, 2.0, 3.0, 2.0, 3.0];
        rope_rows(&mut x, &cos, &sin, 2, 1, false);
        assert_eq!(
            x,
            [
                1.0,
                1.0,
                0.5 - 2.0,
                0.5 + 2.0,
                2.0,
                3.0,
                1.0 - 6.0,
                1.5 + 4.0
            ]
        );
    }
}
