//! Windows over processed series: (series, start) pairs, filled into reusable flat buffers.
//!
//! A window is `context` steps of history followed by `horizon` forecast steps, entirely inside
//! one segment (never across a long gap). Its *origin* is the index of the first forecast step.
//! The trainer shuffles indices (seeded) and converts the flat `Batch` buffers into tensors.
//!
//! # No look-ahead
//! A window's inputs depend only on readings at or before its last context step. The stored
//! series interpolate short target gaps and `linear` covariates between the readings on both
//! sides, so where a context ends inside such a gap (its *trailing run*: the missing steps after
//! the channel's last reading), the window shows that last reading carried forward instead, with
//! the observed mask still 0. Gaps with both ends inside the context keep their interpolation.
//! Each series stores, per step and channel, the index of the last reading at or before it
//! ([`ProcessedSeries::last_observed`]), so the fix-up costs the length of the trailing run.
//! A channel with no reading at all up to the last context step keeps its stored fill, which
//! before the first reading is the training mean (see [`crate::impute::impute`]).

use crate::calendar::N_CALENDAR;
use crate::series::SECONDS_PER_DAY;
use crate::split::{Role, SplitRanges};
use std::ops::Range;
use std::sync::Arc;

/// [`ProcessedSeries::last_observed`] before a channel's first reading.
pub const NO_READING: u32 = u32::MAX;

/// One series after the pipeline: on a regular grid, imputed, scaled, with masks.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessedSeries {
    pub id: String,
    pub unit: Option<String>,
    pub interval_min: u32,
    pub timestamps: Vec<i64>,
    /// Target first, then past covariates.
    pub channel_names: Vec<String>,
    /// Scaled values, row-major `[len, channels]`. The target is 0 outside segments (never
    /// read by a window); everything else is imputed.
    pub values: Vec<f32>,
    /// 1 where the value was observed before gap interpolation/imputation, `[len, channels]`.
    pub observed: Vec<f32>,
    /// Known-future covariates (calendar), `[len, n_future]`; empty when calendar is off.
    pub future: Vec<f32>,
    pub n_future: usize,
    /// Target in data units after the grid and short-gap interpolation; NaN where missing
    /// (outside segments). Interpolated steps use the reading after the gap, so a window's
    /// context must come from [`WindowSet::context_target`], not from slicing this.
    pub raw_target: Vec<f64>,
    /// `[len, channels]`: index of the last observed value at or before each step, or
    /// [`NO_READING`].
    pub last_observed: Vec<u32>,
    /// Per channel: whether a context's trailing run is carried forward from the last reading
    /// (the target and `linear` covariates, whose stored gaps look at the next reading).
    pub carry_forward: Vec<bool>,
    pub segments: Vec<Range<usize>>,
    pub splits: SplitRanges,
}

impl ProcessedSeries {
    pub fn n_channels(&self) -> usize {
        self.channel_names.len()
    }

    /// For a context `start..end` and channel `c` that carries forward: the index of the last
    /// reading at or before `end - 1` and the context steps after it, when that run is not
    /// empty (the steps whose stored value may come from a later reading).
    fn trailing_run(&self, start: usize, end: usize, c: usize) -> Option<(usize, Range<usize>)> {
        if !self.carry_forward[c] {
            return None;
        }
        let last = self.last_observed[(end - 1) * self.n_channels() + c];
        if last == NO_READING || last as usize == end - 1 {
            return None;
        }
        let last = last as usize;
        Some((last, (last + 1).max(start)..end))
    }
}

/// Flat buffers for one batch; `fill_batch` resizes them in place and reuses the allocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub batch: usize,
    pub context: usize,
    pub horizon: usize,
    pub channels: usize,
    pub n_future: usize,
    /// `[batch, context, channels]`
    pub past_values: Vec<f32>,
    pub past_observed_mask: Vec<f32>,
    /// `[batch, horizon, channels]`
    pub future_values: Vec<f32>,
    pub future_observed_mask: Vec<f32>,
    /// `[batch, horizon, n_future]` (calendar features of the forecast steps)
    pub future_covariates: Vec<f32>,
    pub series_index: Vec<usize>,
    /// Timestamp of the first forecast step of each window.
    pub origin_timestamp: Vec<i64>,
}

