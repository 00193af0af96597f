//! The [`Forecaster`] side of Chronos-2: each window of a batch is one group of rows, as
//! `Chronos2Dataset` builds it from a task: the window's target channels, then its covariates
//! (past-only first, the known-future ones last). Known-future covariates carry their values
//! over the horizon into the future tokens; every other row's future is unknown. Missing steps
//! are NaN as in the package; long horizons are unrolled and other quantile levels interpolated
//! as the pipeline does; the training loss scores the target rows only.

use std::path::Path;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Int, TensorData};

use super::model::{Chronos2Input, Chronos2Model};
use super::scaler::FutureCovariates;
use crate::chronos_bolt::loss::{Target, point_loss};
use crate::chronos_bolt::scaler::Context;
use crate::forecaster::{
    FinetuneMode, Forecast, ForecastInput, ForecastOptions, Forecaster, LossKind, ModelError,
    ParamCounts, check_horizon, check_quantile_levels, check_shapes, fold_channels,
};
use crate::info::CheckpointInfo;

/// A batch as the model's rows: `windows` groups of `targets + covariates` rows each.
struct Groups {
    context: Context,
    group_ids: Vec<i64>,
    /// `[rows, width]` known future values, NaN where a row has none.
    future: Option<(Vec<f32>, usize)>,
    windows: usize,
    targets: usize,
    rows_per_group: usize,
}

impl Groups {
    /// `[windows * rows_per_group, ..]` -> the target rows, `[windows, targets, ..]` flattened.
    fn targets_of<const D: usize>(&self, rows: Tensor<D>) -> Tensor<D> {
        if self.rows_per_group == self.targets {
            return rows;
        }
        let kept: Vec<i64> = (0..self.windows)
            .flat_map(|w| (0..self.targets).map(move |k| (w * self.rows_per_group + k) as i64))
            .collect();
        let n = kept.len();
        let device = rows.device();
        rows.select(
            0,
            Tensor::<1, Int>::from_data(TensorData::new(kept, [n]), &device),
        )
    }
}

/// `[b, t, c]` values with an optional mask -> `([b, t, c] values, [b, t, c] mask)`, missing = 0.
fn with_mask(values: &Tensor<3>, mask: &Option<Tensor<3>>) -> (Tensor<3>, Tensor<3>) {
    let mask = mask
        .clone()
        .unwrap_or_else(|| Tensor::ones(values.dims(), &values.device()));
    (values.clone(), mask)
}

impl Chronos2Model {
    /// What this checkpoint is, in the family-independent terms of [`CheckpointInfo`].
    pub fn checkpoint_info(&self) -> CheckpointInfo {
        self.config.info()
    }

    /// Steps one forward pass forecasts: `max_output_patches * output_patch_size`.
    pub fn model_prediction_length(&self) -> usize {
        let c = &self.config.chronos;
        c.max_output_patches * c.output_patch_size
    }

    /// The longest horizon the [`Forecaster`] accepts: every unrolled pass must still see
    /// some of the observed context, so at most `context_length` steps (or one pass, if that
    /// is longer). The package allows any horizon with a warning.
    pub fn horizon_limit(&self) -> usize {
        self.model_prediction_length()
            .max(self.config.chronos.context_length)
    }

    /// A batch the Chronos-2 forecaster reads: at least one step, masks shaped like their
    /// values, covariates of the same windows and steps, and known-future covariates that are
    /// the future of (the last) past covariates.
    pub fn check_batch(&self, input: &ForecastInput) -> Result<(), ModelError> {
        check_shapes(input)?;
        let [b, t, _] = input.past_values.dims();
        let past = input.past_covariates.as_ref().map_or(0, |c| c.dims()[2]);
        if let Some(c) = &input.past_covariates
            && c.dims()[..2] != [b, t]
        {
            return Err(ModelError::Invalid(format!(
                "past_covariates {:?} must cover the same {b} windows x {t} steps as past_values",
                c.dims()
            )));
        }
        match (&input.past_covariates, &input.past_covariates_mask) {
            (Some(c), Some(m)) if c.dims() != m.dims() => {
                return Err(ModelError::Invalid(format!(
                    "past_covariates_mask {:?} does not match past_covariates {:?}",
                    m.dims(),
                    c.dims()
                )));
            }
            (None, Some(_)) => {
                return Err(ModelError::Invalid(
                    "past_covariates_mask without past_covariates".into(),
                ));
            }
            _ => {}
        }
        if let Some(f) = &input.future_covariates {
            let [fb, fh, nf] = f.dims();
            if fb != b || nf > past || fh == 0 {
                return Err(ModelError::Invalid(format!(
                    "future_covariates {:?}: Chronos-2 reads them as the known future of the \
                     last past covariates, so they need {b} windows, at least one step and at \
                     most {past} channels (the past covariates given)",
                    f.dims()
                )));
            }
        }
        Ok(())
    }

