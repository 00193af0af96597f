//! Per-window scaling inside the model and patching.
//!
//! Std scaling (granite's `TinyTimeMixerStdScaler`): over the observed steps of each window and
//! channel, `loc` is the mean and `scale = sqrt(population variance + 1e-5)`; a window with no
//! observed step uses a denominator of 1. Mean scaling (`TinyTimeMixerMeanScaler`): `loc = 0`,
//! `scale` = mean |x| over observed steps (the batch's mean where none), at least 1e-10.

use burn::Tensor;

use super::config::TtmScaling;

const STD_MINIMUM_SCALE: f64 = 1e-5;
const MEAN_MINIMUM_SCALE: f64 = 1e-10;

/// `(scaled, loc, scale)`; inputs `[batch, time, channels]`, loc/scale `[batch, 1, channels]`.
pub fn scale(
    kind: TtmScaling,
    x: Tensor<3>,
    observed: Tensor<3>,
) -> (Tensor<3>, Tensor<3>, Tensor<3>) {
    match kind {
        TtmScaling::Std => {
            let denom = observed.clone().sum_dim(1).clamp_min(1.0);
            let loc = (x.clone() * observed.clone()).sum_dim(1) / denom.clone();
            let centred = (x.clone() - loc.clone()) * observed;
            let variance = centred.square().sum_dim(1) / denom;
            let scale = (variance + STD_MINIMUM_SCALE).sqrt();
            let scaled = (x - loc.clone()) / scale.clone();
            (scaled, loc, scale)
        }
        TtmScaling::Mean => {
            let ts_sum = (x.clone() * observed.clone()).abs().sum_dim(1);
            let num_observed = observed.sum_dim(1);
            let scale = ts_sum.clone() / num_observed.clone().clamp_min(1.0);
            // Default scale where a window has no observation: the batch's mean |x|.
            let batch_sum = ts_sum.sum_dim(0);
            let batch_obs = num_observed.clone().sum_dim(0).clamp_min(1.0);
            let default_scale = (batch_sum / batch_obs).expand(scale.shape());
            let none_observed = num_observed.lower_equal_elem(0.0);
            let scale = scale
                .mask_where(none_observed, default_scale)
                .clamp_min(MEAN_MINIMUM_SCALE);
            let scaled = x / scale.clone();
            let loc = scale.zeros_like();
            (scaled, loc, scale)
        }
        TtmScaling::None => {
            let [b, _, c] = x.dims();
            let device = x.device();
            (
                x,
                Tensor::zeros([b, 1, c], &device),
                Tensor::ones([b, 1, c], &device),
            )
        }
    }
}

/// `[batch, time, channels]` -> `[batch, channels, num_patches, patch_length]` with
/// non-overlapping patches taken from the end (granite drops the oldest remainder).
pub fn patchify(x: Tensor<3>, patch_length: usize, num_patches: usize) -> Tensor<4> {
    let [b, t, c] = x.dims();
    let used = patch_length * num_patches;
    x.narrow(1, t - used, used)
        .swap_dims(1, 2)
        .reshape([b, c, num_patches, patch_length])
}