#[derive(Debug, Clone)]
pub struct WindowSet {
    data: Arc<[ProcessedSeries]>,
    pub context: usize,
    pub horizon: usize,
    /// `(series index, first context index)`.
    windows: Vec<(usize, usize)>,
}

impl WindowSet {
    /// Windows whose horizon lies in `role`'s range of each series, every `stride` steps.
    /// Train windows keep their context inside the train range too; val/test windows may take
    /// context from the preceding period (granite-tsfm behaviour).
    pub fn for_role(
        data: Arc<[ProcessedSeries]>,
        role: Role,
        context: usize,
        horizon: usize,
        stride: usize,
    ) -> WindowSet {
        let mut windows = Vec::new();
        for (si, s) in data.iter().enumerate() {
            let r = s.splits.get(role);
            let ctx_floor = if role == Role::Train { r.start } else { 0 };
            for seg in &s.segments {
                let first = (seg.start.max(ctx_floor) + context).max(r.start);
                let end = seg.end.min(r.end);
                if end < horizon || first > end - horizon {
                    continue;
                }
                let last = end - horizon;
                windows.extend(
                    (first..=last)
                        .step_by(stride.max(1))
                        .map(|o| (si, o - context)),
                );
            }
        }
        WindowSet {
            data,
            context,
            horizon,
            windows,
        }
    }

    /// Windows whose context ends at `time_of_day_seconds` local time: the last context step is
    /// at that time and the forecast starts one interval later (midnight-anchored nocturnal
    /// evaluation: `0`, with horizon 8 h). With `role`, only horizons inside that split.
    pub fn anchored(
        data: Arc<[ProcessedSeries]>,
        role: Option<Role>,
        time_of_day_seconds: i64,
        context: usize,
        horizon: usize,
    ) -> WindowSet {
        let mut windows = Vec::new();
        for (si, s) in data.iter().enumerate() {
            let r = role.map_or(0..s.timestamps.len(), |role| s.splits.get(role));
            for seg in &s.segments {
                let first = (seg.start + context).max(r.start);
                let end = seg.end.min(r.end);
                for o in first..(end + 1).saturating_sub(horizon) {
                    if s.timestamps[o - 1].rem_euclid(SECONDS_PER_DAY) == time_of_day_seconds {
                        windows.push((si, o - context));
                    }
                }
            }
        }
        WindowSet {
            data,
            context,
            horizon,
            windows,
        }
    }

