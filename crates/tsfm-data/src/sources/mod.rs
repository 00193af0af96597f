//! Raw dataset sources: each turns a user's raw files into per-series time-indexed tables
//! ([`Series`]). Glucose sources put the target channel `bg` first, in mmol/L.
//!
//! - [`bris_t1d`]: the Kaggle BrisT1D competition CSVs (`train.csv`, `test.csv`).
//! - [`aleppo`]: the REPLACE-BG (Aleppo 2017) `Data Tables/` folder.
//! - [`long`]: generic long-format CSV or Parquet `id,timestamp,target[,covariates...]`.
//!
//! No source ever drops or changes data silently: what it drops, merges or maps is listed in
//! [`SourceOutput::warnings`].

pub mod aleppo;
pub mod bris_t1d;
pub mod clock;
pub mod long;
pub mod table;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::progress::{Progress, ProgressEvent};
use crate::series::{SECONDS_PER_DAY, Series};
use crate::units::GlucoseUnit;

/// Which raw format a dataset is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    BrisT1d,
    Aleppo,
    Csv,
    Parquet,
}

impl SourceKind {
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::BrisT1d => "bris_t1d",
            SourceKind::Aleppo => "aleppo",
            SourceKind::Csv => "csv",
            SourceKind::Parquet => "parquet",
        }
    }

    /// Reads the names users type (`bris_t1d`, `brist1d`, `kaggle`, `aleppo`, `replace_bg`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "bris_t1d" | "brist1d" | "kaggle" => Some(SourceKind::BrisT1d),
            "aleppo" | "aleppo2017" | "aleppo_2017" | "replace_bg" => Some(SourceKind::Aleppo),
            "csv" => Some(SourceKind::Csv),
            "parquet" => Some(SourceKind::Parquet),
            _ => None,
        }
    }
}

/// What happens to a series sampled at another interval than `resolution_min`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResamplePolicy {
    /// Put it on the `resolution_min` grid ([`crate::resample`]: readings interpolated between
    /// consecutive readings, events summed into their slot, levels carried forward within
    /// their own interval), so that e.g. BrisT1D's 15-min Libre participants stay in.
    #[default]
    Resample,
    /// Keep it at its own interval (with a warning).
    Keep,
    /// Drop it (with a warning).
    Drop,
}

impl ResamplePolicy {
    /// Reads the config values `resample`, `keep`, `drop`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "resample" => Some(ResamplePolicy::Resample),
            "keep" => Some(ResamplePolicy::Keep),
            "drop" => Some(ResamplePolicy::Drop),
            _ => None,
        }
    }
}

fn default_base_date() -> String {
    "2020-01-01".to_string()
}
fn default_id_column() -> String {
    "id".to_string()
}
fn default_timestamp_column() -> String {
    "timestamp".to_string()
}
fn default_target_columns() -> Vec<String> {
    vec!["target".to_string()]
}

/// Options of a source; one struct for all kinds so a data config is one flat YAML section.
/// Fields a kind does not use are ignored by it (and still part of the cache fingerprint).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceOptions {
    pub kind: SourceKind,
    /// bris_t1d: `train.csv` (or `.csv.gz`, or the folder holding it); aleppo: the
    /// `Data Tables` folder or its `HDeviceCGM.txt`; csv/parquet: the file.
    pub raw_path: PathBuf,
    /// The interval (minutes) every series should have; series at another interval follow
    /// `resample`. `None` keeps every series at its own interval (with a warning when
    /// intervals differ from 5 minutes).
    #[serde(default)]
    pub resolution_min: Option<u32>,
    /// What `resolution_min` does to a series at another interval (default: resample it).
    #[serde(default)]
    pub resample: ResamplePolicy,
    /// The unit the target values are really in (`mg/dL` or `mmol/L`). Glucose sources
    /// refuse values that do not look like their format's unit unless this is given; values
    /// are then converted to mmol/L. For csv/parquet it labels (and for glucose units converts)
    /// the target.
    #[serde(default)]
    pub unit_override: Option<String>,
    /// Date given to synthesised dates (BrisT1D has times of day only; REPLACE-BG has days
    /// from enrolment): `YYYY-MM-DD`.
    #[serde(default = "default_base_date")]
    pub base_date: String,
    /// csv/parquet: the series-id column.
    #[serde(default = "default_id_column")]
    pub id_column: String,
    /// csv/parquet: the time column (`YYYY-MM-DD[ HH:MM[:SS]]`, `T` separator accepted, or a
    /// Parquet timestamp/date).
    #[serde(default = "default_timestamp_column")]
    pub timestamp_column: String,
    /// csv/parquet: target columns; the first is the forecast target.
    #[serde(default = "default_target_columns")]
    pub target_columns: Vec<String>,
    /// csv/parquet: covariate columns; `None` takes every other column.
    #[serde(default)]
    pub covariate_columns: Option<Vec<String>>,
    /// csv: field delimiter (default `,`).
    #[serde(default)]
    pub delimiter: Option<char>,
}

impl SourceOptions {
    /// Options with every default for `kind` reading `raw_path`.
    pub fn new(kind: SourceKind, raw_path: impl Into<PathBuf>) -> Self {
        SourceOptions {
            kind,
            raw_path: raw_path.into(),
            resolution_min: None,
            resample: ResamplePolicy::default(),
            unit_override: None,
            base_date: default_base_date(),
            id_column: default_id_column(),
            timestamp_column: default_timestamp_column(),
            target_columns: default_target_columns(),
            covariate_columns: None,
            delimiter: None,
        }
    }

