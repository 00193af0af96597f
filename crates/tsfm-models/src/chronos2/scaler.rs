//! Chronos-2's input side before any weight: instance normalisation (optionally followed by
//! `arcsinh`), context patches with their time encoding and mask, and the future tokens'
//! patches (time encoding, known-future covariate values, their mask).
//!
//! As in [`crate::chronos_bolt::scaler`], missing values are a NaN-free value tensor plus an
//! observed mask, so no NaN enters a graph autodiff differentiates; results equal the
//! package's NaN arithmetic.

use burn::Tensor;
use burn::tensor::{Device, TensorData};

pub use crate::chronos_bolt::scaler::LocScale;
use crate::chronos_bolt::scaler::{self as bolt, Context};

/// Per-row location and scale plus whether values pass through `arcsinh` after standardising
/// (`InstanceNorm(use_arcsinh=...)`).
#[derive(Debug, Clone)]
pub struct Normaliser {
    pub loc_scale: LocScale,
    pub arcsinh: bool,
}

impl Normaliser {
    /// `InstanceNorm.forward(x, loc_scale)`: `(x - loc) / scale`, then `arcsinh` if enabled.
    pub fn normalise(&self, x: Tensor<2>) -> Tensor<2> {
        let z = self.loc_scale.normalise(x);
        if self.arcsinh { z.asinh() } else { z }
    }

    /// `InstanceNorm.inverse`: `sinh` if enabled, then `x * scale + loc`.
    pub fn denormalise(&self, x: Tensor<2>) -> Tensor<2> {
        let x = if self.arcsinh { x.sinh() } else { x };
        self.loc_scale.denormalise(x)
    }
}

/// `InstanceNorm.forward` on a context: loc/scale from the observed steps (Chronos-Bolt's
/// rules: nothing observed -> 0/1, constant -> scale 1e-5), then the normalised values
/// (0 where missing).
pub fn instance_norm(ctx: &Context, arcsinh: bool) -> (Tensor<2>, Normaliser) {
    let (scaled, loc_scale) = bolt::instance_norm(ctx);
    // `arcsinh(0) = 0`, so missing steps stay 0.
    let scaled = if arcsinh { scaled.asinh() } else { scaled };
    (scaled, Normaliser { loc_scale, arcsinh })
}

/// `[b, n, p]` time encoding: `arange(start, start + n * p) / scale`, cut into rows of `p`
/// in order (the package's `repeat("(n p) -> b n p")`, whatever the stride), in f32 as torch
/// computes it.
fn time_encoding(
    b: usize,
    n: usize,
    p: usize,
    start: i64,
    scale: usize,
    device: &Device,
) -> Tensor<3> {
    let row: Vec<f32> = (0..(n * p) as i64)
        .map(|k| (start + k) as f32 / scale as f32)
        .collect();
    let data: Vec<f32> = row.iter().copied().cycle().take(b * n * p).collect();
    Tensor::from_data(TensorData::new(data, [b, n, p]), device)
}

/// `_prepare_patched_context` after the scaling: left-pad to a multiple of `size` (padding is
/// missing), cut patches of `size` every `stride` steps, and put each patch's time encoding
/// `[-C, ..., -1] / scale` (`C` = patches x size), values (0 where missing) and mask side by
/// side. Returns the patches `[b, n, 3 size]` and the attention mask `[b, n]` (1 where at
/// least one step of the patch is observed).
pub fn patch_context(
    scaled: Tensor<2>,
    observed: Tensor<2>,
    size: usize,
    stride: usize,
    time_scale: usize,
) -> (Tensor<3>, Tensor<2>) {
    let (values_and_mask, attention) = bolt::patchify(scaled, observed, size, stride);
    let [b, n, _] = values_and_mask.dims();
    let start = -((n * size) as i64);
    let time = time_encoding(b, n, size, start, time_scale, &values_and_mask.device());
    (Tensor::cat(vec![time, values_and_mask], 2), attention)
}

/// Known-future covariate values in the NaN-free form: `values` are 0 where `known` is 0.
#[derive(Debug, Clone)]
pub struct FutureCovariates {
    /// `[b, f]` in data units (each row in its own units).
    pub values: Tensor<2>,
    /// `[b, f]`, 1 where the future value is known.
    pub known: Tensor<2>,
}

