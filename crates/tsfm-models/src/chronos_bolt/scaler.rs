//! Chronos-Bolt's input side before any weight: `InstanceNorm` and `Patch`.
//!
//! The package marks missing values with NaN. Here a context is a NaN-free value tensor plus an
//! observed mask (1/0), so no NaN ever enters a graph that autodiff differentiates; the results
//! are those of the package's NaN arithmetic (`nanmean`, `nan_to_num`, `where(mask > 0, ...)`).

use burn::Tensor;

/// The package's `InstanceNorm` epsilon: a zero scale (a constant series) becomes this.
pub const SCALE_EPS: f64 = 1e-5;

/// Per-series location and scale, `[batch, 1]` each.
#[derive(Debug, Clone)]
pub struct LocScale {
    pub loc: Tensor<2>,
    pub scale: Tensor<2>,
}

impl LocScale {
    /// `InstanceNorm.forward` with a given `loc_scale`: `(x - loc) / scale`.
    pub fn normalise(&self, x: Tensor<2>) -> Tensor<2> {
        (x - self.loc.clone()) / self.scale.clone()
    }

    /// `InstanceNorm.inverse`: `x * scale + loc`.
    pub fn denormalise(&self, x: Tensor<2>) -> Tensor<2> {
        x * self.scale.clone() + self.loc.clone()
    }
}

/// A context in a NaN-free form: `values` are 0 where `observed` is 0.
#[derive(Debug, Clone)]
pub struct Context {
    /// `[batch, time]`.
    pub values: Tensor<2>,
    /// `[batch, time]`, 1 observed / 0 missing.
    pub observed: Tensor<2>,
}

impl Context {
    /// Each series repeated `n` times, consecutively: `[b, t] -> [b * n, t]` (one row per
    /// rollout path).
    pub fn repeat_rows(self, n: usize) -> Self {
        let rep = |x: Tensor<2>| {
            let [b, t] = x.dims();
            x.unsqueeze_dim::<3>(1)
                .expand([b, n, t])
                .reshape([b * n, t])
        };
        Self {
            values: rep(self.values),
            observed: rep(self.observed),
        }
    }

    /// Forecast steps appended to the context as observed values (rollout).
    pub fn append(self, forecast: Tensor<2>) -> Self {
        let observed = forecast.ones_like();
        Self {
            values: Tensor::cat(vec![self.values, forecast], 1),
            observed: Tensor::cat(vec![self.observed, observed], 1),
        }
    }

    /// A context from values with NaN for missing steps (the package's convention), optionally
    /// also masked by `mask` (0 = missing). A NaN value is missing whatever the mask says.
    pub fn from_nan(values: Tensor<2>, mask: Option<Tensor<2>>) -> Self {
        let nan = values.clone().is_nan();
        let mut observed = nan.clone().bool_not().float();
        if let Some(m) = mask {
            observed = observed * m.greater_elem(0.0).float();
        }
        let values = values.mask_fill(nan, 0.0);
        let values = values.mask_fill(observed.clone().lower_equal_elem(0.0), 0.0);
        Self { values, observed }
    }

    /// The last `len` steps (the model's `context[..., -context_length:]`).
    pub fn last(self, len: usize) -> Self {
        let t = self.values.dims()[1];
        if t <= len {
            return self;
        }
        Self {
            values: self.values.narrow(1, t - len, len),
            observed: self.observed.narrow(1, t - len, len),
        }
    }
}

/// `InstanceNorm.forward`: loc = nan-mean, scale = population std over the observed steps;
/// a series with nothing observed gets loc 0 and scale 1 (`nan_to_num`), a constant one scale
/// [`SCALE_EPS`]. Returns the normalised values (0 where missing) and the loc/scale.
pub fn instance_norm(ctx: &Context) -> (Tensor<2>, LocScale) {
    let count = ctx.observed.clone().sum_dim(1);
    let none = count.clone().lower_equal_elem(0.0);
    // With nothing observed the sums are 0, so dividing by max(count, 1) gives loc 0.
    let denom = count.clamp_min(1.0);
    let rough = ctx.values.clone().sum_dim(1) / denom.clone();
    // A plain running sum is a few ulps off torch's pairwise `nanmean` for a level far from
    // zero (100 +- 2: one ulp of the loc is 1e-5 of a unit std), which the network amplifies;
    // adding the mean deviation from the first estimate recovers the correctly rounded mean.
    let deviation = (ctx.values.clone() - rough.clone()) * ctx.observed.clone();
    let loc = rough + deviation.sum_dim(1) / denom.clone();
    let centred = (ctx.values.clone() - loc.clone()) * ctx.observed.clone();
    let scale = (centred.square().sum_dim(1) / denom).sqrt();
    let scale = scale.clone().mask_fill(scale.equal_elem(0.0), SCALE_EPS);
    let scale = scale.mask_fill(none, 1.0);
    let loc_scale = LocScale { loc, scale };
    let scaled = loc_scale.normalise(ctx.values.clone()) * ctx.observed.clone();
    (scaled, loc_scale)
}

