//! The JSON of `POST /v1/forecast`, and its checks: every refusal names the field.
//!
//! ```json
//! {"series": [{"id": "p01",
//!              "timestamps": ["2024-01-01T22:50:00", "2024-01-01T22:55:00", ...],
//!              "values": [6.1, 6.0, ..., null, null],
//!              "covariates": {"insulin": [0.05, 0.05, ..., 0.05, 0.05]}}],
//!  "horizon": 12, "quantiles": [0.1, 0.5, 0.9], "unit": "mmol/L"}
//! ```
//! The convention is `tsfm predict`'s, row for row: `values` are the target (null: missing);
//! rows after a series' last value with `values` null are the horizon, and a covariate filled
//! there is known-future. Covariates are read in name order.
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tsfm_data::sources::clock;

use crate::error::ApiError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastRequest {
    pub series: Vec<SeriesIn>,
    /// Steps to forecast; default the model's horizon (or the number of horizon rows given).
    #[serde(default)]
    pub horizon: Option<usize>,
    /// Quantile levels in (0, 1), increasing; default the deciles 0.1 ... 0.9 when the model
    /// gives quantiles.
    #[serde(default)]
    pub quantiles: Option<Vec<f64>>,
    /// The unit of `values` (`mmol/L`, `mg/dL`, ...); must be the model's when it has one.
    #[serde(default)]
    pub unit: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeriesIn {
    pub id: String,
    /// ISO 8601 local times (`2024-01-01T22:50:00`), regular, increasing.
    pub timestamps: Vec<String>,
    pub values: Vec<Option<f64>>,
    #[serde(default)]
    pub covariates: BTreeMap<String, Vec<Option<f64>>>,
}

/// What the server accepts at most.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub max_series: usize,
    pub max_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 4 << 20,
            max_series: 256,
            max_length: 4096,
        }
    }
}

/// A request that passed every check, as rows for the predict pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidRequest {
    /// Target first, then the covariates in name order.
    pub covariates: Vec<String>,
    pub rows: Vec<(String, i64, Vec<f64>)>,
    pub ids: Vec<String>,
    pub horizon: Option<usize>,
    /// `None`: the model's default levels.
    pub quantiles: Option<Vec<f64>>,
    /// The unit the request declared (checked against the model's when it has one).
    pub unit: Option<String>,
}

impl ValidRequest {
    /// Requests with the same key can share one model call.
    pub fn batch_key(&self) -> String {
        format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.horizon, self.quantiles, self.covariates, self.unit
        )
    }

    pub fn n_series(&self) -> usize {
        self.ids.len()
    }
}

/// Parses a body: bad JSON is 400; unknown fields, wrong types and out-of-range numbers are 422
/// naming the field (`series[0].values[3]`).
pub fn parse(body: &[u8]) -> Result<ForecastRequest, ApiError> {
    let syntax = |e: serde_json::Error, field: Option<String>| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            field,
            format!("not valid JSON: {e}; send one JSON object as the README shows"),
        )
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: ForecastRequest = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != "." && !path.is_empty()).then_some(path);
        let inner = e.into_inner();
        if inner.is_data() {
            ApiError::new(
                axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                field,
                inner.to_string(),
            )
        } else {
            syntax(inner, field)
        }
    })?;
    // Anything after the object is an error too.
    de.end().map_err(|e| syntax(e, None))?;
    Ok(request)
}

/// Glucose readings in mmol/L stay below this (CGMs read up to 22.2 mmol/L, 400 mg/dL); a value
/// above it was sent in mg/dL.
const MMOL_CEILING: f64 = 35.0;

