//! The official `TimesFM_2p5.forecast` with a compiled `ForecastConfig`: host-side NaN
//! handling (leading NaNs stripped, interior ones interpolated), truncation or zero-padding to
//! `max_context`, optional global normalisation, flip invariance, the continuous quantile
//! head, quantile-crossing repair and non-negativity for non-negative inputs.

use serde::{Deserialize, Serialize};

use super::decode::DecodeInput;
use super::model::TimesFmModel;
use super::stats::{normalise, padded_mean_std};
use crate::forecaster::ModelError;

/// `timesfm.ForecastConfig` (the options that change forecasts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastConfig {
    /// Longer series keep their last `max_context` readings; shorter ones are zero-padded in
    /// front (masked). Rounded up to a multiple of the input patch.
    pub max_context: usize,
    /// The longest horizon; rounded up to a multiple of the output patch.
    pub max_horizon: usize,
    /// Normalise each padded row by its mean and standard deviation before the model.
    pub normalize_inputs: bool,
    /// Quantiles from the continuous quantile head (horizons up to `output_quantile_len`).
    pub use_continuous_quantile_head: bool,
    /// Average the forecast of `x` with the negated forecast of `-x`.
    pub force_flip_invariance: bool,
    /// Clamp forecasts at 0 for series that are never negative.
    pub infer_is_positive: bool,
    /// Make the quantiles monotone outward from the median.
    pub fix_quantile_crossing: bool,
}

impl ForecastConfig {
    /// The official README example's settings (what `tsfm predict` uses by default): a
    /// 1024-step context, every flag on, `max_horizon` = the horizon asked for.
    pub fn recommended(horizon: usize) -> Self {
        Self {
            max_context: 1024,
            max_horizon: horizon,
            normalize_inputs: true,
            use_continuous_quantile_head: true,
            force_flip_invariance: true,
            infer_is_positive: true,
            fix_quantile_crossing: true,
        }
    }

    /// The package dataclass's defaults for the five flags (normalisation, continuous head and
    /// crossing repair off; flip invariance and non-negativity on) with the given sizes.
    pub fn package_defaults(max_context: usize, max_horizon: usize) -> Self {
        Self {
            max_context,
            max_horizon,
            normalize_inputs: false,
            use_continuous_quantile_head: false,
            force_flip_invariance: true,
            infer_is_positive: true,
            fix_quantile_crossing: false,
        }
    }

    /// `compile`: sizes rounded up to whole patches, then checked against the model.
    pub fn compiled(self, model: &TimesFmModel) -> Result<Self, ModelError> {
        let d = &model.definition;
        if self.max_context == 0 || self.max_horizon == 0 {
            return Err(ModelError::Invalid(format!(
                "TimesFM max_context ({}) and max_horizon ({}) must be positive",
                self.max_context, self.max_horizon
            )));
        }
        let round = |v: usize, k: usize| v.div_ceil(k) * k;
        let fc = Self {
            max_context: round(self.max_context, d.input_patch_len),
            max_horizon: round(self.max_horizon, d.output_patch_len),
            ..self
        };
        if fc.max_context + fc.max_horizon > d.context_limit {
            return Err(ModelError::Invalid(format!(
                "TimesFM max_context {} + max_horizon {} (rounded to whole patches) exceed the \
                 model's context limit {}: lower one of them",
                fc.max_context, fc.max_horizon, d.context_limit
            )));
        }
        if fc.use_continuous_quantile_head && fc.max_horizon > d.output_quantile_len {
            return Err(ModelError::Invalid(format!(
                "the continuous quantile head covers {} steps, max_horizon is {} (rounded to whole \
                 output patches): switch use_continuous_quantile_head off or lower the horizon",
                d.output_quantile_len, fc.max_horizon
            )));
        }
        Ok(fc)
    }
}

/// The forecast settings a loaded model uses: a [`ForecastConfig`] whose `max_horizon` is,
/// unless fixed, the horizon of each call. Defaults: the official README example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastSettings {
    pub max_context: usize,
    /// `None`: each call's horizon.
    pub max_horizon: Option<usize>,
    pub normalize_inputs: bool,
    pub use_continuous_quantile_head: bool,
    pub force_flip_invariance: bool,
    pub infer_is_positive: bool,
    pub fix_quantile_crossing: bool,
}

impl Default for ForecastSettings {
    fn default() -> Self {
        let r = ForecastConfig::recommended(0);
        Self {
            max_context: r.max_context,
            max_horizon: None,
            normalize_inputs: r.normalize_inputs,
            use_continuous_quantile_head: r.use_continuous_quantile_head,
            force_flip_invariance: r.force_flip_invariance,
            infer_is_positive: r.infer_is_positive,
            fix_quantile_crossing: r.fix_quantile_crossing,
        }
    }
}

impl ForecastSettings {
    /// The package dataclass's flags (see [`ForecastConfig::package_defaults`]).
    pub fn package_defaults(max_context: usize) -> Self {
        let d = ForecastConfig::package_defaults(max_context, 0);
        Self {
            max_horizon: None,
            ..Self::from_config(d)
        }
    }

