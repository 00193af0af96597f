//! Scaling fitted on the training time range only, saved next to the model as `scaler.json`.
//!
//! Every channel gets an affine map `scaled = (x - offset) / scale`. Standard uses the mean and
//! population standard deviation (as scikit-learn's `StandardScaler`, which granite-tsfm uses);
//! min-max maps the training range onto [0, 1]. NaN is ignored when fitting. A constant column
//! gets scale 1. With per-series scope, a series with no training data (a held-out patient)
//! falls back to the global statistics, which are always fitted too.

use crate::preprocess_error::PreprocessError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingMethod {
    #[default]
    Standard,
    MinMax,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScalingScope {
    #[default]
    Global,
    PerSeries,
}

/// `scaled = (x - offset) / scale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Affine {
    pub offset: f64,
    pub scale: f64,
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        offset: 0.0,
        scale: 1.0,
    };

    pub fn apply(&self, x: f64) -> f64 {
        (x - self.offset) / self.scale
    }

    pub fn invert(&self, y: f64) -> f64 {
        y * self.scale + self.offset
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scaler {
    pub method: ScalingMethod,
    pub scope: ScalingScope,
    /// Channel names, in the order of the `Affine` vectors.
    pub channels: Vec<String>,
    pub global: Vec<Affine>,
    /// Only filled with per-series scope; keyed by series id.
    pub per_series: BTreeMap<String, Vec<Affine>>,
}

fn fit_one(method: ScalingMethod, chunks: &[&[f64]]) -> Affine {
    let vals = || {
        chunks
            .iter()
            .flat_map(|c| c.iter().copied())
            .filter(|v| !v.is_nan())
    };
    let n = vals().count();
    if n == 0 || method == ScalingMethod::None {
        return Affine::IDENTITY;
    }
    let (offset, spread) = match method {
        ScalingMethod::Standard => {
            let mean = vals().sum::<f64>() / n as f64;
            let var = vals().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
            (mean, var.sqrt())
        }
        ScalingMethod::MinMax => {
            let min = vals().fold(f64::INFINITY, f64::min);
            let max = vals().fold(f64::NEG_INFINITY, f64::max);
            (min, max - min)
        }
        ScalingMethod::None => unreachable!("handled above"),
    };
    let scale = if spread > 0.0 && spread.is_finite() {
        spread
    } else {
        1.0
    };
    Affine { offset, scale }
}

impl Scaler {
    /// Fits on `data`: per series `(id, per-channel training values)`, channels in the order of
    /// `channels`. Pass only training-range values: nothing else may influence the fit.
    pub fn fit(
        method: ScalingMethod,
        scope: ScalingScope,
        channels: Vec<String>,
        data: &[(&str, Vec<&[f64]>)],
    ) -> Scaler {
        let global = (0..channels.len())
            .map(|c| {
                let chunks: Vec<&[f64]> = data.iter().map(|(_, ch)| ch[c]).collect();
                fit_one(method, &chunks)
            })
            .collect();
        let mut per_series = BTreeMap::new();
        if scope == ScalingScope::PerSeries {
            for (id, ch) in data {
                if ch.iter().all(|c| c.iter().all(|v| v.is_nan())) {
                    continue; // no training data: falls back to global
                }
                let stats = ch.iter().map(|c| fit_one(method, &[c])).collect();
                per_series.insert((*id).to_string(), stats);
            }
        }
        Scaler {
            method,
            scope,
            channels,
            global,
            per_series,
        }
    }

    pub fn channel_index(&self, channel: &str) -> Result<usize, PreprocessError> {
        self.channels
            .iter()
            .position(|c| c == channel)
            .ok_or_else(|| PreprocessError::UnknownChannel {
                channel: channel.to_string(),
            })
    }

    /// The map used for `series_id`'s channel number `channel`.
    pub fn affine(&self, series_id: &str, channel: usize) -> Affine {
        self.per_series
            .get(series_id)
            .map(|s| s[channel])
            .unwrap_or(self.global[channel])
    }

    pub fn transform(
        &self,
        series_id: &str,
        channel: &str,
        values: &mut [f64],
    ) -> Result<(), PreprocessError> {
        let a = self.affine(series_id, self.channel_index(channel)?);
        values.iter_mut().for_each(|v| *v = a.apply(*v));
        Ok(())
    }

    /// Back to data units (e.g. model forecasts of the target, for metrics in mmol/L).
    pub fn inverse_transform(
        &self,
        series_id: &str,
        channel: &str,
        values: &mut [f32],
    ) -> Result<(), PreprocessError> {
        let a = self.affine(series_id, self.channel_index(channel)?);
        values
            .iter_mut()
            .for_each(|v| *v = a.invert(*v as f64) as f32);
        Ok(())
    }

    /// Writes `scaler.json` atomically and durably (`tsfm_io`: temp file, fsync, rename).
    pub fn save(&self, path: &Path) -> Result<(), PreprocessError> {
        let err = |e: &dyn std::fmt::Display| PreprocessError::ScalerFile {
            path: path.to_path_buf(),
            message: format!("cannot write: {e}"),
        };
        let json = serde_json::to_string_pretty(self).map_err(|e| err(&e))?;
        tsfm_io::write_file(path, json.as_bytes()).map_err(|source| PreprocessError::ScalerWrite {
            path: path.to_path_buf(),
            source,
        })
    }

    pub fn load(path: &Path) -> Result<Scaler, PreprocessError> {
        let text = std::fs::read_to_string(path).map_err(|e| PreprocessError::ScalerFile {
            path: path.to_path_buf(),
            message: format!("cannot read: {e}; is this the model folder written by training?"),
        })?;
        serde_json::from_str(&text).map_err(|e| PreprocessError::ScalerFile {
            path: path.to_path_buf(),
            message: format!(
                "invalid scaler JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_and_minmax_exact() {
        let x = [1.0, 3.0, f64::NAN, 5.0, 7.0];
        let s = Scaler::fit(
            ScalingMethod::Standard,
            ScalingScope::Global,
            vec!["bg".into()],
            &[("a", vec![&x[..]])],
        );
        assert_eq!(s.global[0].offset, 4.0);
        assert_eq!(s.global[0].scale, 5.0f64.sqrt());
        let m = Scaler::fit(
            ScalingMethod::MinMax,
            ScalingScope::Global,
            vec!["bg".into()],
            &[("a", vec![&x[..]])],
        );
        assert_eq!(
            m.global[0],
            Affine {
                offset: 1.0,
                scale: 6.0
            }
        );
        let c = [2.0, 2.0];
        let k = Scaler::fit(
            ScalingMethod::Standard,
            ScalingScope::Global,
            vec!["bg".into()],
            &[("a", vec![&c[..]])],
        );
        assert_eq!(
            k.global[0],
            Affine {
                offset: 2.0,
                scale: 1.0
            }
        );
    }

    #[test]
    fn per_series_with_global_fallback_and_round_trip() {
        let a = [0.0, 2.0];
        let b = [10.0, 30.0];
        let none = [f64::NAN];
        let s = Scaler::fit(
            ScalingMethod::Standard,
            ScalingScope::PerSeries,
            vec!["bg".into()],
            &[
                ("a", vec![&a[..]]),
                ("b", vec![&b[..]]),
                ("held", vec![&none[..]]),
            ],
        );
        assert_eq!(
            s.affine("a", 0),
            Affine {
                offset: 1.0,
                scale: 1.0
            }
        );
        assert_eq!(
            s.affine("b", 0),
            Affine {
                offset: 20.0,
                scale: 10.0
            }
        );
        assert_eq!(s.affine("held", 0), s.global[0]);
        assert_eq!(s.global[0].offset, 10.5);

        let mut v = vec![10.0, 30.0];
        s.transform("b", "bg", &mut v).unwrap();
        assert_eq!(v, vec![-1.0, 1.0]);
        let mut f: Vec<f32> = v.iter().map(|&x| x as f32).collect();
        s.inverse_transform("b", "bg", &mut f).unwrap();
        assert_eq!(f, vec![10.0, 30.0]);
        assert!(matches!(
            s.transform("b", "hr", &mut v),
            Err(PreprocessError::UnknownChannel { .. })
        ));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("scaler.json");
        s.save(&path).unwrap();
        assert_eq!(Scaler::load(&path).unwrap(), s);
        assert!(!dir.path().join("scaler.json.tmp").exists());
        std::fs::write(&path, "{").unwrap();
        assert!(matches!(
            Scaler::load(&path),
            Err(PreprocessError::ScalerFile { .. })
        ));
    }
}