/// Checks `request` against the limits and the model's unit (`None`: the model has none).
pub fn validate(
    request: ForecastRequest,
    limits: &Limits,
    model_unit: Option<&str>,
) -> Result<ValidRequest, ApiError> {
    if request.series.is_empty() {
        return Err(ApiError::invalid("series", "no series; give at least one"));
    }
    if request.series.len() > limits.max_series {
        return Err(ApiError::too_large(
            Some("series".into()),
            format!(
                "{} series, more than this server takes in one request ({}, --max-series); \
                 split the request",
                request.series.len(),
                limits.max_series
            ),
        ));
    }
    check_unit(request.unit.as_deref(), model_unit)?;
    if request.horizon == Some(0) {
        return Err(ApiError::invalid("horizon", "0 steps; give 1 or more"));
    }
    if let Some(levels) = &request.quantiles {
        check_levels(levels)?;
    }
    let names: Vec<String> = request.series[0].covariates.keys().cloned().collect();
    let mut seen = BTreeSet::new();
    let mut rows = Vec::new();
    let mut ids = Vec::new();
    for (i, s) in request.series.iter().enumerate() {
        check_series(i, s, limits, &names, &mut seen)?;
        let glucose_mmol = model_unit
            .or(request.unit.as_deref())
            .is_some_and(|u| u.trim().eq_ignore_ascii_case("mmol/L"));
        for (j, (ts, v)) in s.timestamps.iter().zip(&s.values).enumerate() {
            let t = time(i, j, ts)?;
            let value = number(*v, || format!("series[{i}].values[{j}]"))?;
            if glucose_mmol && value > MMOL_CEILING {
                return Err(ApiError::invalid(
                    format!("series[{i}].values[{j}]"),
                    format!(
                        "{value} is not a glucose value in mmol/L (readings stay below \
                         {MMOL_CEILING}); the model forecasts mmol/L: divide mg/dL by 18.0182"
                    ),
                ));
            }
            let mut row = vec![value];
            for name in &names {
                let c = s.covariates[name][j];
                row.push(number(c, || format!("series[{i}].covariates.{name}[{j}]"))?);
            }
            rows.push((s.id.clone(), t, row));
        }
        ids.push(s.id.clone());
    }
    Ok(ValidRequest {
        covariates: names,
        rows,
        ids,
        horizon: request.horizon,
        quantiles: request.quantiles,
        unit: request.unit.map(|u| u.trim().to_string()),
    })
}

fn check_unit(given: Option<&str>, model: Option<&str>) -> Result<(), ApiError> {
    if let (Some(given), Some(model)) = (given, model)
        && !given.trim().eq_ignore_ascii_case(model)
    {
        return Err(ApiError::invalid(
            "unit",
            format!(
                "`{given}`, but this model forecasts {model}; send values in {model}{}",
                if model.eq_ignore_ascii_case("mmol/L") {
                    " (mg/dL / 18.0182)"
                } else {
                    ""
                }
            ),
        ));
    }
    Ok(())
}

fn check_levels(levels: &[f64]) -> Result<(), ApiError> {
    for (k, &q) in levels.iter().enumerate() {
        if !(q > 0.0 && q < 1.0) {
            return Err(ApiError::invalid(
                format!("quantiles[{k}]"),
                format!("{q} is not a level between 0 and 1 (exclusive)"),
            ));
        }
        if k > 0 && q <= levels[k - 1] {
            return Err(ApiError::invalid(
                format!("quantiles[{k}]"),
                format!(
                    "{q} follows {}: levels must be increasing without repeats",
                    levels[k - 1]
                ),
            ));
        }
    }
    Ok(())
}

