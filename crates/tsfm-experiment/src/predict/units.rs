//! The glucose unit of a `predict --run` input. A run that forecasts glucose works in mmol/L
//! (its data were converted on reading); an input in mg/dL would be read as values 18 times
//! too high and forecast as nonsense, so it is refused unless its unit is stated (`--unit`),
//! in which case it is converted on reading and the forecasts are given back in that unit.
use std::path::Path;

use tsfm_config::{Config, DataSource};
use tsfm_data::MGDL_PER_MMOLL;
use tsfm_data::Series;
use tsfm_data::units::{GlucoseUnit, MGDL_MEDIAN_MIN, MMOL_MEDIAN_MAX, median};

use super::output::SeriesForecast;
use crate::error::{Result, user};

/// Whether the run's target is glucose: a glucose source, or a CSV/Parquet run with a glucose
/// `data.unit`.
pub fn forecasts_glucose(config: &Config) -> bool {
    matches!(config.data.source, DataSource::BrisT1d | DataSource::Aleppo)
        || config.data.unit.is_some()
}

/// Checks (or, with `stated`, converts) the target channel `target` of `series` to mmol/L.
/// Returns the unit the forecasts go back in (`None`: the run is not about glucose).
pub fn to_run_units(
    path: &Path,
    target: &str,
    series: &mut [Series],
    glucose: bool,
    stated: Option<GlucoseUnit>,
) -> Result<Option<GlucoseUnit>> {
    if !glucose {
        return match stated {
            Some(u) => Err(user(format!(
                "--unit {}: this run's target `{target}` is not glucose, so there is no unit to \
                 convert; drop --unit",
                u.label()
            ))),
            None => Ok(None),
        };
    }
    let values = || {
        series.iter().flat_map(|s| {
            s.channels
                .iter()
                .filter(|c| c.name == target)
                .flat_map(|c| c.values.iter().copied())
        })
    };
    let unit = stated.unwrap_or(GlucoseUnit::MmolL);
    if let Some(m) = median(values()) {
        let (wrong, looks_like) = match unit {
            GlucoseUnit::MmolL => (m > MMOL_MEDIAN_MAX, GlucoseUnit::MgDl),
            GlucoseUnit::MgDl => (m < MGDL_MEDIAN_MIN, GlucoseUnit::MmolL),
        };
        if wrong {
            let given = if stated.is_some() {
                format!("--unit {} was given", unit.label())
            } else {
                "this run forecasts glucose in mmol/L".to_string()
            };
            return Err(user(format!(
                "{}: `{target}` has median {m:.1}, which looks like {}, but {given}; state the \
                 file's unit with --unit {} (values are converted on reading and the forecasts \
                 given back in that unit), or convert the file",
                path.display(),
                looks_like.label(),
                looks_like.label()
            )));
        }
    }
    if unit == GlucoseUnit::MgDl {
        for s in series.iter_mut() {
            for c in s.channels.iter_mut().filter(|c| c.name == target) {
                for v in &mut c.values {
                    *v /= MGDL_PER_MMOLL;
                }
            }
        }
    }
    Ok(Some(unit))
}

/// Gives forecasts (every column is the target's: point and quantiles) back in `unit`.
pub fn from_run_units(forecasts: &mut [SeriesForecast], unit: Option<GlucoseUnit>) {
    if unit == Some(GlucoseUnit::MgDl) {
        for f in forecasts {
            for column in &mut f.columns {
                for v in column.iter_mut() {
                    *v = (*v as f64 * MGDL_PER_MMOLL) as f32;
                }
            }
        }
    }
}
