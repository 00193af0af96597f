//! The training loss of `Chronos2Model.forward` (`_compute_loss`).

use burn::Tensor;
use burn::tensor::TensorData;

use super::scaler::Normaliser;
use crate::chronos_bolt::loss::Target;

/// The package's quantile loss on the normalised scale: the target is normalised with the
/// context's loc/scale (and `arcsinh` when the model uses it), padded with missing steps to
/// the prediction length, and `2 |(y - q̂) (1[y <= q̂] - τ)|` is masked by "target observed"
/// times "not a known-future covariate value", then averaged over the horizon (every step,
/// padding included), summed over the quantile levels and averaged over the rows (every row,
/// covariate rows included).
///
/// `preds` are the head's normalised outputs `[rows, levels, horizon]`, `known_future` the
/// `[rows, horizon]` mask of future covariate values the model was given.
pub fn quantile_loss(
    preds: Tensor<3>,
    target: Target,
    known_future: Tensor<2>,
    norm: &Normaliser,
    levels: &[f64],
) -> Tensor<1> {
    let [b, q, h] = preds.dims();
    let target = target.fit(h);
    let y = (norm.normalise(target.values) * target.observed.clone())
        .unsqueeze_dim::<3>(1)
        .expand([b, q, h]);
    let mask = (target.observed * (known_future.neg() + 1.0)).unsqueeze_dim::<3>(1);
    let tau: Vec<f32> = levels.iter().map(|&l| l as f32).collect();
    let tau = Tensor::<3>::from_data(TensorData::new(tau, [1, q, 1]), &preds.device());
    let below = y.clone().lower_equal(preds.clone()).float();
    let elementwise = ((y - preds) * (below - tau)).abs() * 2.0 * mask;
    elementwise.mean_dim(2).sum_dim(1).mean()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chronos_bolt::scaler::LocScale;
    use burn::tensor::Device;

    #[test]
    fn known_future_and_missing_steps_are_skipped_but_counted_in_the_mean() {
        let device = Device::flex();
        // One row, levels 0.1/0.9, horizon 4 (target of 3 steps padded); loc 1, scale 2.
        let preds = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 0.0, 0.0, 0.0, 2.0, 2.0, 2.0, 2.0], [1, 2, 4]),
            &device,
        );
        let target = Target::from_nan(Tensor::from_data([[3.0f32, 3.0, f32::NAN]], &device), None);
        let known = Tensor::<2>::from_data([[0.0f32, 1.0, 0.0, 0.0]], &device);
        let norm = Normaliser {
            loc_scale: LocScale {
                loc: Tensor::from_data([[1.0f32]], &device),
                scale: Tensor::from_data([[2.0f32]], &device),
            },
            arcsinh: false,
        };
        // Only step 0 counts, y = 1: level 0.1 (q̂ 0) 2 * 0.1 = 0.2, level 0.9 (q̂ 2) 0.2;
        // each averaged over 4 steps (0.05), summed over levels: 0.1.
        let loss = quantile_loss(preds, target, known, &norm, &[0.1, 0.9]);
        let v = loss.into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((v - 0.1).abs() < 1e-6, "{v}");
    }
}
