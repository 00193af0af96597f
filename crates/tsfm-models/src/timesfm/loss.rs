//! Fine-tuning loss, as the published TimesFM 2.5 recipe (transformers'
//! `TimesFm2_5ModelForPrediction(past_values, future_values).loss`): in the space of the
//! global normalisation, the forecast of the first output patch (flip-averaged and with the
//! continuous quantile head when the forecast settings say so) against the normalised target:
//! the MSE of the median channel plus the mean pinball loss of the quantile channels.
//!
//! One deliberate difference: the port pairs its 9 levels with channels `[0,1,2,3,4,6,7,8,9]`
//! (the mean channel gets level 0.1, channels 1..4 the next level up), which trains every lower
//! quantile towards the wrong level. Here channel `i` is trained at level `quantiles[i - 1]`
//! and the mean channel, which no forecast reads, is left out.

use burn::Tensor;
use burn::tensor::{Int, TensorData};

use super::attention::AttentionContext;
use super::model::TimesFmModel;
use super::pipeline::{ForecastConfig, PreparedRow, prepare_row, signed_batch, signs};
use super::stats::{RunningStats, TOLERANCE, normalise_patches};
use crate::chronos_bolt::loss::{Target, point_loss};
use crate::forecaster::{LossKind, ModelError};

impl TimesFmModel {
    /// `[rows, horizon, outputs]`: the forecast in the globally normalised space, with
    /// gradients (`horizon` up to one output patch). Missing context readings are handled as
    /// for forecasting; the context is normalised whatever `normalize_inputs` says (the
    /// recipe always does).
    pub fn normalised_forecast(
        &self,
        rows: &[Vec<f32>],
        horizon: usize,
        fc: &ForecastConfig,
    ) -> Result<(Tensor<3>, Vec<PreparedRow>), ModelError> {
        let d = &self.definition;
        if horizon > d.output_patch_len
            || (fc.use_continuous_quantile_head && horizon > d.output_quantile_len)
        {
            return Err(ModelError::Invalid(format!(
                "TimesFM fine-tuning forecasts one output patch: the horizon {horizon} must be at \
                 most {}",
                d.output_patch_len.min(if fc.use_continuous_quantile_head {
                    d.output_quantile_len
                } else {
                    usize::MAX
                })
            )));
        }
        let fc = ForecastConfig {
            normalize_inputs: true,
            ..*fc
        };
        let prepared: Vec<PreparedRow> = rows.iter().map(|r| prepare_row(r, &fc)).collect();
        let signs = signs(&fc);
        let (point, spread) = self.last_patch_heads(&prepared, signs);
        let b = rows.len();
        let q = d.num_outputs();
        let (mut full, mut spread) = (
            point.narrow(1, 0, horizon),
            spread.narrow(1, 0, horizon.min(d.output_quantile_len)),
        );
        if signs.len() == 2 {
            let flip = flip_channels(q, &full.device());
            let pos = |t: Tensor<3>| t.narrow(0, 0, b);
            let neg = |t: Tensor<3>| t.narrow(0, b, b).select(2, flip.clone());
            full = (pos(full.clone()) - neg(full)) / 2.0;
            spread = (pos(spread.clone()) - neg(spread)) / 2.0;
        }
        if fc.use_continuous_quantile_head {
            let med = d.decode_index;
            let pick = |t: &Tensor<3>| t.clone().narrow(2, med, 1);
            let continuous = spread.clone() - pick(&spread) + pick(&full);
            let is_quantile: Vec<f32> = (0..q)
                .map(|c| if c == 0 || c == med { 0.0 } else { 1.0 })
                .collect();
            let is_quantile =
                Tensor::<3>::from_data(TensorData::new(is_quantile, [1, 1, q]), &full.device());
            full = continuous * is_quantile.clone() + full * (is_quantile.neg() + 1.0);
        }
        Ok((full, prepared))
    }

