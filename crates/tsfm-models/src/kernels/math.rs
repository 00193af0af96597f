//! Element-wise kernels on `f32` slices: GELU (exact, erf-based) and its derivative.
//!
//! Burn's flex backend evaluates GELU with libm's scalar `erff` per element, which was a quarter
//! of TTM's inference profile. Here erf comes from Abramowitz & Stegun 7.1.26 (|error| <=
//! 1.5e-7, the same formula PyTorch's vectorised CPU GELU uses) and exp from a range-reduced
//! polynomial, both branch-free so the loops vectorise. Only `+`, `-`, `*`, `/`, comparisons
//! and fused multiply-adds (`f32::mul_add`, rounded once by IEEE 754 on every target: the FMA
//! instruction where the dispatched instruction set has one, libm's `fmaf` otherwise) are used,
//! so every instruction set gives the same bits. The polynomials are FMA chains in Horner form:
//! with separate `*` and `+` (and a division by 5040 in the exp) their dependent steps were
//! most of GELU's time.

/// `1 / k!` for k in 0..=7.
const EXP_TAYLOR: [f32; 8] = [
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
];

/// `e^x` for `x <= 0`-ish arguments (the only ones the kernels need); 0 below `-87`
/// (where the result would be subnormal), relative error about 2e-7 elsewhere.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so that `n * LN2_HI` is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5 * 2^23 rounds to an integer held in the low mantissa bits: n = round(x log2 e)
    // as a float and as bits, with no float-to-int conversion (`as i32` saturates and handles
    // NaN lane by lane, which kept the loop scalar).
    const ROUND: f32 = 12_582_912.0;
    let clamped = x.clamp(-87.0, 88.0);
    let shifted = clamped.mul_add(LOG2E, ROUND);
    let n = shifted - ROUND;
    let r = (-n).mul_add(LN2_LO, (-n).mul_add(LN2_HI, clamped));
    // Taylor series of e^r to r^7 (|r| <= ln2/2 leaves a remainder under 3e-9), in Horner form
    // with fused multiply-adds: half the dependent steps of separate `*` and `+`.
    let p = r.mul_add(EXP_TAYLOR[7], EXP_TAYLOR[6]);
    let p = r.mul_add(p, EXP_TAYLOR[5]);
    let p = r.mul_add(p, EXP_TAYLOR[4]);
    let p = r.mul_add(p, EXP_TAYLOR[3]);
    let p = r.mul_add(p, EXP_TAYLOR[2]);
    let p = r.mul_add(p, EXP_TAYLOR[1]);
    let p = r.mul_add(p, EXP_TAYLOR[0]);
    // 2^n: the biased exponent n + 127 (in 1..=254 after the clamp) in the exponent field.
    let exponent = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    let scale = f32::from_bits(exponent << 23);
    let value = p * scale;
    if x < -87.0 { 0.0 } else { value }
}

/// `erf(z)` given `e = exp(-z^2)` (GELU and its derivative share that exponential).
#[inline(always)]
fn erf_with_exp(z: f32, e: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A1: f32 = 0.254_829_6;
    const A2: f32 = -0.284_496_74;
    const A3: f32 = 1.421_413_7;
    const A4: f32 = -1.453_152;
    const A5: f32 = 1.061_405_4;
    let t = 1.0 / P.mul_add(z.abs(), 1.0);
    let poly = t.mul_add(A5, A4);
    let poly = t.mul_add(poly, A3);
    let poly = t.mul_add(poly, A2);
    let poly = t.mul_add(poly, A1) * t;
    let magnitude = (-poly).mul_add(e, 1.0);
    if z < 0.0 { -magnitude } else { magnitude }
}

const FRAC_1_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// `1 / sqrt(2 pi)`.
const FRAC_1_SQRT_2PI: f32 = 0.398_942_3;

/// `gelu(x) = x * Phi(x)`, Phi the standard normal CDF.
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    let e = exp(-0.5 * x * x);
    0.5 * x * (1.0 + erf_with_exp(x * FRAC_1_SQRT_2, e))
}

/// `d gelu / dx = Phi(x) + x * phi(x)`, phi the standard normal density.
#[inline(always)]
pub fn gelu_derivative(x: f32) -> f32 {
    let e = exp(-0.5 * x * x);
    let cdf = 0.5 * (1.0 + erf_with_exp(x * FRAC_1_SQRT_2, e));
    cdf + x * FRAC_1_SQRT_2PI * e
}