    pub fn from_config(c: ForecastConfig) -> Self {
        Self {
            max_context: c.max_context,
            max_horizon: Some(c.max_horizon),
            normalize_inputs: c.normalize_inputs,
            use_continuous_quantile_head: c.use_continuous_quantile_head,
            force_flip_invariance: c.force_flip_invariance,
            infer_is_positive: c.infer_is_positive,
            fix_quantile_crossing: c.fix_quantile_crossing,
        }
    }

    /// The config of a call forecasting `horizon` steps.
    pub fn config(&self, horizon: usize) -> ForecastConfig {
        ForecastConfig {
            max_context: self.max_context,
            max_horizon: self.max_horizon.unwrap_or(horizon),
            normalize_inputs: self.normalize_inputs,
            use_continuous_quantile_head: self.use_continuous_quantile_head,
            force_flip_invariance: self.force_flip_invariance,
            infer_is_positive: self.infer_is_positive,
            fix_quantile_crossing: self.fix_quantile_crossing,
        }
    }
}

/// `strip_leading_nans` then `linear_interpolation`: interior and trailing NaNs filled by
/// `np.interp` (trailing ones with the last value); a series with no value becomes zeros.
pub fn fill_missing(series: &[f32]) -> Vec<f32> {
    let first = series.iter().position(|v| !v.is_nan()).unwrap_or(0);
    let mut x = series[first..].to_vec();
    let known: Vec<usize> = (0..x.len()).filter(|&i| !x[i].is_nan()).collect();
    if known.is_empty() {
        return vec![0.0; x.len()];
    }
    let mut next = 0;
    for i in 0..x.len() {
        while next < known.len() && known[next] < i {
            next += 1;
        }
        if !x[i].is_nan() {
            continue;
        }
        x[i] = match (next.checked_sub(1).map(|k| known[k]), known.get(next)) {
            (Some(lo), Some(&hi)) => {
                let (y0, y1) = (f64::from(x[lo]), f64::from(x[hi]));
                (y0 + (i - lo) as f64 * (y1 - y0) / (hi - lo) as f64) as f32
            }
            (Some(lo), None) => x[lo],
            (None, Some(&hi)) => x[hi],
            (None, None) => unreachable!("known is not empty"),
        };
    }
    x
}

/// Forecasts of a batch: `point[row][step]` and `quantiles[row][step][level]` (the model's
/// quantile channels, without the mean channel).
#[derive(Debug, Clone, PartialEq)]
pub struct RowForecasts {
    pub point: Vec<Vec<f32>>,
    pub quantiles: Vec<Vec<Vec<f32>>>,
}

/// One row prepared for `decode`: readings (normalised when asked), how many are real, the
/// global statistics and whether the row is never negative.
pub struct PreparedRow {
    pub values: Vec<f32>,
    pub real: usize,
    pub mu: f32,
    pub sigma: f32,
    pub positive: bool,
}

impl TimesFmModel {
    /// `forecast(horizon, rows)` with a compiled [`ForecastConfig`]. `rows` hold NaN where a
    /// reading is missing. Errors: a horizon beyond `max_horizon`, a series without any
    /// observed reading.
    pub fn forecast_rows(
        &self,
        rows: &[Vec<f32>],
        horizon: usize,
        fc: &ForecastConfig,
    ) -> Result<RowForecasts, ModelError> {
        if horizon == 0 || horizon > fc.max_horizon {
            return Err(ModelError::Invalid(format!(
                "the horizon {horizon} is outside 1..={} (TimesFM max_horizon): raise max_horizon",
                fc.max_horizon
            )));
        }
        if let Some(i) = rows.iter().position(|r| r.iter().all(|v| v.is_nan())) {
            // The package fails here too (numpy raises in `linear_interpolation`).
            return Err(ModelError::Invalid(format!(
                "series {i} has no observed value to forecast from (all {} readings missing)",
                rows[i].len()
            )));
        }
        let prepared: Vec<PreparedRow> = rows.iter().map(|r| prepare_row(r, fc)).collect();
        let mut full = self.decode_both_signs(&prepared, horizon, fc);
        let d = &self.definition;
        let (q, med) = (d.num_outputs(), d.decode_index);
        let below: Vec<usize> = (1..med).rev().collect();
        let above: Vec<usize> = (med + 1..q).collect();
        let mut out = RowForecasts {
            point: Vec::with_capacity(rows.len()),
            quantiles: Vec::with_capacity(rows.len()),
        };
        for (row, f) in prepared.iter().zip(full.iter_mut()) {
            for step in f.iter_mut() {
                if fc.fix_quantile_crossing {
                    for &i in &below {
                        step[i] = step[i].min(step[i + 1]);
                    }
                    for &i in &above {
                        step[i] = step[i].max(step[i - 1]);
                    }
                }
                for v in step.iter_mut() {
                    if fc.normalize_inputs {
                        *v = *v * row.sigma + row.mu;
                    }
                    if row.positive {
                        *v = v.max(0.0);
                    }
                }
            }
            out.point.push(f.iter().map(|s| s[med]).collect());
            out.quantiles
                .push(f.iter().map(|s| s[1..].to_vec()).collect());
        }
        Ok(out)
    }

