//! Training losses: the package's quantile loss (`ChronosBoltModelForForecasting.forward` with
//! a `target`) and point losses on the median.

use burn::Tensor;
use burn::tensor::TensorData;

use super::scaler::LocScale;
use crate::forecaster::LossKind;

/// A target in the NaN-free form: `values` are 0 where `observed` is 0.
#[derive(Debug, Clone)]
pub struct Target {
    /// `[batch, steps]` in data units.
    pub values: Tensor<2>,
    /// `[batch, steps]`, 1 observed / 0 missing.
    pub observed: Tensor<2>,
}

impl Target {
    /// A target with NaN for missing steps, optionally also masked by `mask` (0 = missing).
    pub fn from_nan(values: Tensor<2>, mask: Option<Tensor<2>>) -> Self {
        let nan = values.clone().is_nan();
        let mut observed = nan.clone().bool_not().float();
        if let Some(m) = mask {
            observed = observed * m.greater_elem(0.0).float();
        }
        let values = values.mask_fill(nan, 0.0) * observed.clone();
        Self { values, observed }
    }

    /// The first `len` steps, or the target padded with missing steps up to `len` (the
    /// package pads a short target with zeros and mask 0; a longer one it refuses, here only
    /// the model's horizon is scored).
    pub fn fit(self, len: usize) -> Self {
        let [b, t] = self.values.dims();
        if t >= len {
            return Self {
                values: self.values.narrow(1, 0, len),
                observed: self.observed.narrow(1, 0, len),
            };
        }
        let zeros = Tensor::<2>::zeros([b, len - t], &self.values.device());
        Self {
            values: Tensor::cat(vec![self.values, zeros.clone()], 1),
            observed: Tensor::cat(vec![self.observed, zeros], 1),
        }
    }
}

/// The package's training loss on normalised values: the target is normalised with the
/// context's loc/scale, then `2 |(y - q̂) (1[y <= q̂] - τ)|` is masked, averaged over the
/// quantile levels, summed over the horizon and averaged over the batch.
///
/// `preds` are the head's normalised outputs `[batch, n_levels, horizon]`.
pub fn quantile_loss(
    preds: Tensor<3>,
    target: Target,
    loc_scale: &LocScale,
    levels: &[f64],
) -> Tensor<1> {
    let [b, q, h] = preds.dims();
    let target = target.fit(h);
    let y = (loc_scale.normalise(target.values) * target.observed.clone())
        .unsqueeze_dim::<3>(1)
        .expand([b, q, h]);
    let mask = target.observed.unsqueeze_dim::<3>(1);
    let tau: Vec<f32> = levels.iter().map(|&l| l as f32).collect();
    let tau = Tensor::<3>::from_data(TensorData::new(tau, [1, q, 1]), &preds.device());
    let below = y.clone().lower_equal(preds.clone()).float();
    let elementwise = ((y - preds) * (below - tau)).abs() * 2.0 * mask;
    elementwise.mean_dim(1).sum_dim(2).mean()
}

/// `Mse`, `Mae` or `Huber` between the median forecast `[batch, horizon]` (data units) and the
/// target, averaged over the observed target steps within the horizon.
pub fn point_loss(median: Tensor<2>, target: Target, kind: LossKind) -> Tensor<1> {
    let h = median.dims()[1];
    let target = target.fit(h);
    let diff = median - target.values;
    let elementwise = match kind {
        LossKind::Mse => diff.square(),
        LossKind::Mae => diff.abs(),
        LossKind::Huber { delta } => {
            let delta = f64::from(delta);
            let a = diff.abs();
            let quadratic = a.clone().square() * 0.5;
            let linear = (a.clone() - 0.5 * delta) * delta;
            linear.mask_where(a.lower_elem(delta), quadratic)
        }
        LossKind::Quantile | LossKind::Native => {
            unreachable!("the quantile loss is computed by quantile_loss")
        }
    };
    let m = target.observed;
    (elementwise * m.clone()).sum() / m.sum().clamp_min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    fn scalar(t: Tensor<1>) -> f32 {
        t.into_data().try_to_vec::<f32>().unwrap()[0]
    }

    #[test]
    fn quantile_loss_follows_the_package_formula() {
        let device = Device::flex();
        // One series, levels 0.1/0.9, horizon 2; loc 1, scale 2; target [3, NaN] -> [1, missing].
        let preds = Tensor::<3>::from_data(
            TensorData::new(vec![0.0f32, 5.0, 2.0, 5.0], [1, 2, 2]),
            &device,
        );
        let target = Target::from_nan(
            Tensor::from_data(TensorData::new(vec![3.0f32, f32::NAN], [1, 2]), &device),
            None,
        );
        let ls = LocScale {
            loc: Tensor::from_data([[1.0f32]], &device),
            scale: Tensor::from_data([[2.0f32]], &device),
        };
        // Step 0, y = 1: level 0.1 with q̂ 0: 2 * |1 * (0 - 0.1)| = 0.2;
        // level 0.9 with q̂ 2: 2 * |(-1) * (1 - 0.9)| = 0.2. Mean over levels 0.2, sum over
        // the horizon (step 1 masked) 0.2, mean over the batch 0.2.
        let loss = scalar(quantile_loss(
            preds.clone(),
            target.clone(),
            &ls,
            &[0.1, 0.9],
        ));
        assert!((loss - 0.2).abs() < 1e-6, "{loss}");
        // A short target is padded with missing steps: the same loss from one step.
        let short = Target {
            values: target.values.clone().narrow(1, 0, 1),
            observed: target.observed.clone().narrow(1, 0, 1),
        };
        let loss = scalar(quantile_loss(preds, short, &ls, &[0.1, 0.9]));
        assert!((loss - 0.2).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn point_losses_average_the_observed_steps() {
        let device = Device::flex();
        let median = Tensor::<2>::from_data([[1.0f32, 2.0, 4.0]], &device);
        let target = Target::from_nan(Tensor::from_data([[1.5f32, f32::NAN, 1.0]], &device), None);
        let value = |k| scalar(point_loss(median.clone(), target.clone(), k));
        assert!((value(LossKind::Mse) - (0.25 + 9.0) / 2.0).abs() < 1e-6);
        assert!((value(LossKind::Mae) - 3.5 / 2.0).abs() < 1e-6);
        // Huber(1): 0.5 * 0.5^2 = 0.125 and 3 - 0.5 = 2.5.
        assert!((value(LossKind::Huber { delta: 1.0 }) - 2.625 / 2.0).abs() < 1e-6);
    }
}
