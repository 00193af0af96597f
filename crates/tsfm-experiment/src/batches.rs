//! Host buffers -> model batches: the one place windows become [`ForecastInput`]s, with the one
//! padding rule (short histories left-padded with zeros marked unobserved, the padding the
//! models' own forward passes apply) and the one host-side check (finite values, shapes).
use std::cell::RefCell;

use burn::Tensor;
use burn::tensor::{Device, TensorData};
use tsfm_data::{Batch, WindowSet};
use tsfm_models::ForecastInput;

use crate::error::{Result, user};

/// Forecast channels in every window set: the pipeline forecasts one target column.
pub const TARGET_CHANNELS: usize = 1;

pub fn tensor3(values: Vec<f32>, shape: [usize; 3], device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

pub fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .try_to_vec::<f32>()
        .expect("model outputs are f32 tensors")
}

/// `[batch, time, channels]` host values laid out as the pipeline stores them (the targets
/// first, then the past covariates) -> the Forecaster's `(targets, Some(covariates))`.
fn split_targets(
    values: Vec<f32>,
    shape: [usize; 3],
    targets: usize,
    device: &Device,
) -> (Tensor<3>, Option<Tensor<3>>) {
    let all = tensor3(values, shape, device);
    let n_cov = shape[2] - targets;
    let covariates = (n_cov > 0).then(|| all.clone().narrow(2, targets, n_cov));
    (all.narrow(2, 0, targets), covariates)
}

/// One batch on the host, in the pipeline's layout (target first, then past covariates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostBatch {
    pub batch: usize,
    pub context: usize,
    pub channels: usize,
    /// The first `targets` channels are forecast, the rest are past covariates.
    pub targets: usize,
    /// `[batch, context, channels]`
    pub past: Vec<f32>,
    pub past_mask: Vec<f32>,
    /// `[batch, horizon, channels]` when the targets are known (training, evaluation).
    pub future: Option<(usize, Vec<f32>, Vec<f32>)>,
    /// `[batch, horizon, n_future]` known-future covariates, with `n_future`.
    pub future_covariates: Option<(usize, usize, Vec<f32>)>,
    /// Each window's sampling interval in seconds.
    pub interval_s: Vec<u64>,
}

impl HostBatch {
    /// Empty buffers for `channels` channels of `context` steps.
    pub fn new(context: usize, channels: usize) -> Self {
        HostBatch {
            context,
            channels,
            targets: TARGET_CHANNELS,
            ..HostBatch::default()
        }
    }

    /// Append one history, `[len, channels]` row-major with its mask, keeping the last
    /// `context` steps; shorter ones are left-padded with zeros marked unobserved.
    pub fn push_history(&mut self, values: &[f32], mask: &[f32], interval_s: u64) {
        let ch = self.channels;
        let len = values.len() / ch;
        let take = len.min(self.context);
        let pad = (self.context - take) * ch;
        self.past.extend(std::iter::repeat_n(0.0, pad));
        self.past_mask.extend(std::iter::repeat_n(0.0, pad));
        self.past.extend_from_slice(&values[(len - take) * ch..]);
        self.past_mask.extend_from_slice(&mask[(len - take) * ch..]);
        self.interval_s.push(interval_s);
        self.batch += 1;
    }

    /// Refuse what no model should see: a non-finite input value or a shape that does not add up.
    pub fn check(&self) -> Result<()> {
        let expected = self.batch * self.context * self.channels;
        if self.past.len() != expected || self.past_mask.len() != expected {
            return Err(user(format!(
                "batch of {} windows x {} steps x {} channels holds {} values",
                self.batch,
                self.context,
                self.channels,
                self.past.len()
            )));
        }
        if let Some(i) = self.past.iter().position(|v| !v.is_finite()) {
            let per_window = self.context * self.channels;
            return Err(user(format!(
                "window {} of the batch has a non-finite input value at step {} channel {}; \
                 check the data's imputation settings",
                i / per_window,
                (i % per_window) / self.channels,
                i % self.channels
            )));
        }
        Ok(())
    }

