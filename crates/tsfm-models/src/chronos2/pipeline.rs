//! `Chronos2Pipeline.predict` and `predict_quantiles` on prepared groups: the batch is
//! left-padded with NaN to its longest series, one forward pass covers up to
//! `max_output_patches` output patches, longer horizons are unrolled on the
//! `unrolled_quantiles` paths (each path appended to the context, one group per path) and the
//! `paths x levels` continuations reduced back to the model's levels by a weighted quantile;
//! other quantile levels are interpolated linearly (`chronos.utils.interpolate_quantiles`).
//!
//! The quantile arithmetic runs on the host in `f32`, as the package runs it in float32.

use burn::Tensor;
use burn::tensor::{Device, TensorData};

use super::model::{Chronos2Input, Chronos2Model};
use super::scaler::FutureCovariates;
use crate::chronos_bolt::scaler::Context;
use crate::forecaster::ModelError;

/// The pipeline's default `unrolled_quantiles`.
pub const UNROLLED_QUANTILES: [f32; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

/// `chronos.utils.interpolate_quantiles` on the host: `rows` rows of `levels.len()` values (the
/// levels either shared, `levels.len() == n`, or one set per row, `levels.len() == rows * n`),
/// sorted by level, linearly interpolated at `query`; queries outside the levels take the end
/// values (levels 0 and 1 are added when the smallest level over all rows is above 0, the
/// largest below 1, as the package checks it). Returns `rows * query.len()` values.
pub fn interpolate_quantiles(query: &[f32], levels: &[f32], values: &[f32], n: usize) -> Vec<f32> {
    let rows = values.len() / n;
    let shared = levels.len() == n;
    let min = levels.iter().copied().fold(f32::INFINITY, f32::min);
    let max = levels.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (pad_low, pad_high) = (min > 0.0, max < 1.0);
    let mut out = Vec::with_capacity(rows * query.len());
    let mut lv: Vec<f32> = Vec::with_capacity(n + 2);
    let mut vv: Vec<f32> = Vec::with_capacity(n + 2);
    for r in 0..rows {
        let row_levels = if shared {
            levels
        } else {
            &levels[r * n..(r + 1) * n]
        };
        let row_values = &values[r * n..(r + 1) * n];
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| row_levels[a].total_cmp(&row_levels[b]));
        lv.clear();
        vv.clear();
        if pad_low {
            lv.push(0.0);
            vv.push(row_values[order[0]]);
        }
        for &i in &order {
            lv.push(row_levels[i].clamp(0.0, 1.0));
            vv.push(row_values[i]);
        }
        if pad_high {
            lv.push(1.0);
            vv.push(row_values[order[n - 1]]);
        }
        let last = lv.len() - 1;
        for &q in query {
            // searchsorted(right=True): the first level strictly above q, clamped to the end.
            let upper = lv.partition_point(|&l| l <= q).clamp(1, last);
            let lower = upper - 1;
            let diff = lv[upper] - lv[lower];
            let w = (q - lv[lower]) / diff;
            let w = if w.is_nan() {
                0.0
            } else if w.is_infinite() {
                // torch.nan_to_num maps +-inf to the largest finite float32.
                w.signum() * f32::MAX
            } else {
                w
            };
            out.push(vv[lower] + w * (vv[upper] - vv[lower]));
        }
    }
    out
}

/// `chronos.utils.weighted_quantile` on the host: each row of `weights.len()` samples is sorted,
/// its cumulative (normalised) weights are the levels, and `query` is interpolated among them.
pub fn weighted_quantile(query: &[f32], weights: &[f32], samples: &[f32]) -> Vec<f32> {
    let n = weights.len();
    let rows = samples.len() / n;
    let total: f32 = weights.iter().sum();
    let weights: Vec<f32> = weights.iter().map(|w| w / total).collect();
    let mut sorted = Vec::with_capacity(samples.len());
    let mut levels = Vec::with_capacity(samples.len());
    for r in 0..rows {
        let row = &samples[r * n..(r + 1) * n];
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| row[a].total_cmp(&row[b]));
        // torch's CPU cumsum accumulates float32 in double.
        let mut acc = 0f64;
        for &i in &order {
            sorted.push(row[i]);
            acc += f64::from(weights[i]);
            levels.push((acc as f32).clamp(0.0, 1.0));
        }
    }
    interpolate_quantiles(query, &levels, &sorted, n)
}