/// A loop to compile for the best instruction set this CPU has (AVX-512, AVX2 + FMA, ...) and
/// run there: [`run`] hands it to `pulp`'s runtime dispatch. The loop lives in `run_here`,
/// which is inlined into the dispatched function, as is everything it calls (all
/// `#[inline(always)]`); a closure would not be (its body stays a separate function compiled
/// for the baseline, which is what happened first: a scalar `floorf` call per element).
pub trait SimdLoop {
    type Output;
    fn run_here(self) -> Self::Output;
}

struct Dispatched<L>(L);

impl<L: SimdLoop> pulp::WithSimd for Dispatched<L> {
    type Output = L::Output;
    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) -> L::Output {
        self.0.run_here()
    }
}

/// Runs `kernel` compiled for the instruction set found at run time.
pub fn run<L: SimdLoop>(kernel: L) -> L::Output {
    pulp::Arch::new().dispatch(Dispatched(kernel))
}

struct GeluInPlaceLoop<'a> {
    x: &'a mut [f32],
}

impl SimdLoop for GeluInPlaceLoop<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        for v in self.x.iter_mut() {
            *v = gelu(*v);
        }
    }
}

/// `x[i] = gelu(x[i])`, in place: the forward writes over a fresh linear output, or over a copy
/// when the input must be kept.
pub fn gelu_in_place(x: &mut [f32]) {
    run(GeluInPlaceLoop { x });
}

struct GeluBackwardLoop<'a> {
    x: &'a [f32],
    grad: &'a mut [f32],
}

impl SimdLoop for GeluBackwardLoop<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        for (g, &v) in self.grad.iter_mut().zip(self.x) {
            *g *= gelu_derivative(v);
        }
    }
}

/// `grad[i] = grad[i] * gelu'(x[i])`, in the upstream gradient's buffer: the backward of
/// [`gelu_in_place`].
pub fn gelu_backward_in_place(x: &[f32], grad: &mut [f32]) {
    assert_eq!(x.len(), grad.len());
    run(GeluBackwardLoop { x, grad });
}

/// SplitMix64's increment and output mix (Steele, Lea and Flood 2014).
pub(crate) const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

#[inline(always)]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

struct DropoutLoop<'a> {
    state: u64,
    threshold: u64,
    scale: f32,
    values: &'a mut [f32],
}

impl SimdLoop for DropoutLoop<'_> {
    type Output = ();
    #[inline(always)]
    fn run_here(self) {
        let keep = |half: u64| {
            if half < self.threshold {
                self.scale
            } else {
                0.0
            }
        };
        let mut pairs = self.values.chunks_exact_mut(2);
        let mut k = 0u64;
        for pair in &mut pairs {
            k += 1;
            let r = mix64(self.state.wrapping_add(k.wrapping_mul(GOLDEN_GAMMA)));
            pair[0] *= keep(r >> 32);
            pair[1] *= keep(r & 0xFFFF_FFFF);
        }
        if let [last] = pairs.into_remainder() {
            let r = mix64(self.state.wrapping_add((k + 1).wrapping_mul(GOLDEN_GAMMA)));
            *last *= keep(r >> 32);
        }
    }
}

/// `values[i] *= mask[i]` for the dropout mask [`dropout_mask`] describes: the same floats as
/// multiplying by that mask, with no mask written (a dropout's forward and its backward,
/// which draws the same mask again from `state`).
pub fn dropout_in_place(state: u64, threshold: u64, scale: f32, values: &mut [f32]) {
    run(DropoutLoop {
        state,
        threshold,
        scale,
        values,
    });
}