    /// The batch as groups of rows (targets, then covariates, per window) with the known
    /// future values of the last `future_covariates` rows of each group over the first
    /// `horizon` steps (the package takes exactly the horizon's values: later ones would reach
    /// the forecast through the output patch that covers them).
    fn groups_of(&self, input: &ForecastInput, horizon: usize) -> Groups {
        let [b, _, targets] = input.past_values.dims();
        let (values, mask) = with_mask(&input.past_values, &input.past_observed_mask);
        let (values, mask, covariates) = match &input.past_covariates {
            Some(c) => {
                let (cv, cm) = with_mask(c, &input.past_covariates_mask);
                (
                    Tensor::cat(vec![values, cv], 2),
                    Tensor::cat(vec![mask, cm], 2),
                    c.dims()[2],
                )
            }
            None => (values, mask, 0),
        };
        let rows_per_group = targets + covariates;
        let context = Context::from_nan(fold_channels(&values), Some(fold_channels(&mask)));
        let group_ids = (0..b * rows_per_group)
            .map(|r| (r / rows_per_group) as i64)
            .collect();
        let future = input.future_covariates.as_ref().map(|f| {
            let [_, h, nf] = f.dims();
            let h = h.min(horizon);
            let known = f
                .clone()
                .narrow(1, 0, h)
                .into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32 tensor");
            let mut out = vec![f32::NAN; b * rows_per_group * h];
            for w in 0..b {
                for j in 0..nf {
                    let row = w * rows_per_group + rows_per_group - nf + j;
                    for t in 0..h {
                        out[row * h + t] = known[(w * h + t) * nf + j];
                    }
                }
            }
            (out, h)
        });
        Groups {
            context,
            group_ids,
            future,
            windows: b,
            targets,
            rows_per_group,
        }
    }

    /// The pipeline's forecast for a checked batch, unfolded to `[b, h, c(, q)]`.
    fn forecast_checked(
        &self,
        input: &ForecastInput,
        horizon: usize,
        levels: Option<&[f32]>,
    ) -> Result<Forecast, ModelError> {
        let [b, _, c] = input.past_values.dims();
        let own = self.quantile_levels();
        let levels = levels.unwrap_or(&own);
        let groups = self.groups_of(input, horizon);
        let (quantiles, median) = self.predict_quantiles_with_future(
            groups.context.clone(),
            Some(groups.group_ids.clone()),
            groups.future.clone(),
            horizon,
            levels,
        )?;
        let (quantiles, median) = (groups.targets_of(quantiles), groups.targets_of(median));
        let n = levels.len();
        Ok(Forecast {
            point: median.reshape([b, c, horizon]).swap_dims(1, 2),
            quantile_levels: levels.to_vec(),
            quantiles: Some(quantiles.reshape([b, c, horizon, n]).permute([0, 2, 1, 3])),
        })
    }