/// `Chronos2Pipeline._get_prob_mass_per_quantile_level`: `(q[i+1] - q[i-1]) / 2` with
/// `q[-1] = 0`, `q[n] = 1`, normalised.
pub fn prob_mass(levels: &[f32]) -> Vec<f32> {
    let mut b = vec![0f32];
    b.extend_from_slice(levels);
    b.push(1.0);
    let mass: Vec<f32> = (0..levels.len()).map(|i| (b[i + 2] - b[i]) / 2.0).collect();
    let total: f32 = mass.iter().sum();
    mass.iter().map(|m| m / total).collect()
}

/// Series of different lengths as one NaN-padded (on the left) context, as the pipeline's
/// dataset batches them: `[series, longest]`.
pub fn left_pad(series: &[Vec<f32>], device: &Device) -> Context {
    let len = series.iter().map(Vec::len).max().unwrap_or(0);
    let mut data = Vec::with_capacity(series.len() * len);
    for s in series {
        data.extend(std::iter::repeat_n(f32::NAN, len - s.len()));
        data.extend_from_slice(s);
    }
    let values = Tensor::<2>::from_data(TensorData::new(data, [series.len(), len]), device);
    Context::from_nan(values, None)
}

fn host3(t: Tensor<3>) -> (Vec<f32>, [usize; 3]) {
    let dims = t.dims();
    (
        t.into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 tensor"),
        dims,
    )
}

/// The next `size` future values of every row as the model's `future_covariates`: cut to
/// `size`, or padded with NaN (`_predict_step`); `None` without future values.
fn future_for(
    future: &Option<(Vec<f32>, usize)>,
    rows: usize,
    size: usize,
    device: &Device,
) -> Option<FutureCovariates> {
    let (values, width) = future.as_ref()?;
    let mut out = vec![f32::NAN; rows * size];
    for r in 0..rows {
        let n = (*width).min(size);
        out[r * size..r * size + n].copy_from_slice(&values[r * width..r * width + n]);
    }
    let t = Tensor::<2>::from_data(TensorData::new(out, [rows, size]), device);
    Some(FutureCovariates::from_nan(t))
}

/// `_slide_context_and_future_covariates`: the `h` appended steps of each row take the row's
/// known future values where there are any, and those `h` values are dropped from the future.
fn slide(appended: &mut [f32], values: &mut Vec<f32>, width: &mut usize, h: usize) {
    let rows = appended.len() / h;
    let used = (*width).min(h);
    for r in 0..rows {
        for t in 0..used {
            let v = values[r * *width + t];
            if !v.is_nan() {
                appended[r * h + t] = v;
            }
        }
    }
    let rest = *width - used;
    let mut next = Vec::with_capacity(rows * rest);
    for r in 0..rows {
        next.extend_from_slice(&values[r * *width + used..(r + 1) * *width]);
    }
    *values = next;
    *width = rest;
}

/// `[.., a, c] -> [.., c, a]` on a flat row-major buffer.
fn transpose_last(x: &[f32], a: usize, c: usize) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    for (block_in, block_out) in x.chunks(a * c).zip(out.chunks_mut(a * c)) {
        for i in 0..a {
            for j in 0..c {
                block_out[j * a + i] = block_in[i * c + j];
            }
        }
    }
    out
}

impl Chronos2Model {
    /// The model's quantile levels in float32 (the pipeline's `torch.tensor(self.quantiles)`).
    pub fn quantile_levels(&self) -> Vec<f32> {
        self.config
            .chronos
            .quantiles
            .iter()
            .map(|&q| q as f32)
            .collect()
    }

    /// `pipeline.predict(...)` on one batch without covariates: `[rows, n_quantiles, horizon]`.
    ///
    /// `context` is the batch (NaN-free form; longer than `context_length` keeps the last
    /// steps), `group_ids` one id per row (`None`: each row its own group, the univariate case).
    /// The first `min(ceil(horizon / patch), max_output_patches)` patches come from one forward
    /// pass; each further pass appends the [`UNROLLED_QUANTILES`] of the last prediction to the
    /// context (one group per original group and path) and reduces the `paths x levels`
    /// continuations to the model's levels with [`weighted_quantile`].
    pub fn predict(
        &self,
        context: Context,
        group_ids: Option<Vec<i64>>,
        horizon: usize,
    ) -> Result<Tensor<3>, ModelError> {
        self.predict_with_future(context, group_ids, None, horizon)
    }

