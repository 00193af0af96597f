//! `ChronosBoltPipeline.predict` and `predict_quantiles`: forecasts in data units, horizons
//! beyond `prediction_length` rolled out on the quantile paths, other quantile levels
//! interpolated.

use burn::Tensor;

use super::model::ChronosBoltModel;
use super::quantiles::{interpolate_levels, quantile_dim1};
use super::scaler::Context;

impl ChronosBoltModel {
    /// The head's quantile levels as the pipeline's `torch.tensor(self.quantiles)` holds them.
    pub fn quantile_levels(&self) -> Vec<f32> {
        self.config
            .chronos
            .quantiles
            .iter()
            .map(|&q| q as f32)
            .collect()
    }

    /// The longest horizon [`predict`](Self::predict) accepts: every rolled-out block must
    /// still see some of the observed context, so at most `context_length` steps (or one
    /// block, if that is longer). The package allows any horizon with a warning; past this
    /// limit its later blocks would forecast from forecasts alone.
    pub fn horizon_limit(&self) -> usize {
        let c = &self.config.chronos;
        c.prediction_length.max(c.context_length)
    }

    /// `pipeline.predict(context, prediction_length=horizon)`: `[batch, n_quantiles, horizon]`.
    ///
    /// The first `prediction_length` steps come from one forward pass. Each further block
    /// appends every quantile path to the context, forecasts all `n x n` continuations and
    /// reduces them to the `n` levels with `torch.quantile`; the reduced paths feed the next
    /// block. The caller keeps `horizon` within [`horizon_limit`](Self::horizon_limit).
    pub fn predict(&self, context: Context, horizon: usize) -> Tensor<3> {
        let c = &self.config.chronos;
        let (len, step) = (c.context_length, c.prediction_length);
        let context = context.last(len);
        let mut prediction = self.forward(context.clone()).quantile_preds();
        let [b, q, _] = prediction.dims();
        let mut blocks = vec![prediction.clone()];
        let mut remaining = horizon.saturating_sub(step);
        if remaining > 0 {
            let levels = self.quantile_levels();
            let mut paths = context.repeat_rows(q);
            while remaining > 0 {
                paths = paths.append(prediction.reshape([b * q, step])).last(len);
                let next = self.forward(paths.clone()).quantile_preds();
                prediction = quantile_dim1(next.reshape([b, q * q, step]), &levels);
                blocks.push(prediction.clone());
                remaining = remaining.saturating_sub(step);
            }
        }
        let all = Tensor::cat(blocks, 2);
        all.narrow(2, 0, horizon)
    }

    /// `pipeline.predict_quantiles(context, horizon, levels)`: the quantiles `[batch, horizon,
    /// levels]` and the median `[batch, horizon]` (what the package returns as its mean).
    pub fn predict_quantiles(
        &self,
        context: Context,
        horizon: usize,
        levels: &[f32],
    ) -> (Tensor<3>, Tensor<2>) {
        let predictions = self.predict(context, horizon).swap_dims(1, 2);
        let median_at = self
            .config
            .chronos
            .median_index()
            .expect("validated: the levels include 0.5");
        let median = predictions
            .clone()
            .narrow(2, median_at, 1)
            .squeeze_dim::<2>(2);
        let quantiles = interpolate_levels(predictions, &self.quantile_levels(), levels);
        (quantiles, median)
    }
}