    /// `decode` of the rows (and of their negation under flip invariance, in the same batch),
    /// combined as the package does: `[row][step][channel]`, `horizon` steps, still on the
    /// normalised scale of `normalize_inputs`.
    fn decode_both_signs(
        &self,
        rows: &[PreparedRow],
        horizon: usize,
        fc: &ForecastConfig,
    ) -> Vec<Vec<Vec<f32>>> {
        let d = &self.definition;
        let (p, o, os, q, med) = (
            d.input_patch_len,
            d.output_patch_len,
            d.output_quantile_len,
            d.num_outputs(),
            d.decode_index,
        );
        let signs = signs(fc);
        let input = signed_batch(rows, signs, p);
        let decoded = self.decode(horizon, &input, false);
        let steps = decoded.steps;
        let flip = |c: usize| if c == 0 { 0 } else { q - c };
        let b = rows.len();
        (0..b)
            .map(|r| {
                let at = |row: usize, t: usize, c: usize| -> f32 {
                    if t < o {
                        decoded.point[(row * o + t) * q + c]
                    } else {
                        decoded.autoregressive[((row * steps) * o + (t - o)) * q + c]
                    }
                };
                let spread = |row: usize, t: usize, c: usize| {
                    decoded.quantile_spread[(row * os + t) * q + c]
                };
                let both = |get: &dyn Fn(usize, usize, usize) -> f32, t: usize, c: usize| {
                    if signs.len() == 2 {
                        (get(r, t, c) - get(b + r, t, flip(c))) / 2.0
                    } else {
                        get(r, t, c)
                    }
                };
                (0..horizon)
                    .map(|t| {
                        let mut step: Vec<f32> = (0..q).map(|c| both(&at, t, c)).collect();
                        if fc.use_continuous_quantile_head {
                            let (s_med, f_med) = (both(&spread, t, med), step[med]);
                            for (c, v) in step.iter_mut().enumerate().skip(1) {
                                if c != med {
                                    *v = both(&spread, t, c) - s_med + f_med;
                                }
                            }
                        }
                        step
                    })
                    .collect()
            })
            .collect()
    }
}

/// `[1]`, or `[1, -1]` under flip invariance: the signs each row is decoded with.
pub(super) fn signs(fc: &ForecastConfig) -> &'static [f32] {
    if fc.force_flip_invariance {
        &[1.0, -1.0]
    } else {
        &[1.0]
    }
}

/// The rows (each once per sign, signs outermost) as one `decode` batch over the patches that
/// hold a real reading in some row: leading patches that are padding in every row change
/// nothing but the cost, so they are dropped.
pub(super) fn signed_batch(rows: &[PreparedRow], signs: &[f32], p: usize) -> DecodeInput {
    let len = rows
        .iter()
        .map(|r| r.real.div_ceil(p) * p)
        .max()
        .unwrap_or(p)
        .max(p);
    let mut input = DecodeInput {
        rows: rows.len() * signs.len(),
        len,
        values: Vec::with_capacity(rows.len() * signs.len() * len),
        masked: Vec::with_capacity(rows.len() * signs.len() * len),
    };
    for &sign in signs {
        for r in rows {
            let tail = &r.values[r.values.len() - len..];
            input.values.extend(tail.iter().map(|v| sign * v));
            input
                .masked
                .extend((0..len).map(|i| i < len - r.real.min(len)));
        }
    }
    input
}

/// NaN handling, truncation or padding to `max_context`, the row's statistics.
pub(super) fn prepare_row(series: &[f32], fc: &ForecastConfig) -> PreparedRow {
    let filled = fill_missing(series);
    let keep = filled.len().min(fc.max_context);
    let real = &filled[filled.len() - keep..];
    let mut values = vec![0.0f32; fc.max_context - keep];
    values.extend_from_slice(real);
    let positive = fc.infer_is_positive && values.iter().all(|v| *v >= 0.0);
    let (mu, sigma) = if fc.normalize_inputs {
        padded_mean_std(real, fc.max_context)
    } else {
        (0.0, 1.0)
    };
    if fc.normalize_inputs {
        for v in &mut values {
            *v = normalise(*v, mu, sigma);
        }
    }
    PreparedRow {
        values,
        real: keep,
        mu,
        sigma,
        positive,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_values_are_stripped_in_front_and_interpolated_inside() {
        let nan = f32::NAN;
        assert_eq!(
            fill_missing(&[nan, nan, 1.0, nan, 3.0, nan]),
            vec![1.0, 2.0, 3.0, 3.0]
        );
        assert_eq!(fill_missing(&[nan, nan]), vec![0.0, 0.0]);
        assert_eq!(fill_missing(&[]), Vec::<f32>::new());
    }
}
