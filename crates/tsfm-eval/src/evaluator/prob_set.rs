//! Quantile metrics of one evaluation: overall, on nocturnal-episode targets and per horizon,
//! all at one set of levels.

use std::collections::BTreeMap;

use crate::evaluator::QuantileForecast;
use crate::metrics::probabilistic::{ProbabilisticMetrics, QuantileAccumulator, interp_quantile};

pub(super) struct ProbSet {
    /// Evaluation levels from the options: forecasts are read at these by interpolation.
    fixed: bool,
    /// The levels in use: the fixed ones, or the first forecast's.
    levels: Option<Vec<f64>>,
    threshold: Option<f64>,
    overall: Option<QuantileAccumulator>,
    episode: Option<QuantileAccumulator>,
    at_h: BTreeMap<u32, QuantileAccumulator>,
    skipped: usize,
}

pub(super) struct ProbResults {
    pub overall: Option<ProbabilisticMetrics>,
    pub episode: Option<ProbabilisticMetrics>,
    pub at_h: BTreeMap<u32, ProbabilisticMetrics>,
}

fn column(q: &QuantileForecast, step: usize) -> Vec<f64> {
    q.values
        .iter()
        .map(|l| l.get(step).copied().unwrap_or(f64::NAN))
        .collect()
}

impl ProbSet {
    pub fn new(fixed: Option<Vec<f64>>, threshold: Option<f64>) -> Self {
        Self {
            fixed: fixed.is_some(),
            levels: fixed,
            threshold,
            overall: None,
            episode: None,
            at_h: BTreeMap::new(),
            skipped: 0,
        }
    }

    /// Values `[step][level]` at the set's levels, or `None` when the window cannot be scored
    /// (other levels without fixed ones, or fixed levels outside the forecast's range).
    fn columns(&mut self, q: &QuantileForecast, steps: usize) -> Option<Vec<Vec<f64>>> {
        let levels = self.levels.get_or_insert_with(|| q.levels.clone());
        if !self.fixed {
            return (*levels == q.levels).then(|| (0..steps).map(|s| column(q, s)).collect());
        }
        let ascending = q.levels.windows(2).all(|w| w[0] < w[1]);
        if !ascending || q.levels.len() != q.values.len() {
            return None;
        }
        (0..steps)
            .map(|s| {
                let col = column(q, s);
                if col.iter().any(|v| !v.is_finite()) {
                    // The accumulators skip targets with missing quantiles.
                    return Some(vec![f64::NAN; levels.len()]);
                }
                levels
                    .iter()
                    .map(|&t| interp_quantile(&q.levels, &col, t))
                    .collect()
            })
            .collect()
    }

    fn acc<'a>(
        slot: &'a mut Option<QuantileAccumulator>,
        levels: &[f64],
        threshold: Option<f64>,
    ) -> &'a mut QuantileAccumulator {
        slot.get_or_insert_with(|| QuantileAccumulator::new(levels, threshold))
    }

    /// `episode_len` leading steps are nocturnal-episode targets; `hz[s]` lists the named
    /// horizons (minutes) that fall on step s.
    pub fn push_window(
        &mut self,
        truth: &[f64],
        q: &QuantileForecast,
        episode_len: usize,
        hz: &[Vec<u32>],
    ) {
        let Some(cols) = self.columns(q, truth.len()) else {
            self.skipped += 1;
            return;
        };
        let levels = self.levels.clone().unwrap_or_default();
        let t = self.threshold;
        for (s, (&y, v)) in truth.iter().zip(&cols).enumerate() {
            Self::acc(&mut self.overall, &levels, t).push(y, v);
            if s < episode_len {
                Self::acc(&mut self.episode, &levels, t).push(y, v);
            }
            for &m in &hz[s] {
                self.at_h
                    .entry(m)
                    .or_insert_with(|| QuantileAccumulator::new(&levels, t))
                    .push(y, v);
            }
        }
    }

    pub fn finish(self) -> ProbResults {
        let skipped = self.skipped;
        let done = |mut a: QuantileAccumulator| {
            a.skipped_windows = skipped;
            a.finish()
        };
        // With every window skipped there is still a record of why (levels, skipped count).
        let overall = match (self.overall, &self.levels) {
            (Some(a), _) => Some(done(a)),
            (None, Some(l)) if skipped > 0 => {
                Some(done(QuantileAccumulator::new(l, self.threshold)))
            }
            _ => None,
        };
        ProbResults {
            overall,
            episode: self.episode.map(done),
            at_h: self.at_h.into_iter().map(|(m, a)| (m, done(a))).collect(),
        }
    }
}