    /// The model input (checked first). Consumes the buffers: on the training hot path each
    /// value is copied once, from the window set into this batch, then moved into tensors.
    pub fn into_input(self, device: &Device) -> Result<ForecastInput> {
        self.check()?;
        let (b, ch, targets) = (self.batch, self.channels, self.targets);
        let split = |v: Vec<f32>, steps| split_targets(v, [b, steps, ch], targets, device);
        let (past_values, past_covariates) = split(self.past, self.context);
        let (mask, covariates_mask) = split(self.past_mask, self.context);
        let mut input = ForecastInput::context(past_values);
        input.past_covariates = past_covariates;
        input.past_covariates_mask = covariates_mask;
        input.past_observed_mask = Some(mask);
        input.sampling_interval_s = Some(self.interval_s);
        if let Some((h, values, mask)) = self.future {
            input.future_values = Some(split(values, h).0);
            input.future_observed_mask = Some(split(mask, h).0);
        }
        if let Some((h, nf, values)) = self.future_covariates {
            input.future_covariates = Some(tensor3(values, [b, h, nf], device));
        }
        Ok(input)
    }
}

/// The last `n` of every row's `channels` values (`[rows, channels]` row-major): the
/// known-future covariates' horizon values. Only these channels' futures leave the window
/// set for the model; the target's and the past-only covariates' futures stay the loss's.
fn last_channels(values: &[f32], channels: usize, n: usize) -> Vec<f32> {
    values
        .chunks_exact(channels)
        .flat_map(|row| &row[channels - n..])
        .copied()
        .collect()
}

/// A window set handing out model batches; reuses one host buffer.
pub struct TensorWindows<'a> {
    pub set: &'a WindowSet,
    /// Steps the model reads: windows with a shorter history (`data.context_length`) are
    /// left-padded to it.
    model_context: usize,
    /// The last `known_future` channels are known-future covariates (`data.future_covariates`):
    /// their horizon values are the batch's `future_covariates`.
    known_future: usize,
    batch: RefCell<Batch>,
}

impl<'a> TensorWindows<'a> {
    pub fn new(set: &'a WindowSet, model_context: usize) -> Self {
        TensorWindows {
            set,
            model_context: model_context.max(set.context),
            known_future: 0,
            batch: RefCell::new(Batch::default()),
        }
    }

    /// The same windows with their last `n` channels declared known in the future.
    pub fn with_known_future(mut self, n: usize) -> Self {
        self.known_future = n;
        self
    }

    /// The host batch of the windows at `indices` and each window's first forecast-step
    /// timestamp.
    pub fn host(&self, indices: &[usize]) -> (HostBatch, Vec<i64>) {
        let mut b = self.batch.borrow_mut();
        self.set.fill_batch(indices, &mut b);
        let intervals = b
            .series_index
            .iter()
            .map(|&si| u64::from(self.set.data()[si].interval_min) * 60)
            .collect();
        let (past, past_mask) = if self.model_context == b.context {
            (b.past_values.clone(), b.past_observed_mask.clone())
        } else {
            let mut padded = HostBatch::new(self.model_context, b.channels);
            let per_window = b.context * b.channels;
            for k in 0..b.batch {
                let window = k * per_window..(k + 1) * per_window;
                padded.push_history(
                    &b.past_values[window.clone()],
                    &b.past_observed_mask[window],
                    0,
                );
            }
            (padded.past, padded.past_mask)
        };
        let host = HostBatch {
            batch: b.batch,
            context: self.model_context,
            channels: b.channels,
            targets: TARGET_CHANNELS,
            past,
            past_mask,
            future: Some((
                b.horizon,
                b.future_values.clone(),
                b.future_observed_mask.clone(),
            )),
            future_covariates: if self.known_future > 0 {
                Some((
                    b.horizon,
                    self.known_future,
                    last_channels(&b.future_values, b.channels, self.known_future),
                ))
            } else {
                (b.n_future > 0).then(|| (b.horizon, b.n_future, b.future_covariates.clone()))
            },
            interval_s: intervals,
        };
        (host, b.origin_timestamp.clone())
    }

    /// The model input for `indices`, checked on the host.
    pub fn input(&self, indices: &[usize], device: &Device) -> Result<(ForecastInput, Vec<i64>)> {
        let (host, origins) = self.host(indices);
        Ok((host.into_input(device)?, origins))
    }
}

