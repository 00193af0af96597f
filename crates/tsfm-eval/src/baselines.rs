//! Reference forecasts computed on the same windows as the model.
//!
//! * Persistence: the last observed (non-NaN) context value for every step.
//! * Seasonal naive (24 h): the context value one season before each target, i.e. context index
//!   `len − 1 + h − season_steps` for step h (1-based). Steps whose value lies outside the context
//!   or is missing are NaN (unavailable), never filled.
//! * Linear extrapolation: ordinary least squares line through the observed values among the last
//!   `k` context positions (k = 6 by default: 30 min at 5-min sampling), evaluated at
//!   `len − 1 + h`. With one observed point it is persistence; with none it is NaN.

/// Default number of points of the linear-extrapolation fit.
pub const LINEAR_K: usize = 6;

pub fn persistence(context: &[f64], horizon: usize) -> Vec<f64> {
    let last = context
        .iter()
        .rev()
        .copied()
        .find(|v| v.is_finite())
        .unwrap_or(f64::NAN);
    vec![last; horizon]
}

/// `season_min` minutes (1440 for 24 h) at `interval_min` sampling.
pub fn seasonal_naive(
    context: &[f64],
    horizon: usize,
    interval_min: u32,
    season_min: u32,
) -> Vec<f64> {
    let season = (season_min / interval_min.max(1)) as usize;
    let n = context.len();
    (1..=horizon)
        .map(|h| {
            (n + h - 1)
                .checked_sub(season)
                .filter(|&i| i < n)
                .map_or(f64::NAN, |i| context[i])
        })
        .collect()
}

pub fn linear_extrapolation(context: &[f64], horizon: usize, k: usize) -> Vec<f64> {
    let n = context.len();
    let pts: Vec<(f64, f64)> = (n.saturating_sub(k)..n)
        .filter(|&i| context[i].is_finite())
        .map(|i| (i as f64, context[i]))
        .collect();
    if pts.is_empty() {
        return vec![f64::NAN; horizon];
    }
    let m = pts.len() as f64;
    let mx = pts.iter().map(|p| p.0).sum::<f64>() / m;
    let my = pts.iter().map(|p| p.1).sum::<f64>() / m;
    let sxx: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    (1..=horizon)
        .map(|h| my + slope * ((n - 1 + h) as f64 - mx))
        .collect()
}