    /// The base date as days since 1970-01-01.
    pub fn base_day(&self) -> Result<i64> {
        clock::parse_date(&self.base_date).ok_or_else(|| {
            DataError::options(
                "base_date",
                format!(
                    "\"{}\" is not a date; write it as YYYY-MM-DD",
                    self.base_date
                ),
            )
        })
    }

    pub fn base_seconds(&self) -> Result<i64> {
        Ok(self.base_day()? * SECONDS_PER_DAY)
    }

    /// The stated glucose unit, if any.
    pub fn glucose_unit_override(&self) -> Result<Option<GlucoseUnit>> {
        match &self.unit_override {
            None => Ok(None),
            Some(u) => GlucoseUnit::parse(u).map(Some).ok_or_else(|| {
                DataError::options(
                    "unit_override",
                    format!("\"{u}\" is not a glucose unit; use \"mg/dL\" or \"mmol/L\""),
                )
            }),
        }
    }
}

/// What a source produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceOutput {
    /// One series per id, sorted by id.
    pub series: Vec<Series>,
    /// Everything dropped, merged, mapped or otherwise worth telling the user, one line each.
    pub warnings: Vec<String>,
    /// Categorical channels: channel name -> labels; a cell's numeric code is its label's
    /// index in this list.
    pub categories: BTreeMap<String, Vec<String>>,
}

/// Runs the source `opts.kind` on its raw files.
pub fn load(opts: &SourceOptions) -> Result<SourceOutput> {
    load_with_progress(opts, &crate::progress::ignore)
}

/// [`load`], reporting [`ProgressEvent::Parsed`] as each raw file is parsed (the REPLACE-BG
/// tables one by one; the one-file sources when done).
pub fn load_with_progress(opts: &SourceOptions, progress: Progress) -> Result<SourceOutput> {
    let out = match opts.kind {
        SourceKind::Aleppo => aleppo::load_with_progress(opts, progress)?,
        kind => {
            let out = match kind {
                SourceKind::BrisT1d => bris_t1d::load_train(opts)?,
                SourceKind::Csv => long::load_csv(opts)?,
                _ => long::load_parquet(opts)?,
            };
            for path in raw_files(opts)? {
                progress(ProgressEvent::Parsed { path });
            }
            out
        }
    };
    apply_resolution(opts, out)
}

/// The raw files a source reads for `opts` (what the cache fingerprints).
pub fn raw_files(opts: &SourceOptions) -> Result<Vec<PathBuf>> {
    match opts.kind {
        SourceKind::BrisT1d => Ok(bris_t1d::raw_files(&opts.raw_path)),
        SourceKind::Aleppo => aleppo::raw_files(&opts.raw_path),
        SourceKind::Csv | SourceKind::Parquet => Ok(vec![opts.raw_path.clone()]),
    }
}

/// Applies `resolution_min` and its `resample` policy to series at another interval (never
/// silently: each one changed, kept or dropped gets a warning).
pub(crate) fn apply_resolution(
    opts: &SourceOptions,
    mut out: SourceOutput,
) -> Result<SourceOutput> {
    match (opts.resolution_min, opts.resample) {
        (Some(0), _) => Err(DataError::options(
            "resolution_min",
            "must be at least 1 minute",
        )),
        (Some(r), ResamplePolicy::Drop) => drop_other_intervals(r, out),
        (Some(r), ResamplePolicy::Resample) => {
            for s in &mut out.series {
                if s.interval_min != r {
                    out.warnings.push(format!(
                        "series {} is sampled every {} min: resampled to {r} min (resolution_min)",
                        s.id, s.interval_min
                    ));
                    *s = crate::resample::resample(s, r)?;
                }
            }
            Ok(out)
        }
        (r, _) => {
            let expected = r.unwrap_or(5);
            for s in &out.series {
                if s.interval_min != expected
                    && (r.is_some()
                        || (opts.kind != SourceKind::Csv && opts.kind != SourceKind::Parquet))
                {
                    out.warnings.push(format!(
                        "series {} is sampled every {} min (not {expected}): kept at its own \
                         interval; set resolution_min: {expected} to resample it",
                        s.id, s.interval_min
                    ));
                }
            }
            Ok(out)
        }
    }
}

/// The `drop` policy: series at another interval than `r` are left out.
fn drop_other_intervals(r: u32, mut out: SourceOutput) -> Result<SourceOutput> {
    let (keep, drop): (Vec<Series>, Vec<Series>) =
        out.series.into_iter().partition(|s| s.interval_min == r);
    for s in &drop {
        out.warnings.push(format!(
            "series {} is sampled every {} min, not {r} (resolution_min): dropped",
            s.id, s.interval_min
        ));
    }
    if keep.is_empty() && !drop.is_empty() {
        return Err(DataError::options(
            "resolution_min",
            format!(
                "no series is sampled every {r} min; the intervals found are {:?}",
                drop.iter()
                    .map(|s| s.interval_min)
                    .collect::<std::collections::BTreeSet<_>>()
            ),
        ));
    }
    out.series = keep;
    Ok(out)
}

/// Most frequent positive step between consecutive timestamps (ties: the smaller step).
pub(crate) fn modal_step(timestamps: &[i64]) -> Option<i64> {
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for w in timestamps.windows(2) {
        let d = w[1] - w[0];
        if d > 0 {
            *counts.entry(d).or_default() += 1;
        }
    }
    let best = counts.values().copied().max()?;
    counts.into_iter().find(|&(_, c)| c == best).map(|(d, _)| d)
}

/// Checks that a path exists, as a user error naming the option.
pub(crate) fn require_exists(path: &Path) -> Result<()> {
    if path.exists() {
        Ok(())
    } else {
        Err(DataError::options(
            "raw_path",
            format!("{} does not exist", path.display()),
        ))
    }
}