    /// The point and quantile heads of each row's last context patch, de-normalised with that
    /// patch's running statistics: `[rows * signs, o, q]` and `[rows * signs, os, q]`.
    fn last_patch_heads(&self, rows: &[PreparedRow], signs: &[f32]) -> (Tensor<3>, Tensor<3>) {
        let d = &self.definition;
        let (p, o, os, q) = (
            d.input_patch_len,
            d.output_patch_len,
            d.output_quantile_len,
            d.num_outputs(),
        );
        let input = signed_batch(rows, signs, p);
        let n = input.len / p;
        let (mut normed, mut masked_patches, mut last) = (Vec::new(), Vec::new(), Vec::new());
        for (values, masked) in input
            .values
            .chunks(input.len)
            .zip(input.masked.chunks(input.len))
        {
            let patches = normalise_patches(values, masked, p, RunningStats::default());
            normed.extend(patches.values);
            masked_patches.push((0..n).filter(|i| masked[i * p + p - 1]).count());
            last.push(patches.stats[n - 1]);
        }
        let mask: Vec<f32> = input
            .masked
            .iter()
            .map(|m| if *m { 1.0f32 } else { 0.0 })
            .collect();
        let device = self.device();
        let rows_total = last.len();
        let t3 = |v: Vec<f32>, shape: [usize; 3]| {
            Tensor::<3>::from_data(TensorData::new(v, shape), &device)
        };
        let ctx = AttentionContext::new(&masked_patches, 0, n, d.head_dim(), &device);
        let out = self.forward(
            t3(normed, [rows_total, n, p]),
            t3(mask, [rows_total, n, p]),
            &ctx,
            None,
        );
        let emb = out.output_embeddings.narrow(1, n - 1, 1);
        let mu = t3(last.iter().map(|s| s.mu).collect(), [rows_total, 1, 1]);
        let sigma = t3(last.iter().map(|s| s.sigma).collect(), [rows_total, 1, 1]);
        let renorm =
            |t: Tensor<3>, len: usize| t.reshape([rows_total, len, q]) * sigma.clone() + mu.clone();
        (
            renorm(self.point_head(emb.clone()), o),
            renorm(self.quantile_head(emb), os),
        )
    }

    /// The recipe's loss (`Native` and `Quantile`), or a point loss on the median channel, in
    /// the globally normalised space. `target`: `[rows, horizon]` in data units.
    pub fn recipe_loss(
        &self,
        rows: &[Vec<f32>],
        target: Target,
        fc: &ForecastConfig,
        kind: LossKind,
    ) -> Result<Tensor<1>, ModelError> {
        let [b, h] = target.values.dims();
        let (preds, prepared) = self.normalised_forecast(rows, h, fc)?;
        let device = preds.device();
        let col = |f: &dyn Fn(&PreparedRow) -> f32| {
            Tensor::<2>::from_data(
                TensorData::new(prepared.iter().map(f).collect::<Vec<f32>>(), [b, 1]),
                &device,
            )
        };
        let mu = col(&|r| r.mu);
        let safe_sigma = col(&|r| if r.sigma < TOLERANCE { 1.0 } else { r.sigma });
        let observed = target.observed.clone();
        let y = Target {
            values: (target.values - mu) / safe_sigma * observed.clone(),
            observed,
        };
        let med = self.definition.decode_index;
        let median = preds.clone().narrow(2, med, 1).reshape([b, h]);
        if !matches!(kind, LossKind::Native | LossKind::Quantile) {
            return Ok(point_loss(median, y, kind));
        }
        let mse = point_loss(median, y.clone(), LossKind::Mse);
        let levels = &self.definition.quantiles;
        let mut pinball = Vec::new();
        for (i, level) in levels.iter().enumerate() {
            let c = i + 1;
            if c == med {
                continue;
            }
            let e = y.values.clone() - preds.clone().narrow(2, c, 1).reshape([b, h]);
            let l = *level;
            let loss = (e.clone() * (l - 1.0)).max_pair(e * l) * y.observed.clone();
            pinball.push(loss.sum() / y.observed.clone().sum().clamp_min(1.0));
        }
        let n = pinball.len() as f64;
        Ok(mse + Tensor::cat(pinball, 0).sum() / n)
    }
}

/// Channel order of the negated series' forecast: the mean stays, quantiles reverse.
fn flip_channels(q: usize, device: &burn::tensor::Device) -> Tensor<1, Int> {
    let ids: Vec<i64> = (0..q)
        .map(|c| if c == 0 { 0 } else { (q - c) as i64 })
        .collect();
    Tensor::from_data(TensorData::new(ids, [q]), device)
}