    /// As [`predict`](Self::predict), with known future values: `future` is `[rows, f]`
    /// row-major with NaN where a row has no known value (the pipeline's
    /// `future_covariates`: NaN for targets and past-only covariates). Each pass reads the
    /// next `num_output_patches * patch` of them (cut, or padded with NaN); when unrolling,
    /// a row's appended quantile path is replaced by its true future values where known and
    /// the future values slide on (`_slide_context_and_future_covariates`). Returns every row
    /// (covariate rows too); the caller keeps the targets.
    pub fn predict_with_future(
        &self,
        context: Context,
        group_ids: Option<Vec<i64>>,
        future: Option<(Vec<f32>, usize)>,
        horizon: usize,
    ) -> Result<Tensor<3>, ModelError> {
        let c = &self.config.chronos;
        let (len, patch) = (c.context_length, c.output_patch_size);
        if horizon == 0 {
            return Err(ModelError::Invalid(
                "Chronos-2 predict: the horizon must be at least 1".into(),
            ));
        }
        let levels = self.quantile_levels();
        let device = context.values.device();
        let rows = context.values.dims()[0];
        let group_ids = group_ids.unwrap_or_else(|| (0..rows as i64).collect());
        let patches = |remaining: usize| remaining.div_ceil(patch).min(c.max_output_patches);
        let mut context = context.last(len);
        if let Some((values, width)) = &future
            && values.len() != rows * width
        {
            return Err(ModelError::Invalid(format!(
                "Chronos-2 predict: {} future values for {rows} rows of {width}",
                values.len()
            )));
        }
        let mut future = future;
        let first = self.forward(Chronos2Input {
            context: context.clone(),
            group_ids: Some(group_ids.clone()),
            future_covariates: future_for(&future, rows, patches(horizon) * patch, &device),
            num_output_patches: patches(horizon),
        })?;
        let mut prediction = first.quantile_preds();
        let mut blocks = vec![prediction.clone()];
        let mut remaining = horizon.saturating_sub(prediction.dims()[2]);
        if remaining > 0 {
            let unrolled = UNROLLED_QUANTILES;
            let paths = unrolled.len();
            if let Some(u) = unrolled.iter().find(|u| !levels.contains(u)) {
                return Err(ModelError::Invalid(format!(
                    "Chronos-2 predict: horizon {horizon} needs unrolling on the levels \
                     {unrolled:?}, but the model has no level {u} (its levels: {levels:?})"
                )));
            }
            let path_ids: Vec<i64> = group_ids
                .iter()
                .flat_map(|g| (0..paths as i64).map(move |n| g * paths as i64 + n))
                .collect();
            let (mass_u, mass_q) = (prob_mass(&unrolled), prob_mass(&levels));
            let weights: Vec<f32> = mass_u
                .iter()
                .flat_map(|u| mass_q.iter().map(move |q| u * q))
                .collect();
            context = context.repeat_rows(paths);
            future = future.map(|(v, w)| {
                let rep = v
                    .chunks(w.max(1))
                    .take(rows)
                    .flat_map(|r| std::iter::repeat_n(r, paths).flatten().copied())
                    .collect();
                (rep, w)
            });
            let q = levels.len();
            while remaining > 0 {
                // [b, q, h] -> [b, h, q] -> the unrolled levels -> [b, paths, h].
                let (pred, [b, _, h]) = host3(prediction);
                let pred = transpose_last(&pred, q, h);
                let at = interpolate_quantiles(&unrolled, &levels, &pred, q);
                let mut appended = vec![0f32; b * paths * h];
                for i in 0..b {
                    for t in 0..h {
                        for n in 0..paths {
                            appended[(i * paths + n) * h + t] = at[(i * h + t) * paths + n];
                        }
                    }
                }
                if let Some((values, width)) = &mut future {
                    slide(&mut appended, values, width, h);
                }
                let appended =
                    Tensor::<2>::from_data(TensorData::new(appended, [b * paths, h]), &device);
                context = context.append(appended).last(len);
                let out = self.forward(Chronos2Input {
                    context: context.clone(),
                    group_ids: Some(path_ids.clone()),
                    future_covariates: future_for(
                        &future,
                        b * paths,
                        patches(remaining) * patch,
                        &device,
                    ),
                    num_output_patches: patches(remaining),
                })?;
                // [(b n), q, h'] -> samples [b, h', (n q)] -> the model's levels.
                let (next, [_, _, h2]) = host3(out.quantile_preds());
                let mut samples = vec![0f32; b * h2 * paths * q];
                for i in 0..b {
                    for n in 0..paths {
                        for k in 0..q {
                            for t in 0..h2 {
                                samples[(i * h2 + t) * paths * q + n * q + k] =
                                    next[((i * paths + n) * q + k) * h2 + t];
                            }
                        }
                    }
                }
                let reduced = weighted_quantile(&levels, &weights, &samples);
                let reduced = transpose_last(&reduced, h2, q);
                prediction = Tensor::<3>::from_data(TensorData::new(reduced, [b, q, h2]), &device);
                blocks.push(prediction.clone());
                remaining = remaining.saturating_sub(h2);
            }
        }
        Ok(Tensor::cat(blocks, 2).narrow(2, 0, horizon))
    }