/// A dropout mask: element `2k` keeps (value `scale`, else 0) when the high half of the k-th
/// SplitMix64 output from `state` is below `threshold`, element `2k + 1` by the low half. The
/// k-th output is computed from k directly (SplitMix64 is a counter), so the loop vectorises
/// and gives the masks the sequential generator gives.
pub fn dropout_mask(state: u64, threshold: u64, scale: f32, mask: &mut [f32]) {
    mask.fill(1.0);
    dropout_in_place(state, threshold, scale, mask);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64 to ~1e-16 (series below 3, continued fraction of erfc above).
    fn erf64(x: f64) -> f64 {
        if x < 0.0 {
            return -erf64(-x);
        }
        if x < 3.0 {
            // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
            let mut term = x;
            let mut sum = x;
            for n in 1..200 {
                term *= -x * x / n as f64;
                let add = term / (2 * n + 1) as f64;
                sum += add;
                if add.abs() < 1e-18 {
                    break;
                }
            }
            return sum * 2.0 / std::f64::consts::PI.sqrt();
        }
        // erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
        let mut fraction = x;
        for k in (1..60).rev() {
            fraction = x + (k as f64 / 2.0) / fraction;
        }
        1.0 - (-x * x).exp() / std::f64::consts::PI.sqrt() / fraction
    }

    fn grid() -> impl Iterator<Item = f32> {
        (-12_000..=12_000).map(|i| i as f32 * 1e-3)
    }

    #[test]
    fn exp_is_within_three_ulp_on_the_range_the_kernels_use() {
        for x in (-86_990..=10_000).map(|i| i as f32 * 1e-3) {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                (got - want).abs() <= 3.0 * f32::EPSILON as f64 * want,
                "exp({x}) = {got}, want {want}"
            );
        }
        assert_eq!(exp(-90.0), 0.0);
        assert_eq!(exp(0.0), 1.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn gelu_matches_the_exact_definition() {
        for x in grid() {
            let want = 0.5 * x as f64 * (1.0 + erf64(x as f64 / 2f64.sqrt()));
            let got = gelu(x) as f64;
            // A&S 7.1.26's 1.5e-7 on erf, times |x| / 2, plus f32 rounding.
            let tolerance = 1.5e-7 * (x.abs() as f64) + 2.0 * f32::EPSILON as f64 * want.abs();
            assert!(
                (got - want).abs() <= tolerance,
                "gelu({x}) = {got}, want {want}"
            );
        }
        assert_eq!(gelu(0.0), 0.0);
        assert!(gelu(f32::NAN).is_nan());
        assert_eq!(gelu(-100.0), 0.0);
        assert_eq!(gelu(100.0), 100.0);
    }

    #[test]
    fn gelu_derivative_matches_the_exact_definition() {
        for x in grid() {
            let x64 = x as f64;
            let pdf = (-0.5 * x64 * x64).exp() / (2.0 * std::f64::consts::PI).sqrt();
            let want = 0.5 * (1.0 + erf64(x64 / 2f64.sqrt())) + x64 * pdf;
            let got = gelu_derivative(x) as f64;
            assert!(
                (got - want).abs() <= 3e-7,
                "gelu'({x}) = {got}, want {want}"
            );
        }
    }

    #[test]
    fn dropout_masks_are_the_sequential_splitmix_stream() {
        for n in [0usize, 1, 2, 7, 64, 1_001] {
            let mut state = 0x1234_5678_9abc_def0u64;
            let (threshold, scale) = ((0.8 * 4_294_967_296.0) as u64, 1.25f32);
            let mut mask = vec![f32::NAN; n];
            dropout_mask(state, threshold, scale, &mut mask);
            let mut want = Vec::new();
            while want.len() < n {
                let r = crate::nn::layers::split_mix64(&mut state);
                for half in [r >> 32, r & 0xFFFF_FFFF] {
                    want.push(if half < threshold { scale } else { 0.0 });
                }
            }
            want.truncate(n);
            assert_eq!(mask, want, "n = {n}");
            // Applied in place: each value times its mask element, the same bits.
            let values: Vec<f32> = (0..n).map(|i| (i as f32 - 300.0) * 0.37).collect();
            let mut applied = values.clone();
            dropout_in_place(0x1234_5678_9abc_def0, threshold, scale, &mut applied);
            for i in 0..n {
                assert_eq!(
                    applied[i].to_bits(),
                    (values[i] * want[i]).to_bits(),
                    "n = {n}, {i}"
                );
            }
        }
    }

    #[test]
    fn slices_apply_the_scalar_kernels_element_by_element() {
        let x: Vec<f32> = (0..1_003).map(|i| (i as f32 - 500.0) * 0.013).collect();
        let grad: Vec<f32> = (0..1_003).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut forward = x.clone();
        let mut backward = grad.clone();
        gelu_in_place(&mut forward);
        gelu_backward_in_place(&x, &mut backward);
        for i in 0..x.len() {
            // Bit-equal: the vector loop evaluates the same operations as the scalar function.
            assert_eq!(forward[i].to_bits(), gelu(x[i]).to_bits(), "at {}", x[i]);
            let want = grad[i] * gelu_derivative(x[i]);
            assert_eq!(backward[i].to_bits(), want.to_bits(), "at {}", x[i]);
        }
    }
}