impl tsfm_train::WindowSource for TensorWindows<'_> {
    fn len(&self) -> usize {
        self.set.len()
    }

    /// The trainer's batches come from windows the pipeline built and the experiment checked
    /// (one batch before the run, see `check_fits`); a failure here is a bug, not user input.
    fn batch(&self, indices: &[usize], device: &Device) -> ForecastInput {
        match self.input(indices, device) {
            Ok((input, _)) => input,
            Err(e) => panic!("a training batch failed its host check: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_histories_are_left_padded_unobserved() {
        let mut b = HostBatch::new(4, 2);
        // Two steps of (target, covariate).
        b.push_history(&[1.0, 10.0, 2.0, 20.0], &[1.0, 1.0, 0.0, 1.0], 300);
        // Six steps: the last four are kept.
        let long: Vec<f32> = (0..12).map(|v| v as f32).collect();
        b.push_history(&long, &[1.0; 12], 900);
        assert_eq!(b.batch, 2);
        assert_eq!(
            b.past,
            vec![
                0., 0., 0., 0., 1., 10., 2., 20., 4., 5., 6., 7., 8., 9., 10., 11.
            ]
        );
        assert_eq!(
            b.past_mask,
            vec![
                0., 0., 0., 0., 1., 1., 0., 1., 1., 1., 1., 1., 1., 1., 1., 1.
            ]
        );
        let input = b.into_input(&Device::flex()).unwrap();
        assert_eq!(input.past_values.dims(), [2, 4, 1]);
        assert_eq!(input.past_covariates.unwrap().dims(), [2, 4, 1]);
        assert_eq!(input.sampling_interval_s, Some(vec![300, 900]));
    }

    /// One series of `len` hourly steps and three channels: target = t, a past-only covariate
    /// 100 + t, a known-future covariate 200 + t.
    fn three_channels(len: usize) -> WindowSet {
        use std::sync::Arc;
        use tsfm_data::split::{Role, SplitRanges};
        let values = (0..len)
            .flat_map(|t| [t as f32, 100.0 + t as f32, 200.0 + t as f32])
            .collect();
        let series = tsfm_data::ProcessedSeries {
            id: "a".into(),
            unit: None,
            interval_min: 60,
            timestamps: (0..len as i64).map(|i| i * 3600).collect(),
            channel_names: vec!["y".into(), "past".into(), "known".into()],
            observed: vec![1.0; len * 3],
            values,
            future: vec![],
            n_future: 0,
            raw_target: (0..len).map(|t| t as f64).collect(),
            last_observed: (0..len as u32).flat_map(|t| [t, t, t]).collect(),
            carry_forward: vec![true, false, false],
            segments: std::iter::once(0..len).collect(),
            splits: SplitRanges {
                train: 0..len,
                val: len..len,
                test: len..len,
            },
        };
        WindowSet::for_role(Arc::from(vec![series]), Role::Train, 3, 2, 1)
    }

    #[test]
    fn known_future_covariates_are_the_last_channels_horizon_and_nothing_else() {
        let set = three_channels(8);
        let device = Device::flex();
        let windows = TensorWindows::new(&set, 3).with_known_future(1);
        let (input, _) = windows.input(&[1], &device).unwrap();
        // Window 1: context steps 1..4, horizon 4..6.
        assert_eq!(to_vec(input.past_values), [1., 2., 3.]);
        assert_eq!(
            to_vec(input.past_covariates.unwrap()),
            [101., 201., 102., 202., 103., 203.]
        );
        let future = input.future_covariates.unwrap();
        assert_eq!(future.dims(), [1, 2, 1]);
        assert_eq!(to_vec(future), [204., 205.]);
        assert_eq!(to_vec(input.future_values.unwrap()), [4., 5.]);
        // Without the declaration no channel's future reaches the input.
        let (input, _) = TensorWindows::new(&set, 3).input(&[1], &device).unwrap();
        assert!(input.future_covariates.is_none());
    }

    #[test]
    fn a_non_finite_value_is_refused_before_the_model() {
        let mut b = HostBatch::new(2, 1);
        b.push_history(&[1.0, 2.0], &[1.0, 1.0], 300);
        b.push_history(&[1.0, f32::NAN], &[1.0, 1.0], 300);
        let e = b.into_input(&Device::flex()).unwrap_err().to_string();
        assert_eq!(
            e,
            "window 1 of the batch has a non-finite input value at step 1 channel 0; \
             check the data's imputation settings"
        );
    }
}