    pub fn len(&self) -> usize {
        self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// `(series index, first context index)` of every window.
    pub fn windows(&self) -> &[(usize, usize)] {
        &self.windows
    }

    pub fn data(&self) -> &[ProcessedSeries] {
        &self.data
    }

    pub fn n_channels(&self) -> usize {
        self.data.first().map_or(0, |s| s.n_channels())
    }

    pub fn n_future(&self) -> usize {
        self.data.first().map_or(N_CALENDAR, |s| s.n_future)
    }

    /// The target of window `i`'s horizon in data units, interpolated steps included (NaN never
    /// occurs inside segments). For metrics use [`WindowSet::horizon_truth`].
    pub fn raw_future_target(&self, i: usize) -> &[f64] {
        let (si, start) = self.windows[i];
        let o = start + self.context;
        &self.data[si].raw_target[o..o + self.horizon]
    }

    /// The target of window `i`'s context in data units, by the same causal rule as the batch's
    /// past values: a trailing run of missing steps holds the last reading, never an
    /// interpolation towards a reading in the horizon (for persistence/linear baselines).
    pub fn context_target(&self, i: usize) -> Vec<f64> {
        let (si, start) = self.windows[i];
        let s = &self.data[si];
        let end = start + self.context;
        let mut v = s.raw_target[start..end].to_vec();
        if let Some((last, run)) = s.trailing_run(start, end, 0) {
            let x = s.raw_target[last];
            v[run.start - start..].iter_mut().for_each(|y| *y = x);
        }
        v
    }

    /// The observed target of window `i`'s horizon in data units, NaN where it was not
    /// observed (interpolated steps), so that metrics count real readings only.
    pub fn horizon_truth(&self, i: usize) -> Vec<f64> {
        let (si, start) = self.windows[i];
        let s = &self.data[si];
        let (o, ch) = (start + self.context, s.n_channels());
        (o..o + self.horizon)
            .map(|t| {
                if s.observed[t * ch] > 0.0 {
                    s.raw_target[t]
                } else {
                    f64::NAN
                }
            })
            .collect()
    }

    /// Order of the windows in `epoch` for `seed`: a Fisher-Yates shuffle driven by SplitMix64
    /// seeded from (seed, epoch). A pure function of its inputs, so a trainer resuming mid-epoch
    /// recomputes the same order and skips the windows it already consumed.
    pub fn epoch_order(&self, epoch: u64, seed: u64) -> Vec<usize> {
        epoch_order(self.windows.len(), epoch, seed)
    }

    /// Fills `out` with the windows at `indices` (positions in this set), trailing runs of the
    /// contexts carried forward (see the module docs).
    pub fn fill_batch(&self, indices: &[usize], out: &mut Batch) {
        let (c, h, ch, nf) = (
            self.context,
            self.horizon,
            self.n_channels(),
            self.n_future(),
        );
        let b = indices.len();
        out.batch = b;
        out.context = c;
        out.horizon = h;
        out.channels = ch;
        out.n_future = nf;
        out.past_values.resize(b * c * ch, 0.0);
        out.past_observed_mask.resize(b * c * ch, 0.0);
        out.future_values.resize(b * h * ch, 0.0);
        out.future_observed_mask.resize(b * h * ch, 0.0);
        out.future_covariates.resize(b * h * nf, 0.0);
        out.series_index.clear();
        out.origin_timestamp.clear();
        for (k, &i) in indices.iter().enumerate() {
            let (si, start) = self.windows[i];
            let s = &self.data[si];
            let o = start + c;
            let past = start * ch..o * ch;
            let fut = o * ch..(o + h) * ch;
            let dst = &mut out.past_values[k * c * ch..(k + 1) * c * ch];
            dst.copy_from_slice(&s.values[past.clone()]);
            for channel in 0..ch {
                if let Some((last, run)) = s.trailing_run(start, o, channel) {
                    let x = s.values[last * ch + channel];
                    run.for_each(|t| dst[(t - start) * ch + channel] = x);
                }
            }
            out.past_observed_mask[k * c * ch..(k + 1) * c * ch].copy_from_slice(&s.observed[past]);
            out.future_values[k * h * ch..(k + 1) * h * ch].copy_from_slice(&s.values[fut.clone()]);
            out.future_observed_mask[k * h * ch..(k + 1) * h * ch]
                .copy_from_slice(&s.observed[fut]);
            out.future_covariates[k * h * nf..(k + 1) * h * nf]
                .copy_from_slice(&s.future[o * nf..(o + h) * nf]);
            out.series_index.push(si);
            out.origin_timestamp.push(s.timestamps[o]);
        }
    }
}

/// Seeded, resumable permutation of `0..n` for one epoch (see [`WindowSet::epoch_order`]).
pub fn epoch_order(n: usize, epoch: u64, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    shuffle(
        &mut order,
        seed ^ epoch.wrapping_add(1).wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    order
}

/// Fisher-Yates shuffle driven by SplitMix64 from `state`: the same state gives the same order
/// on every machine and version (runs and splits are reproducible from their seed).
pub fn shuffle<T>(items: &mut [T], mut state: u64) {
    let mut next = || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
// One-segment lists like `[0..10]` are meant, not a list of the numbers in the range.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;

    #[test]
    fn epoch_order_is_a_reproducible_permutation() {
        let a = epoch_order(100, 3, 42);
        assert_eq!(a, epoch_order(100, 3, 42));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(a, (0..100).collect::<Vec<_>>());
        assert_ne!(a, epoch_order(100, 4, 42));
        assert_ne!(a, epoch_order(100, 3, 43));
        assert!(epoch_order(0, 0, 0).is_empty());
        assert_eq!(epoch_order(1, 0, 0), vec![0]);
    }

    /// 2 channels: value = index (target), 100 + index (covariate); calendar off.
    fn toy(len: usize, segments: Vec<Range<usize>>, splits: SplitRanges) -> ProcessedSeries {
        let mut values = Vec::new();
        for i in 0..len {
            values.push(i as f32);
            values.push(100.0 + i as f32);
        }
        ProcessedSeries {
            id: "a".into(),
            unit: None,
            interval_min: 60,
            timestamps: (0..len as i64).map(|i| i * 3600).collect(),
            channel_names: vec!["y".into(), "x".into()],
            observed: vec![1.0; len * 2],
            values,
            future: vec![],
            n_future: 0,
            raw_target: (0..len).map(|i| i as f64).collect(),
            last_observed: (0..len as u32).flat_map(|t| [t, t]).collect(),
            carry_forward: vec![true, false],
            segments,
            splits,
        }
    }

    #[test]
    fn role_windows_respect_segments_and_splits() {
        let splits = SplitRanges {
            train: 0..12,
            val: 12..16,
            test: 16..20,
        };
        let data: Arc<[ProcessedSeries]> = vec![toy(20, vec![0..9, 10..20], splits)].into();
        // context 3, horizon 2: segment 0..9 -> origins 3..=7; segment 10..20 (train part 10..12) none.
        let train = WindowSet::for_role(data.clone(), Role::Train, 3, 2, 1);
        assert_eq!(train.windows(), &[(0, 0), (0, 1), (0, 2), (0, 3), (0, 4)]);
        let strided = WindowSet::for_role(data.clone(), Role::Train, 3, 2, 2);
        assert_eq!(strided.windows(), &[(0, 0), (0, 2), (0, 4)]);
        // val horizons in 12..16, context may start in train (from 10, the segment start).
        let val = WindowSet::for_role(data.clone(), Role::Val, 3, 2, 1);
        assert_eq!(val.windows(), &[(0, 10), (0, 11)]);
        let test = WindowSet::for_role(data, Role::Test, 3, 2, 1);
        assert_eq!(test.windows(), &[(0, 13), (0, 14), (0, 15)]);
    }

    #[test]
    fn fill_batch_exact_and_reuses_buffers() {
        let splits = SplitRanges {
            train: 0..20,
            val: 20..20,
            test: 20..20,
        };
        let data: Arc<[ProcessedSeries]> = vec![toy(20, vec![0..20], splits)].into();
        let w = WindowSet::for_role(data, Role::Train, 2, 1, 1);
        let mut b = Batch::default();
        w.fill_batch(&[3, 0], &mut b);
        assert_eq!(
            b.past_values,
            vec![3.0, 103.0, 4.0, 104.0, 0.0, 100.0, 1.0, 101.0]
        );
        assert_eq!(b.future_values, vec![5.0, 105.0, 2.0, 102.0]);
        assert_eq!(b.origin_timestamp, vec![5 * 3600, 2 * 3600]);
        assert_eq!(b.series_index, vec![0, 0]);
        assert_eq!(w.raw_future_target(3), &[5.0]);
        let ptr = b.past_values.as_ptr();
        w.fill_batch(&[1, 2], &mut b);
        assert_eq!(ptr, b.past_values.as_ptr());
        assert_eq!(
            b.past_values,
            vec![1.0, 101.0, 2.0, 102.0, 2.0, 102.0, 3.0, 103.0]
        );
    }

    #[test]
    fn anchored_at_time_of_day() {
        // hourly for 3 days: context 4 ends at 00:00 (index 24 and 48), horizon 8.
        let splits = SplitRanges {
            train: 0..72,
            val: 72..72,
            test: 72..72,
        };
        let data: Arc<[ProcessedSeries]> = vec![toy(72, vec![0..72], splits)].into();
        let w = WindowSet::anchored(data.clone(), None, 0, 4, 8);
        assert_eq!(w.windows(), &[(0, 21), (0, 45)]);
        let mut b = Batch::default();
        w.fill_batch(&[0], &mut b);
        assert_eq!(b.origin_timestamp, vec![25 * 3600]);
        assert!(WindowSet::anchored(data, Some(Role::Test), 0, 4, 8).is_empty());
    }
}