impl FutureCovariates {
    /// From values with NaN where a row has no known future value (the package's convention
    /// when `future_covariates_mask` is omitted).
    pub fn from_nan(values: Tensor<2>) -> Self {
        let nan = values.clone().is_nan();
        let known = nan.clone().bool_not().float();
        Self {
            values: values.mask_fill(nan, 0.0),
            known,
        }
    }

    /// `[b, len]`: zero-padded (unknown) on the right up to `len` (`len` >= the width).
    fn padded(self, len: usize) -> Self {
        let [b, f] = self.values.dims();
        if f >= len {
            return self;
        }
        let zeros = Tensor::<2>::zeros([b, len - f], &self.values.device());
        Self {
            values: Tensor::cat(vec![self.values, zeros.clone()], 1),
            known: Tensor::cat(vec![self.known, zeros], 1),
        }
    }
}

/// `_prepare_patched_future`: per output patch `[time encoding [0, ..., H-1] / scale, known
/// covariate values normalised with the row's own loc/scale (0 where unknown), their mask]`.
/// Returns the patches `[b, n_out, 3 p]` and the known mask `[b, n_out p]` (which the loss
/// uses to skip known-future steps).
pub fn patch_future(
    covariates: Option<FutureCovariates>,
    norm: &Normaliser,
    batch: usize,
    n_out: usize,
    p: usize,
    time_scale: usize,
    device: &Device,
) -> (Tensor<3>, Tensor<2>) {
    let h = n_out * p;
    let (values, known) = match covariates {
        Some(c) => {
            let c = c.padded(h);
            // Unknown steps hold 0 in data units; their normalised value is dropped here.
            let values = norm.normalise(c.values) * c.known.clone();
            (values, c.known)
        }
        None => (
            Tensor::<2>::zeros([batch, h], device),
            Tensor::<2>::zeros([batch, h], device),
        ),
    };
    let time = time_encoding(batch, n_out, p, 0, time_scale, device);
    let patched = Tensor::cat(
        vec![
            time,
            values.reshape([batch, n_out, p]),
            known.clone().reshape([batch, n_out, p]),
        ],
        2,
    );
    (patched, known)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    fn t2(rows: &[&[f32]]) -> Tensor<2> {
        let cols = rows[0].len();
        let data: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(data, [rows.len(), cols]), &Device::flex())
    }

    #[test]
    fn context_patches_carry_time_values_and_mask() {
        // 3 steps, patch 2: one padded step; the time encoding counts back from -4.
        let ctx = Context::from_nan(t2(&[&[1.0, f32::NAN, 3.0]]), None);
        let (scaled, norm) = instance_norm(&ctx, false);
        assert_eq!(vals(norm.loc_scale.loc.clone()), vec![2.0]);
        let (p, att) = patch_context(scaled, ctx.observed, 2, 2, 4);
        assert_eq!(p.dims(), [1, 2, 6]);
        assert_eq!(
            vals(p),
            vec![
                -1.0, -0.75, 0.0, -1.0, 0.0, 1.0, -0.5, -0.25, 0.0, 1.0, 0.0, 1.0
            ]
        );
        assert_eq!(vals(att), vec![1.0, 1.0]);
    }

    #[test]
    fn arcsinh_round_trips_and_future_tokens_use_the_rows_scale() {
        let ctx = Context::from_nan(t2(&[&[0.0, 4.0]]), None);
        let (scaled, norm) = instance_norm(&ctx, true);
        // loc 2, scale 2: (-1, 1) -> arcsinh.
        let a = 1f32.asinh();
        let s = vals(scaled);
        assert!((s[0] + a).abs() < 1e-6 && (s[1] - a).abs() < 1e-6, "{s:?}");
        let back = vals(norm.denormalise(t2(&[&[-a, a]])));
        assert!(
            (back[0]).abs() < 1e-5 && (back[1] - 4.0).abs() < 1e-5,
            "{back:?}"
        );
        let future = FutureCovariates::from_nan(t2(&[&[4.0, f32::NAN, 2.0]]));
        let (p, known) = patch_future(Some(future), &norm, 1, 2, 2, 4, &Device::flex());
        assert_eq!(vals(known), vec![1.0, 0.0, 1.0, 0.0]);
        let p = vals(p);
        assert_eq!(&p[0..2], &[0.0, 0.25]);
        assert!((p[2] - a).abs() < 1e-6 && p[3] == 0.0, "{p:?}");
        assert_eq!(&p[6..12], &[0.5, 0.75, 0.0, 0.0, 1.0, 0.0]);
    }
}