    /// The training rows of a checked batch with `future_values`: the model input (known
    /// future values over `ceil(h / patch)` output patches) and the target, NaN on every
    /// covariate row (`Chronos2Dataset` masks them out of the loss).
    fn training_rows(&self, input: &ForecastInput) -> (Chronos2Input, Target, Groups) {
        let future = input
            .future_values
            .as_ref()
            .expect("Forecaster::loss needs future_values");
        let [b, h, targets] = future.dims();
        let groups = self.groups_of(input, h);
        let patch = self.config.chronos.output_patch_size;
        let patches = h.div_ceil(patch).max(1);
        let device = future.device();
        let (values, mask) = with_mask(future, &input.future_observed_mask);
        let covariates = groups.rows_per_group - targets;
        let (values, mask) = if covariates > 0 {
            let nan = Tensor::<3>::full([b, h, covariates], f32::NAN, &device);
            let zeros = Tensor::<3>::zeros([b, h, covariates], &device);
            (
                Tensor::cat(vec![values, nan], 2),
                Tensor::cat(vec![mask, zeros], 2),
            )
        } else {
            (values, mask)
        };
        let target = Target::from_nan(fold_channels(&values), Some(fold_channels(&mask)));
        // As wide as the target: the model pads both to its output patches.
        let future_covariates = groups.future.as_ref().map(|(known, width)| {
            let rows = known.len() / width;
            let mut out = vec![f32::NAN; rows * h];
            for r in 0..rows {
                out[r * h..r * h + width].copy_from_slice(&known[r * width..(r + 1) * width]);
            }
            FutureCovariates::from_nan(Tensor::from_data(TensorData::new(out, [rows, h]), &device))
        });
        let model_input = Chronos2Input {
            context: groups.context.clone(),
            group_ids: Some(groups.group_ids.clone()),
            future_covariates,
            num_output_patches: patches,
        };
        (model_input, target, groups)
    }
}

impl Forecaster for Chronos2Model {
    fn model_type(&self) -> &'static str {
        "chronos2"
    }

    fn info(&self) -> CheckpointInfo {
        self.checkpoint_info()
    }

    fn context_length(&self) -> usize {
        self.config.chronos.context_length
    }

    fn prediction_length(&self) -> usize {
        self.model_prediction_length()
    }

    fn check_input(&self, input: &ForecastInput) -> Result<(), ModelError> {
        self.check_batch(input)
    }

    fn forecast(&self, input: &ForecastInput) -> Result<Forecast, ModelError> {
        self.forecast_with(input, &ForecastOptions::default())
    }

    fn max_horizon(&self) -> Option<usize> {
        Some(self.horizon_limit())
    }

    fn reads_any_covariates(&self) -> bool {
        true
    }

    fn forecast_with(
        &self,
        input: &ForecastInput,
        options: &ForecastOptions,
    ) -> Result<Forecast, ModelError> {
        if options.decoding.is_some() {
            return Err(ModelError::Invalid(
                "Chronos-2 forecasts quantiles directly: decoding options (greedy/sampling) \
                 do not apply"
                    .into(),
            ));
        }
        let horizon = check_horizon(self, options.horizon)?;
        if let Some(levels) = &options.quantile_levels {
            check_quantile_levels(levels)?;
        }
        self.check_batch(input)?;
        if let Some(f) = &input.future_covariates
            && f.dims()[1] < horizon
        {
            return Err(ModelError::Invalid(format!(
                "future_covariates cover {} steps, the horizon is {horizon}: give the \
                 known-future covariates' values for every forecast step",
                f.dims()[1]
            )));
        }
        self.forecast_checked(input, horizon, options.quantile_levels.as_deref())
    }

    /// `Native` and `Quantile`: the model's training loss (`Chronos2Model.forward(...,
    /// future_target=...).loss`) with `ceil(h / patch)` output patches; point losses on the
    /// median in data units.
    fn loss(&self, input: &ForecastInput, kind: LossKind) -> Tensor<1> {
        if let Err(e) = self.check_batch(input) {
            panic!("{e}");
        }
        let (model_input, target, groups) = self.training_rows(input);
        match kind {
            LossKind::Quantile | LossKind::Native => {
                match self.quantile_loss(model_input, target) {
                    Ok((loss, _)) => loss,
                    Err(e) => panic!("{e}"),
                }
            }
            point => {
                let median_at = self.config.chronos.median_index().expect("validated");
                let out = match self.forward(model_input) {
                    Ok(out) => out,
                    Err(e) => panic!("{e}"),
                };
                let median = out
                    .quantile_preds()
                    .narrow(1, median_at, 1)
                    .squeeze_dim::<2>(1);
                let target = Target {
                    values: groups.targets_of(target.values),
                    observed: groups.targets_of(target.observed),
                };
                point_loss(groups.targets_of(median), target, point)
            }
        }
    }

    fn apply_finetune_mode(self, mode: FinetuneMode) -> Self {
        self.with_finetune_mode(mode)
    }

    fn param_counts(&self) -> ParamCounts {
        ParamCounts {
            total: self.num_params(),
            trainable: self.trainable_params(),
        }
    }

    fn save_pretrained(&self, dir: &Path) -> Result<(), ModelError> {
        self.save_pretrained_dir(dir)
    }
}
