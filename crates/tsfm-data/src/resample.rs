//! Putting a series sampled at another interval onto a `resolution_min` grid.
//!
//! The new grid starts at the series' first timestamp and steps by the new interval up to its
//! last one. Each channel is resampled by what it measures ([`ChannelKind`]):
//!
//! * **Readings** (the target, i.e. the first channel, and channels without a built-in
//!   imputation, e.g. a second glucose column): instantaneous samples. The value at a new slot
//!   is the linear interpolation between the two readings of the series' own grid around it,
//!   and only when those two are consecutive (a gap of one own interval); across a longer gap
//!   it stays missing, so the pipeline's own gap policy decides. A slot on an own-grid time
//!   takes that reading as it is. Down-sampling therefore takes the reading at the slot time,
//!   not the mean of the slot: a CGM value is a sample, a mean would smooth it and shift it by
//!   half a slot, and the model is scored against readings.
//! * **Events** (channels whose built-in imputation is zero: `insulin`, `carbs`, `steps`):
//!   amounts. Each raw record goes into the new slot that contains its own timestamp, slot `j`
//!   holding `[t0 + j·R, t0 + (j+1)·R)`, and a slot sums what lands in it (missing when
//!   nothing does), so a dose at 10:07 counts once, at 10:05, and totals are kept.
//! * **Levels** (`hr`, `cals`, `activity` and names containing `basal`): states that hold until
//!   the next record. A new slot takes the own-grid value whose interval contains it, i.e. it is
//!   carried forward within the original interval and no further.

use crate::error::{DataError, Result};
use crate::grid::regularize;
use crate::impute::{Imputation, default_for_channel};
use crate::series::{Channel, Series};

/// How a channel is resampled (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelKind {
    Reading,
    Event,
    Level,
}

/// The kind of channel number `index` named `name` (index 0 is the target).
pub fn channel_kind(index: usize, name: &str) -> ChannelKind {
    if index == 0 {
        return ChannelKind::Reading;
    }
    match default_for_channel(name) {
        Some(Imputation::Zero) => ChannelKind::Event,
        Some(_) => ChannelKind::Level,
        None if name.contains("basal") => ChannelKind::Level,
        None => ChannelKind::Reading,
    }
}

/// `series` on a regular grid of `minutes`, by the rules in the module docs. A series with fewer
/// than two rows is returned as it is (it has no interval; the pipeline skips it).
pub fn resample(series: &Series, minutes: u32) -> Result<Series> {
    if series.len() < 2 {
        return Ok(series.clone());
    }
    let own = regularize(series)
        .map_err(|e| DataError::options("resolution_min", format!("cannot resample: {e}")))?;
    let t0 = series.timestamps[0];
    let step = minutes as i64 * 60;
    let n = ((series.timestamps[series.len() - 1] - t0) / step) as usize + 1;
    let timestamps: Vec<i64> = (0..n as i64).map(|j| t0 + j * step).collect();
    let own_step = own.interval_min as i64 * 60;
    let channels = series
        .channels
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let own_values = &own.channels[i].values;
            let values = match channel_kind(i, &c.name) {
                ChannelKind::Event => sum_into_slots(&series.timestamps, &c.values, t0, step, n),
                ChannelKind::Level => timestamps
                    .iter()
                    .map(|&t| at_own(own_values, ((t - t0) / own_step) as usize))
                    .collect(),
                ChannelKind::Reading => timestamps
                    .iter()
                    .map(|&t| interpolate(own_values, t - t0, own_step))
                    .collect(),
            };
            Channel {
                name: c.name.clone(),
                values,
            }
        })
        .collect();
    Ok(Series {
        id: series.id.clone(),
        timestamps,
        interval_min: minutes,
        channels,
        unit: series.unit.clone(),
    })
}

fn at_own(values: &[f64], k: usize) -> f64 {
    values.get(k).copied().unwrap_or(f64::NAN)
}

/// The reading `offset` seconds after the own grid's start: exact on an own-grid time, else
/// linear between the two consecutive own-grid readings around it, else NaN.
fn interpolate(values: &[f64], offset: i64, own_step: i64) -> f64 {
    let (k, rest) = ((offset / own_step) as usize, offset % own_step);
    if rest == 0 {
        return at_own(values, k);
    }
    let (a, b) = (at_own(values, k), at_own(values, k + 1));
    // NaN on either side propagates: no interpolation across a missing reading.
    a + (b - a) * rest as f64 / own_step as f64
}

/// Sums each record into the slot of `step` seconds from `t0` that contains it.
fn sum_into_slots(ts: &[i64], values: &[f64], t0: i64, step: i64, n: usize) -> Vec<f64> {
    let mut out = vec![f64::NAN; n];
    for (&t, &v) in ts.iter().zip(values) {
        if v.is_nan() {
            continue;
        }
        let slot = &mut out[((t - t0) / step) as usize];
        *slot = if slot.is_nan() { v } else { *slot + v };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_imputation_defaults() {
        assert_eq!(channel_kind(0, "insulin"), ChannelKind::Reading);
        assert_eq!(channel_kind(1, "insulin"), ChannelKind::Event);
        assert_eq!(channel_kind(1, "steps"), ChannelKind::Event);
        assert_eq!(channel_kind(1, "hr"), ChannelKind::Level);
        assert_eq!(channel_kind(1, "cals"), ChannelKind::Level);
        assert_eq!(channel_kind(1, "activity"), ChannelKind::Level);
        assert_eq!(channel_kind(1, "basal_rate"), ChannelKind::Level);
        assert_eq!(channel_kind(1, "bg2"), ChannelKind::Reading);
    }

    #[test]
    fn interpolation_needs_both_neighbours() {
        let v = [1.0, 4.0, f64::NAN, 10.0];
        assert_eq!(interpolate(&v, 300, 900), 2.0);
        assert_eq!(interpolate(&v, 900, 900), 4.0);
        assert!(interpolate(&v, 1200, 900).is_nan());
        assert!(interpolate(&v, 3000, 900).is_nan());
    }
}
