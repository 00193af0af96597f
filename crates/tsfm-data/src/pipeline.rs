//! The preprocessing pipeline: grid -> gaps -> imputation -> split -> scale -> windows.

use crate::calendar::Calendar;
use crate::features::{CARBS, CARBS_TMAX_MIN, INSULIN_TMAX_MIN, derivation, derive};
use crate::gaps::{DEFAULT_MAX_GAP_MINUTES, interpolate_short_gaps, segments};
use crate::grid::{modal_interval, regularize};
use crate::impute::{Imputation, default_for_channel, impute, observed_mask};
use crate::preprocess_error::PreprocessError;
use crate::scaler::{Scaler, ScalingMethod, ScalingScope};
use crate::series::Series;
use crate::split::{MIN_VALIDATION_WINDOWS, Role, SplitSpec};
use crate::window::{NO_READING, ProcessedSeries, WindowSet};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineOptions {
    /// Forecast target channel (e.g. `bg`).
    pub target: String,
    /// Covariate channels after the target, in this order (the experiment lists the past-only
    /// ones, then the known-future ones). `iob` / `insulin_availability` / `cob` are derived
    /// from `insulin` / `carbs` (see [`crate::features`]) when the data lacks them.
    pub past_covariates: Vec<String>,
    /// Longest target gap filled by linear interpolation: missing steps × interval ≤ this.
    /// Longer gaps split the series into segments. A window whose context ends inside such a
    /// gap sees the last reading carried forward instead (see [`crate::window`]).
    pub max_gap_minutes: u32,
    /// Imputation per covariate column; a column not listed here uses its channel's built-in
    /// default ([`crate::impute::default_for_channel`]: insulin/carbs/steps zero, hr/cals
    /// forward fill, activity -1), and any other column `default_imputation`. No strategy
    /// lets a window see readings after its last context step (see [`Imputation`]).
    pub imputation: BTreeMap<String, Imputation>,
    pub default_imputation: Imputation,
    pub scaling: ScalingMethod,
    pub scaling_scope: ScalingScope,
    pub split: SplitSpec,
    pub context_length: usize,
    pub horizon: usize,
    /// Step between consecutive window origins (all splits).
    pub stride: usize,
    /// Hour-of-day sin/cos as known-future covariates.
    pub calendar: bool,
    /// Day-of-week sin/cos after the hour-of-day pair (needs `calendar`; see
    /// [`crate::calendar`]). Meaningful only for data with real dates.
    pub day_of_week: bool,
    /// Time-to-peak (minutes) of the insulin absorption model behind a derived `iob` or
    /// `insulin_availability`
    /// ([`crate::features`]); default Hovorka's 55.
    pub insulin_tmax_minutes: f64,
    /// Time-to-peak (minutes) of the carbohydrate absorption model behind a derived `cob`;
    /// default Hovorka's 40.
    pub carbs_tmax_minutes: f64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            target: "bg".into(),
            past_covariates: Vec::new(),
            max_gap_minutes: DEFAULT_MAX_GAP_MINUTES,
            imputation: BTreeMap::new(),
            default_imputation: Imputation::Linear,
            scaling: ScalingMethod::Standard,
            scaling_scope: ScalingScope::Global,
            split: SplitSpec::default(),
            context_length: 512,
            horizon: 96,
            stride: 1,
            calendar: true,
            day_of_week: false,
            insulin_tmax_minutes: INSULIN_TMAX_MIN,
            carbs_tmax_minutes: CARBS_TMAX_MIN,
        }
    }
}

impl PipelineOptions {
    /// The calendar features these options add per step.
    pub fn calendar_features(&self) -> Calendar {
        Calendar {
            hour_of_day: self.calendar,
            day_of_week: self.day_of_week,
        }
    }