    /// `pipeline.predict_quantiles(...)` on one batch without covariates: the quantiles
    /// `[rows, horizon, levels]` (the model's own levels picked, others interpolated with
    /// [`interpolate_quantiles`], levels outside the model's range clamped to its extremes) and
    /// the median `[rows, horizon]` (what the package returns as its mean).
    pub fn predict_quantiles(
        &self,
        context: Context,
        group_ids: Option<Vec<i64>>,
        horizon: usize,
        wanted: &[f32],
    ) -> Result<(Tensor<3>, Tensor<2>), ModelError> {
        self.predict_quantiles_with_future(context, group_ids, None, horizon, wanted)
    }

    /// As [`predict_quantiles`](Self::predict_quantiles), with known future values as
    /// [`predict_with_future`](Self::predict_with_future) takes them.
    pub fn predict_quantiles_with_future(
        &self,
        context: Context,
        group_ids: Option<Vec<i64>>,
        future: Option<(Vec<f32>, usize)>,
        horizon: usize,
        wanted: &[f32],
    ) -> Result<(Tensor<3>, Tensor<2>), ModelError> {
        if let Some(bad) = wanted.iter().find(|w| !(0.0..=1.0).contains(*w)) {
            return Err(ModelError::Invalid(format!(
                "Chronos-2 predict_quantiles: level {bad} is outside [0, 1]"
            )));
        }
        let predictions = self.predict_with_future(context, group_ids, future, horizon)?;
        let levels = self.quantile_levels();
        let median_at = self
            .config
            .chronos
            .median_index()
            .expect("validated: the levels include 0.5");
        let median = predictions
            .clone()
            .narrow(1, median_at, 1)
            .squeeze_dim::<2>(1);
        let device = predictions.device();
        let (values, [b, q, h]) = host3(predictions);
        let values = transpose_last(&values, q, h);
        let picked: Option<Vec<usize>> = wanted
            .iter()
            .map(|w| levels.iter().position(|l| l == w))
            .collect();
        let out = match picked {
            Some(idx) => values
                .chunks(q)
                .flat_map(|row| idx.iter().map(|&i| row[i]).collect::<Vec<_>>())
                .collect(),
            None => interpolate_quantiles(wanted, &levels, &values, q),
        };
        let quantiles = Tensor::<3>::from_data(TensorData::new(out, [b, h, wanted.len()]), &device);
        Ok((quantiles, median))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_follows_the_package() {
        let levels = [0.25f32, 0.5, 0.75];
        let values = [1.0f32, 2.0, 4.0];
        let q = interpolate_quantiles(&[0.5, 0.625, 0.1, 0.9, 0.0, 1.0], &levels, &values, 3);
        assert_eq!(q, vec![2.0, 3.0, 1.0, 4.0, 1.0, 4.0]);
    }

    #[test]
    fn weighted_quantile_sorts_samples_with_their_weights() {
        // Samples 3, 1, 2 with weights 0.5, 0.25, 0.25: sorted 1 (0.25), 2 (0.5), 3 (1.0).
        let q = weighted_quantile(&[0.25, 0.5, 0.75], &[2.0, 1.0, 1.0], &[3.0, 1.0, 2.0]);
        assert_eq!(q, vec![1.0, 2.0, 2.5]);
    }

    #[test]
    fn prob_mass_is_the_trapezoid_rule() {
        let m = prob_mass(&[0.25, 0.5, 0.75]);
        for (a, e) in m.iter().zip([0.25f32 / 0.75, 0.25 / 0.75, 0.25 / 0.75]) {
            assert!((a - e).abs() < 1e-7);
        }
    }
}
