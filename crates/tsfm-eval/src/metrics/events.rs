//! Hypoglycaemia event detection and event-level scoring of forecasts.
//!
//! **Events** (GLUCOSE.md §2): an event starts with ≥ `min_minutes` (15) of consecutive observed
//! readings below the threshold, i.e. `ceil(min_minutes / interval)` readings (3 at 5 min). It ends
//! only after ≥ `min_minutes` of consecutive observed readings at or above the threshold, so two
//! qualifying runs separated by a shorter recovery are one event. Gaps (NaN) are never interpolated:
//! a NaN breaks a run below the threshold and does not count towards a recovery.
//!
//! **Matching** (per forecast window, on its horizon only): truth events are labelled on the true
//! trajectory and predicted events on the point forecast. A true event is detected, and a
//! predicted event is a true positive, when their step ranges overlap (share at least one step).
//! Unmatched predicted events are false alarms. Sensitivity = detected true / true events,
//! precision = matched predicted / predicted events, F1 their harmonic mean.
//! **Lead time** of a detected true event = minutes from the forecast origin (last context
//! reading) to the true onset, i.e. (onset step index + 1) · interval; the median is reported.
//! **False alarms per night** = false alarms whose predicted onset lies in 00:00–06:00, divided by
//! the number of night-equivalents evaluated (target readings in 00:00–06:00 × interval / 360 min).

use serde::{Deserialize, Serialize};

/// An event as inclusive step indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    pub start: usize,
    pub end: usize,
}

fn min_readings(interval_min: u32, min_minutes: u32) -> usize {
    (min_minutes.div_ceil(interval_min.max(1)) as usize).max(1)
}

/// Longest run of consecutive observed readings at or above `threshold` in `values`.
fn longest_recovery(values: &[f64], threshold: f64) -> usize {
    let (mut best, mut cur) = (0, 0);
    for &v in values {
        cur = if v.is_finite() && v >= threshold {
            cur + 1
        } else {
            0
        };
        best = best.max(cur);
    }
    best
}

/// Detects events below `threshold` (see the module docs).
pub fn detect_events(
    values: &[f64],
    threshold: f64,
    interval_min: u32,
    min_minutes: u32,
) -> Vec<Event> {
    let need = min_readings(interval_min, min_minutes);
    let mut runs = Vec::new();
    let mut start = None;
    for (i, &v) in values.iter().chain(std::iter::once(&f64::NAN)).enumerate() {
        let below = v.is_finite() && v < threshold;
        match (below, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                if i - s >= need {
                    runs.push(Event {
                        start: s,
                        end: i - 1,
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    let mut events: Vec<Event> = Vec::new();
    for r in runs {
        match events.last_mut() {
            Some(last) if longest_recovery(&values[last.end + 1..r.start], threshold) < need => {
                last.end = r.end;
            }
            _ => events.push(r),
        }
    }
    events
}

/// Which true and which predicted events overlap at least one event of the other side.
pub fn match_events(truth: &[Event], pred: &[Event]) -> (Vec<bool>, Vec<bool>) {
    let overlaps = |a: &Event, b: &Event| a.start <= b.end && b.start <= a.end;
    let t = truth
        .iter()
        .map(|a| pred.iter().any(|b| overlaps(a, b)))
        .collect();
    let p = pred
        .iter()
        .map(|b| truth.iter().any(|a| overlaps(a, b)))
        .collect();
    (t, p)
}

/// Finished event scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventScores {
    pub threshold: f64,
    pub true_events: usize,
    pub predicted_events: usize,
    pub detected_true: usize,
    pub matched_predicted: usize,
    pub false_alarms: usize,
    pub sensitivity: Option<f64>,
    pub precision: Option<f64>,
    pub f1: Option<f64>,
    pub false_alarms_per_night: Option<f64>,
    pub median_lead_time_min: Option<f64>,
}

/// Running event counts over windows.
#[derive(Debug, Clone)]
pub struct EventAccumulator {
    threshold: f64,
    min_minutes: u32,
    true_events: usize,
    pred_events: usize,
    detected: usize,
    matched: usize,
    night_false_alarms: usize,
    night_minutes: f64,
    leads: Vec<f64>,
}

impl EventAccumulator {
    pub fn new(threshold: f64, min_minutes: u32) -> Self {
        Self {
            threshold,
            min_minutes,
            true_events: 0,
            pred_events: 0,
            detected: 0,
            matched: 0,
            night_false_alarms: 0,
            night_minutes: 0.0,
            leads: Vec::new(),
        }
    }

    /// Adds one window: truth and point forecast over the horizon, and for each step whether its
    /// target time lies in the night band.
    pub fn push(&mut self, truth: &[f64], pred: &[f64], night: &[bool], interval_min: u32) {
        let te = detect_events(truth, self.threshold, interval_min, self.min_minutes);
        let pe = detect_events(pred, self.threshold, interval_min, self.min_minutes);
        let (tm, pm) = match_events(&te, &pe);
        self.true_events += te.len();
        self.pred_events += pe.len();
        for (e, &m) in te.iter().zip(&tm) {
            if m {
                self.detected += 1;
                self.leads
                    .push(((e.start + 1) as u32 * interval_min) as f64);
            }
        }
        for (e, &m) in pe.iter().zip(&pm) {
            if m {
                self.matched += 1;
            } else if night.get(e.start).copied().unwrap_or(false) {
                self.night_false_alarms += 1;
            }
        }
        self.night_minutes += night.iter().filter(|n| **n).count() as f64 * interval_min as f64;
    }

    pub fn finish(&self) -> EventScores {
        let frac = |a: usize, b: usize| (b > 0).then(|| a as f64 / b as f64);
        let sensitivity = frac(self.detected, self.true_events);
        let precision = frac(self.matched, self.pred_events);
        let f1 = match (sensitivity, precision) {
            (Some(s), Some(p)) if s + p > 0.0 => Some(2.0 * s * p / (s + p)),
            (Some(_), Some(_)) => Some(0.0),
            _ => None,
        };
        EventScores {
            threshold: self.threshold,
            true_events: self.true_events,
            predicted_events: self.pred_events,
            detected_true: self.detected,
            matched_predicted: self.matched,
            false_alarms: self.pred_events - self.matched,
            sensitivity,
            precision,
            f1,
            false_alarms_per_night: (self.night_minutes > 0.0)
                .then(|| self.night_false_alarms as f64 / (self.night_minutes / 360.0)),
            median_lead_time_min: median(&self.leads),
        }
    }
}

/// Median (mean of the two middle values for an even count).
pub fn median(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    Some(if s.len() % 2 == 1 {
        s[m]
    } else {
        (s[m - 1] + s[m]) / 2.0
    })
}