/// `Patch` on the values and on the mask, as `encode` combines them: left-pad to a multiple of
/// `size` (padding is missing), cut windows of `size` every `stride` steps, zero the missing
/// values and concatenate each patch with its mask. Returns the patches
/// `[batch, n_patches, 2 * size]` and the attention mask `[batch, n_patches]` (1 where at least
/// one step of the patch is observed).
pub fn patchify(
    scaled: Tensor<2>,
    observed: Tensor<2>,
    size: usize,
    stride: usize,
) -> (Tensor<3>, Tensor<2>) {
    let [b, t] = scaled.dims();
    let pad = (size - t % size) % size;
    let (values, mask) = if pad > 0 {
        let zeros = Tensor::<2>::zeros([b, pad], &scaled.device());
        (
            Tensor::cat(vec![zeros.clone(), scaled], 1),
            Tensor::cat(vec![zeros, observed], 1),
        )
    } else {
        (scaled, observed)
    };
    let values = values * mask.clone();
    let value_patches: Tensor<3> = values.unfold(1, size, stride);
    let mask_patches: Tensor<3> = mask.unfold(1, size, stride);
    let attention = mask_patches
        .clone()
        .sum_dim(2)
        .greater_elem(0.0)
        .float()
        .squeeze_dim::<2>(2);
    (Tensor::cat(vec![value_patches, mask_patches], 2), attention)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, TensorData};

    fn t2(rows: &[&[f32]]) -> Tensor<2> {
        let cols = rows[0].len();
        let data: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
        Tensor::from_data(TensorData::new(data, [rows.len(), cols]), &Device::flex())
    }

    fn vals<const D: usize>(t: Tensor<D>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn norm_ignores_missing_steps_and_handles_degenerate_series() {
        let nan = f32::NAN;
        let ctx = Context::from_nan(
            t2(&[
                &[1.0, 3.0, nan, 5.0],
                &[2.0, 2.0, 2.0, 2.0],
                &[nan, nan, nan, nan],
            ]),
            None,
        );
        let (scaled, ls) = instance_norm(&ctx);
        assert_eq!(vals(ls.loc), vec![3.0, 2.0, 0.0]);
        // Population std of 1, 3, 5 = sqrt(8/3).
        let s = vals(ls.scale);
        assert!((s[0] - (8.0f32 / 3.0).sqrt()).abs() < 1e-6, "{s:?}");
        assert_eq!(&s[1..], &[1e-5, 1.0]);
        let v = vals(scaled);
        assert!((v[0] + 2.0 / s[0]).abs() < 1e-6 && v[2] == 0.0 && v[4] == 0.0 && v[8] == 0.0);
    }

    #[test]
    fn an_explicit_mask_hides_values() {
        let ctx = Context::from_nan(t2(&[&[1.0, 100.0, 3.0]]), Some(t2(&[&[1.0, 0.0, 1.0]])));
        assert_eq!(vals(ctx.values.clone()), vec![1.0, 0.0, 3.0]);
        assert_eq!(vals(instance_norm(&ctx).1.loc), vec![2.0]);
    }

    #[test]
    fn patches_are_left_padded_and_carry_their_mask() {
        // 5 steps, patch 2: one missing step of padding on the left.
        let scaled = t2(&[&[1.0, 2.0, 3.0, 0.0, 5.0]]);
        let observed = t2(&[&[1.0, 1.0, 1.0, 0.0, 1.0]]);
        let (p, att) = patchify(scaled.clone(), observed.clone(), 2, 2);
        assert_eq!(p.dims(), [1, 3, 4]);
        assert_eq!(
            vals(p),
            vec![0.0, 1.0, 0.0, 1.0, 2.0, 3.0, 1.0, 1.0, 0.0, 5.0, 0.0, 1.0]
        );
        assert_eq!(vals(att), vec![1.0, 1.0, 1.0]);
        // Overlapping patches (stride 1) and a fully missing patch.
        let (p, att) = patchify(scaled, t2(&[&[0.0, 0.0, 1.0, 1.0, 1.0]]), 2, 1);
        assert_eq!(p.dims(), [1, 5, 4]);
        assert_eq!(vals(att), vec![0.0, 0.0, 1.0, 1.0, 1.0]);
    }
}