    /// `(source channel, time-to-peak minutes)` when `name` is a derivable feature, with the
    /// time-to-peak from these options (see [`crate::features::derivation`]).
    pub fn derivation(&self, name: &str) -> Option<(&'static str, f64)> {
        derivation(name).map(|(src, _)| {
            let tmax = match src {
                CARBS => self.carbs_tmax_minutes,
                _ => self.insulin_tmax_minutes,
            };
            (src, tmax)
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineReport {
    pub series: usize,
    /// Series with fewer than two readings (no interval), left out.
    pub series_skipped: usize,
    pub input_rows: usize,
    /// Rows on the regular grid.
    pub rows: usize,
    pub gaps_interpolated: usize,
    pub segments_kept: usize,
    /// Segments shorter than context_length + horizon.
    pub segments_dropped: usize,
    pub windows_train: usize,
    pub windows_val: usize,
    pub windows_test: usize,
}

#[derive(Debug, Clone)]
pub struct Prepared {
    pub series: Arc<[ProcessedSeries]>,
    pub scaler: Scaler,
    pub train: WindowSet,
    pub val: WindowSet,
    pub test: WindowSet,
    pub report: PipelineReport,
}

impl Prepared {
    /// Errors when validation windows are needed (early stopping / best-model selection) but
    /// the validation split is empty or tiny.
    pub fn require_validation(&self, needed: bool) -> Result<(), PreprocessError> {
        if needed && self.val.len() < MIN_VALIDATION_WINDOWS {
            return Err(PreprocessError::ValidationTooSmall {
                windows: self.val.len(),
                minimum: MIN_VALIDATION_WINDOWS,
            });
        }
        Ok(())
    }

    /// Windows whose context ends at a local time of day (see [`WindowSet::anchored`]).
    pub fn anchored(
        &self,
        role: Option<Role>,
        time_of_day_seconds: i64,
        context: usize,
        horizon: usize,
    ) -> WindowSet {
        WindowSet::anchored(
            self.series.clone(),
            role,
            time_of_day_seconds,
            context,
            horizon,
        )
    }

    /// Scaled target values of series `series_index` back to data units, in place.
    pub fn unscale_target(&self, series_index: usize, values: &mut [f32]) {
        let a = self.scaler.affine(&self.series[series_index].id, 0);
        values
            .iter_mut()
            .for_each(|v| *v = a.invert(*v as f64) as f32);
    }
}

/// Runs the pipeline and fits a new scaler on the training range.
pub fn run(series: Vec<Series>, opts: &PipelineOptions) -> Result<Prepared, PreprocessError> {
    let prepared = run_inner(series, opts, None)?;
    if prepared.train.is_empty() {
        return Err(PreprocessError::NoTrainingWindows {
            needed: opts.context_length + opts.horizon,
        });
    }
    Ok(prepared)
}

/// Runs the pipeline with an already fitted scaler (evaluation / prediction of a saved model).
pub fn run_with_scaler(
    series: Vec<Series>,
    opts: &PipelineOptions,
    scaler: Scaler,
) -> Result<Prepared, PreprocessError> {
    run_inner(series, opts, Some(scaler))
}

fn check_options(opts: &PipelineOptions) -> Result<(), PreprocessError> {
    for (option, v) in [
        ("context_length", opts.context_length),
        ("horizon", opts.horizon),
        ("stride", opts.stride),
    ] {
        if v == 0 {
            return Err(PreprocessError::BadOption {
                option,
                message: "must be at least 1".into(),
            });
        }
    }
    for (option, v) in [
        ("insulin_tmax_minutes", opts.insulin_tmax_minutes),
        ("carbs_tmax_minutes", opts.carbs_tmax_minutes),
    ] {
        if !(v > 0.0 && v.is_finite()) {
            return Err(PreprocessError::BadOption {
                option,
                message: format!("must be a positive number of minutes, not {v}"),
            });
        }
    }
    if opts.day_of_week && !opts.calendar {
        return Err(PreprocessError::BadOption {
            option: "day_of_week",
            message: "is an addition to the hour-of-day calendar features; turn `calendar` on too"
                .into(),
        });
    }
    opts.split.validate()
}

/// One series before scaling: channel values in data units plus masks.
struct Staged {
    grid: Series,
    /// Per channel (target first): values before imputation (for fitting), and after target
    /// gap interpolation (covariates are imputed later, once the training means are known).
    raw: Vec<Vec<f64>>,
    filled: Vec<Vec<f64>>,
    masks: Vec<Vec<f32>>,
    segments: Vec<std::ops::Range<usize>>,
    splits: crate::split::SplitRanges,
}

/// Errors unless series `s` has every channel in `names` (target first); a covariate that
/// can be derived from a channel the series has (`iob` from `insulin`, ...) counts as present.
fn check_channels_present(s: &Series, names: &[&String]) -> Result<(), PreprocessError> {
    for (i, name) in names.iter().enumerate() {
        let derivable = i > 0 && derivation(name).is_some_and(|(src, _)| s.channel(src).is_some());
        if s.channel(name).is_none() && !derivable {
            return Err(if i == 0 {
                PreprocessError::MissingTarget {
                    series: s.id.clone(),
                    column: (*name).clone(),
                    available: s
                        .channels
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                }
            } else {
                PreprocessError::MissingCovariate {
                    series: s.id.clone(),
                    column: (*name).clone(),
                }
            });
        }
    }
    Ok(())
}

/// IOB/COB/insulin availability requested but not in the data: derives them from
/// insulin/carbs on the grid (`interval` in seconds), appending them as channels. Done after
/// regularizing so the absorption model sees evenly spaced doses.
fn derive_on_board(grid: &mut Series, opts: &PipelineOptions, interval: i64) {
    for name in &opts.past_covariates {
        if grid.channel(name).is_none()
            && let Some((src, tmax)) = opts.derivation(name)
        {
            let doses = &grid.channel(src).expect("checked above").values;
            let values = derive(name, doses, interval as f64 / 60.0, tmax);
            grid.channels.push(crate::series::Channel {
                name: name.clone(),
                values,
            });
        }
    }
}

fn stage(
    s: &Series,
    opts: &PipelineOptions,
    report: &mut PipelineReport,
) -> Result<Staged, PreprocessError> {
    let names: Vec<&String> = std::iter::once(&opts.target)
        .chain(&opts.past_covariates)
        .collect();
    check_channels_present(s, &names)?;
    let mut grid = regularize(s)?;
    let interval = modal_interval(&grid.timestamps).expect("grid has an interval");
    derive_on_board(&mut grid, opts, interval);
    let max_gap_steps = (opts.max_gap_minutes as i64 * 60 / interval) as usize;
    let mut raw = Vec::new();
    let mut filled = Vec::new();
    let mut masks = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let mut v = grid.channel(name).expect("checked above").values.clone();
        masks.push(observed_mask(&v));
        raw.push(v.clone());
        if i == 0 {
            report.gaps_interpolated += interpolate_short_gaps(&mut v, max_gap_steps);
        }
        filled.push(v);
    }
    let (segs, dropped) = segments(&filled[0], opts.context_length + opts.horizon);
    report.segments_kept += segs.len();
    report.segments_dropped += dropped;
    let splits = opts.split.assign(&grid.id, &grid.timestamps, &segs);
    Ok(Staged {
        grid,
        raw,
        filled,
        masks,
        segments: segs,
        splits,
    })
}

/// The imputation of covariate `name` under `opts`.
fn strategy(opts: &PipelineOptions, name: &str) -> Imputation {
    opts.imputation
        .get(name)
        .copied()
        .or_else(|| default_for_channel(name))
        .unwrap_or(opts.default_imputation)
}

/// Per series and channel, the mean of the observations in the series' training range; where a
/// series has none (a held-out patient), the mean over every series' training observations;
/// where nobody has any, 0. Only training data, so val/test readings never reach a fill.
fn training_means(staged: &[Staged], channels: usize) -> Vec<Vec<f64>> {
    let stats = |st: &Staged, c: usize| {
        st.raw[c][st.splits.train.clone()]
            .iter()
            .filter(|v| !v.is_nan())
            .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1))
    };
    let global: Vec<f64> = (0..channels)
        .map(|c| {
            let (s, n) = staged
                .iter()
                .map(|st| stats(st, c))
                .fold((0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
            if n == 0 { 0.0 } else { s / n as f64 }
        })
        .collect();
    staged
        .iter()
        .map(|st| {
            (0..channels)
                .map(|c| match stats(st, c) {
                    (_, 0) => global[c],
                    (s, n) => s / n as f64,
                })
                .collect()
        })
        .collect()
}

/// Imputes the covariates of every staged series (the target keeps its gap interpolation).
fn impute_covariates(staged: &mut [Staged], opts: &PipelineOptions, names: &[String]) {
    let means = training_means(staged, names.len());
    for (st, means) in staged.iter_mut().zip(means) {
        for (c, name) in names.iter().enumerate().skip(1) {
            impute(&mut st.filled[c], strategy(opts, name), means[c]);
        }
    }
}

/// For each step and channel (`[len, channels]`), the index of the last observed value at or
/// before that step, [`NO_READING`] before the first one.
fn last_observed(masks: &[Vec<f32>]) -> Vec<u32> {
    let (n, ch) = (masks.first().map_or(0, Vec::len), masks.len());
    let mut out = vec![NO_READING; n * ch];
    for (c, mask) in masks.iter().enumerate() {
        let mut last = NO_READING;
        for (t, &m) in mask.iter().enumerate() {
            if m > 0.0 {
                last = t as u32;
            }
            out[t * ch + c] = last;
        }
    }
    out
}

fn run_inner(
    series: Vec<Series>,
    opts: &PipelineOptions,
    scaler: Option<Scaler>,
) -> Result<Prepared, PreprocessError> {
    check_options(opts)?;
    let mut report = PipelineReport::default();
    let mut staged = stage_all(&series, opts, &mut report)?;
    let names = channel_names(opts);
    impute_covariates(&mut staged, opts, &names);
    let carry_forward = carry_forward_flags(opts, &names);
    let scaler = match scaler {
        Some(s) => check_scaler_channels(s, &names)?,
        None => fit_scaler(&staged, opts, &names),
    };
    let calendar = opts.calendar_features();
    let processed: Vec<ProcessedSeries> = staged
        .into_iter()
        .map(|st| {
            report.rows += st.grid.len();
            scale_series(st, &names, &scaler, calendar, &carry_forward)
        })
        .collect();
    let data: Arc<[ProcessedSeries]> = processed.into();
    let (train, val, test) = windows_per_role(&data, opts);
    report.windows_train = train.len();
    report.windows_val = val.len();
    report.windows_test = test.len();
    Ok(Prepared {
        series: data,
        scaler,
        train,
        val,
        test,
        report,
    })
}

/// Stages every series with at least two readings (fewer give no interval: counted as
/// skipped), counting input rows over all of them.
fn stage_all(
    series: &[Series],
    opts: &PipelineOptions,
    report: &mut PipelineReport,
) -> Result<Vec<Staged>, PreprocessError> {
    let mut staged = Vec::new();
    for s in series {
        report.input_rows += s.len();
        if s.len() < 2 {
            report.series_skipped += 1;
            continue;
        }
        staged.push(stage(s, opts, report)?);
    }
    report.series = staged.len();
    Ok(staged)
}

/// The model's channels: the target first, then the past covariates in option order.
fn channel_names(opts: &PipelineOptions) -> Vec<String> {
    std::iter::once(opts.target.clone())
        .chain(opts.past_covariates.iter().cloned())
        .collect()
}

/// Per channel, whether a window whose context ends inside a gap carries the last reading
/// forward. The target and `linear` covariates interpolate towards later readings, so a
/// window must not see those fills.
fn carry_forward_flags(opts: &PipelineOptions, names: &[String]) -> Vec<bool> {
    std::iter::once(true)
        .chain(names[1..].iter().map(|n| strategy(opts, n).looks_ahead()))
        .collect()
}

/// A saved scaler can only be reused when it knows every channel these options ask for.
fn check_scaler_channels(scaler: Scaler, names: &[String]) -> Result<Scaler, PreprocessError> {
    for n in names {
        scaler.channel_index(n)?;
    }
    Ok(scaler)
}

/// Fits a new scaler. Only the training range of each series (observed values) influences
/// the fit, so validation and test data never leak into the scaling.
fn fit_scaler(staged: &[Staged], opts: &PipelineOptions, names: &[String]) -> Scaler {
    let data: Vec<(&str, Vec<&[f64]>)> = staged
        .iter()
        .map(|st| {
            let r = st.splits.train.clone();
            (
                st.grid.id.as_str(),
                st.raw.iter().map(|v| &v[r.clone()]).collect(),
            )
        })
        .collect();
    Scaler::fit(opts.scaling, opts.scaling_scope, names.to_vec(), &data)
}

/// Turns one staged series into the model's form: scaled values and observed masks
/// (`[len, channels]`, missing values as 0), calendar features, and the bookkeeping windows
/// need (raw target, last observation per step, carry-forward flags).
fn scale_series(
    st: Staged,
    names: &[String],
    scaler: &Scaler,
    calendar: Calendar,
    carry_forward: &[bool],
) -> ProcessedSeries {
    let n_future = calendar.n_features();
    let (values, observed) = scaled_values(&st, names, scaler);
    let mut future = Vec::with_capacity(st.grid.len() * n_future);
    for &t in &st.grid.timestamps {
        calendar.push(t, &mut future);
    }
    let last_observed = last_observed(&st.masks);
    let mut filled = st.filled;
    ProcessedSeries {
        id: st.grid.id,
        unit: st.grid.unit,
        interval_min: st.grid.interval_min,
        timestamps: st.grid.timestamps,
        channel_names: names.to_vec(),
        values,
        observed,
        future,
        n_future,
        raw_target: filled.swap_remove(0),
        last_observed,
        carry_forward: carry_forward.to_vec(),
        segments: st.segments,
        splits: st.splits,
    }
}

/// Scaled values and observed masks of a staged series, step-major (`[len, channels]`).
/// Values still missing after imputation become 0; the mask tells the model they were not
/// observed.
fn scaled_values(st: &Staged, names: &[String], scaler: &Scaler) -> (Vec<f32>, Vec<f32>) {
    let n = st.grid.len();
    let ch = names.len();
    let mut values = vec![0.0f32; n * ch];
    let mut observed = vec![0.0f32; n * ch];
    for (c, name) in names.iter().enumerate() {
        let a = scaler.affine(&st.grid.id, scaler.channel_index(name).expect("checked"));
        for t in 0..n {
            let x = st.filled[c][t];
            values[t * ch + c] = if x.is_nan() { 0.0 } else { a.apply(x) as f32 };
            observed[t * ch + c] = st.masks[c][t];
        }
    }
    (values, observed)
}

/// The train, validation and test windows over the processed series.
fn windows_per_role(
    data: &Arc<[ProcessedSeries]>,
    opts: &PipelineOptions,
) -> (WindowSet, WindowSet, WindowSet) {
    let (c, h, stride) = (opts.context_length, opts.horizon, opts.stride);
    let train = WindowSet::for_role(data.clone(), Role::Train, c, h, stride);
    let val = WindowSet::for_role(data.clone(), Role::Val, c, h, stride);
    let test = WindowSet::for_role(data.clone(), Role::Test, c, h, stride);
    (train, val, test)
}