fn check_series(
    i: usize,
    s: &SeriesIn,
    limits: &Limits,
    names: &[String],
    seen: &mut BTreeSet<String>,
) -> Result<(), ApiError> {
    let field = |f: &str| format!("series[{i}].{f}");
    if s.id.trim().is_empty() {
        return Err(ApiError::invalid(
            field("id"),
            "empty; give each series an id",
        ));
    }
    if !seen.insert(s.id.clone()) {
        return Err(ApiError::invalid(
            field("id"),
            format!("`{}` is given twice; give each series once", s.id),
        ));
    }
    let n = s.timestamps.len();
    if n > limits.max_length {
        return Err(ApiError::too_large(
            Some(field("timestamps")),
            format!(
                "{n} rows, more than this server takes per series ({}, --max-length); send \
                 the most recent rows only",
                limits.max_length
            ),
        ));
    }
    if n < 2 {
        return Err(ApiError::invalid(
            field("timestamps"),
            format!("{n} row(s); give at least 2 (the interval is read from them)"),
        ));
    }
    if s.values.len() != n {
        return Err(ApiError::invalid(
            field("values"),
            format!(
                "{} values for {n} timestamps; give one per timestamp (null: missing)",
                s.values.len()
            ),
        ));
    }
    let mine: Vec<&String> = s.covariates.keys().collect();
    if mine.iter().copied().ne(names.iter()) {
        return Err(ApiError::invalid(
            field("covariates"),
            format!(
                "{:?}, but series[0] has {:?}; give every series the same covariates",
                mine, names
            ),
        ));
    }
    for (name, values) in &s.covariates {
        if name.trim().is_empty() || ["id", "timestamp"].contains(&name.as_str()) {
            return Err(ApiError::invalid(
                field("covariates"),
                format!("`{name}` cannot name a covariate"),
            ));
        }
        if values.len() != n {
            return Err(ApiError::invalid(
                field(&format!("covariates.{name}")),
                format!(
                    "{} values for {n} timestamps; give one per timestamp (null: missing)",
                    values.len()
                ),
            ));
        }
    }
    Ok(())
}

fn time(i: usize, j: usize, text: &str) -> Result<i64, ApiError> {
    clock::parse_datetime(text).ok_or_else(|| {
        ApiError::invalid(
            format!("series[{i}].timestamps[{j}]"),
            format!(
                "`{text}` is not a date-time; write 2024-01-01T22:50:00 (local time, no UTC offset)"
            ),
        )
    })
}

/// A JSON number as the pipeline's value (null: missing, NaN). JSON has no NaN or infinity,
/// so a non-finite value can only come from an overflowing literal: refused.
fn number(v: Option<f64>, field: impl FnOnce() -> String) -> Result<f64, ApiError> {
    match v {
        None => Ok(f64::NAN),
        Some(x) if x.is_finite() => Ok(x),
        Some(x) => Err(ApiError::invalid(
            field(),
            format!("{x} is not a finite number; use null for a missing value"),
        )),
    }
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ForecastReply {
    pub model: ModelInfo,
    pub unit: Option<String>,
    pub horizon: usize,
    pub quantile_levels: Vec<f64>,
    /// The threshold of `p_below`, when the target is glucose (3.9 mmol/L or 70 mg/dL).
    pub hypo_threshold: Option<f64>,
    pub forecasts: Vec<SeriesReply>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesReply {
    pub id: String,
    /// The forecast steps' times.
    pub timestamps: Vec<String>,
    pub point: Vec<f32>,
    /// `[level][step]`, the levels of `quantile_levels`.
    pub quantiles: Vec<Vec<f32>>,
    /// P(target < hypo_threshold) per step, from the quantiles (see [`crate::hypo`]).
    pub p_below: Option<Vec<f64>>,
}

/// Which model answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// What `--model` named, resolved (`ttm/production_v1`, a folder, a hub id).
    pub name: String,
    /// `production_vN` of a promoted model.
    pub version: Option<String>,
    /// `model/experiment/run_id` of the run behind it.
    pub source_run: Option<String>,
    pub family: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(body: &str) -> ApiError {
        parse(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn parse_errors_name_the_field() {
        let e = err("{\"series\": [], \"horizn\": 3}");
        assert_eq!(e.status, 422);
        assert_eq!(e.field.as_deref(), Some("horizn"));
        assert!(
            e.message.starts_with("unknown field `horizn`"),
            "{}",
            e.message
        );
        let e = err("{\"series\": [{\"id\": \"a\", \"timestamps\": [], \"values\": [1, \"x\"]}]}");
        assert_eq!(e.status, 422);
        assert_eq!(e.field.as_deref(), Some("series[0].values[1]"));
        let e = err("{\"series\": [{\"id\": \"a\", \"timestamps\": [], \"values\": [NaN]}]}");
        assert_eq!(e.status, 400);
        assert!(e.message.starts_with("not valid JSON"), "{}", e.message);
        let e = err("{\"series\": []} x");
        assert_eq!(e.status, 400);
    }

    fn series(id: &str, values: Vec<Option<f64>>) -> SeriesIn {
        SeriesIn {
            id: id.into(),
            timestamps: (0..values.len())
                .map(|k| format!("2024-01-01T{:02}:{:02}:00", k / 12, (k % 12) * 5))
                .collect(),
            values,
            covariates: BTreeMap::new(),
        }
    }

    fn request(series: Vec<SeriesIn>) -> ForecastRequest {
        ForecastRequest {
            series,
            horizon: None,
            quantiles: None,
            unit: None,
        }
    }

    #[test]
    fn validation_names_the_field_and_the_limit() {
        let limits = Limits {
            max_body_bytes: 1000,
            max_series: 2,
            max_length: 4,
        };
        let check = |r: ForecastRequest| validate(r, &limits, Some("mmol/L")).unwrap_err();
        let e = check(request(vec![series("a", vec![Some(5.0); 5])]));
        assert_eq!(
            (e.status.as_u16(), e.field.as_deref()),
            (413, Some("series[0].timestamps"))
        );
        let e = check(request(vec![
            series("a", vec![Some(5.0); 2]),
            series("b", vec![Some(5.0); 2]),
            series("c", vec![Some(5.0); 2]),
        ]));
        assert_eq!(
            (e.status.as_u16(), e.field.as_deref()),
            (413, Some("series"))
        );
        let e = check(request(vec![series("a", vec![Some(5.0), Some(180.0)])]));
        assert_eq!(e.field.as_deref(), Some("series[0].values[1]"));
        assert!(
            e.message.contains("not a glucose value in mmol/L"),
            "{}",
            e.message
        );
        let mut r = request(vec![series("a", vec![Some(5.0); 2])]);
        r.unit = Some("mg/dL".into());
        let e = check(r);
        assert_eq!(e.field.as_deref(), Some("unit"));
        assert_eq!(
            e.message,
            "`mg/dL`, but this model forecasts mmol/L; send values in mmol/L (mg/dL / 18.0182)"
        );
        let mut s = series("a", vec![Some(5.0); 3]);
        s.timestamps[2] = "yesterday".into();
        let e = check(request(vec![s]));
        assert_eq!(e.field.as_deref(), Some("series[0].timestamps[2]"));
        let e = check(request(vec![
            series("a", vec![Some(5.0); 2]),
            series("a", vec![Some(5.0); 2]),
        ]));
        assert_eq!(e.field.as_deref(), Some("series[1].id"));
        let mut s = series("b", vec![Some(5.0); 2]);
        s.covariates.insert("insulin".into(), vec![Some(1.0)]);
        let e = check(request(vec![s]));
        assert_eq!(e.field.as_deref(), Some("series[0].covariates.insulin"));
        let mut r = request(vec![series("a", vec![Some(5.0); 2])]);
        r.quantiles = Some(vec![0.5, 0.1]);
        assert_eq!(check(r).field.as_deref(), Some("quantiles[1]"));

        let ok = validate(
            request(vec![series("a", vec![Some(5.0), None])]),
            &limits,
            Some("mmol/L"),
        )
        .unwrap();
        assert_eq!(ok.rows.len(), 2);
        assert!(ok.rows[1].2[0].is_nan());
        assert_eq!(ok.rows[1].1 - ok.rows[0].1, 300);
    }
}
