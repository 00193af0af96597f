//! REPLACE-BG (Aleppo et al. 2017) `Data Tables/`: pipe-delimited text tables with a header
//! row; columns are bound by header name (case-insensitively: `PtID` and `PtId` both occur).
//!
//! # Rules
//! * Time = `base_date` (the enrolment day) + `DeviceDtTmDaysFromEnroll` days (negative during
//!   run-in) + `DeviceTm`. The receiver's internal clock (`DexInternal*`) is not used.
//! * CGM: rows with `RecordType` `CGM` only; calibrations are dropped (counted in a warning).
//! * `GlucoseValue` is mg/dL; the file is refused if its median looks like mmol/L unless
//!   `unit_override` says so. Values must be within the sensor's range 39..401 mg/dL.
//!   39 and 401 are the receiver's LOW and HIGH sentinels ("below 40", "above 400"): they
//!   become 40 and 400, the nearest values the sensor can measure (the babelbetes convention),
//!   counted in a warning.
//! * Duplicates on (PtID, time): exact copies (same value; overlapping uploads) are removed;
//!   conflicting ones keep the row with the largest `RecID` (the latest upload), with a
//!   warning naming the first conflict.
//! * Grid: a reading at `hh:mm:ss` belongs to the 5-min slot that starts at or before it
//!   (Dexcom readings carry a per-sensor seconds offset). Two readings in one slot keep the
//!   later. The series runs from the first to the last reading's slot, every 5 min; slots
//!   without a reading have `bg` NaN.
//! * `insulin` (U in the 5 min ending at the slot, like BrisT1D; slot `t` holds
//!   `[t - 5 min, t)`, so an event at exactly 16:15:00 counts at 16:20): basal from
//!   `HDeviceBasal.txt` (Rate U/h over Duration ms; scheduled segments end at their duration
//!   or the next scheduled segment; temp and suspend segments override them for their
//!   duration, suspend = 0 U/h, a temp without Rate = Percent x scheduled rate) plus boluses
//!   from `HDeviceBolus.txt` (Normal at its time; Extended spread evenly over Duration, which
//!   is ms for Tidepool uploads but minutes for Diasend uploads, by joining
//!   `ParentHDeviceUploadsID` to `HDeviceUploads.txt`). Computed per minute, then summed per
//!   slot. NaN outside the span the pump tables cover, and NaN (not 0 U) in slots that no
//!   basal record covers: pumps log every rate change and suspend, so uncovered time means
//!   lost records (e.g. the demo's PtID 21 has no segment for day 2 from 07:00, which began
//!   during a pump upload gap), and a patient without any basal record gets boluses only.
//! * `carbs`: `CarbInput` (g) of `HDeviceWizard.txt`, summed per slot (same `[t - 5 min, t)`
//!   rule); NaN where none. The wizard logs carbs only with a bolus: carbs eaten without one
//!   (e.g. hypo treatment) are not in these tables.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{DataError, InputErrorKind, Result};
use crate::progress::{Progress, ProgressEvent};
use crate::series::{Channel, MGDL_PER_MMOLL, SECONDS_PER_DAY, Series};
use crate::sources::table::{Table, cell, file_name, not_a_number, parse_opt_f64};
use crate::sources::{SourceOptions, SourceOutput, require_exists};
use crate::units::{GlucoseUnit, MMOL_PER_L, check_glucose_unit};

pub const CGM_FILE: &str = "HDeviceCGM.txt";
pub const BOLUS_FILE: &str = "HDeviceBolus.txt";
pub const BASAL_FILE: &str = "HDeviceBasal.txt";
pub const WIZARD_FILE: &str = "HDeviceWizard.txt";
pub const UPLOADS_FILE: &str = "HDeviceUploads.txt";

const SLOT_S: i64 = 300;
/// The largest |DeviceDtTmDaysFromEnroll| read as a date: 100 years.
const MAX_DAYS_FROM_ENROLMENT: i64 = 36_525;
/// The sensor's reportable range in mg/dL, sentinels included.
const CGM_MIN_MGDL: f64 = 39.0;
const CGM_MAX_MGDL: f64 = 401.0;

/// The CGM table and the folder of the other tables.
fn resolve(raw_path: &Path) -> (PathBuf, PathBuf) {
    if raw_path.is_dir() {
        let nested = raw_path.join("Data Tables");
        let dir = if !raw_path.join(CGM_FILE).exists() && nested.is_dir() {
            nested
        } else {
            raw_path.to_path_buf()
        };
        (dir.join(CGM_FILE), dir)
    } else {
        let dir = raw_path.parent().map(Path::to_path_buf).unwrap_or_default();
        (raw_path.to_path_buf(), dir)
    }
}

/// The files this source reads: the CGM table and whichever optional tables exist beside it.
pub fn raw_files(raw_path: &Path) -> Result<Vec<PathBuf>> {
    require_exists(raw_path)?;
    let (cgm, dir) = resolve(raw_path);
    let mut v = vec![cgm];
    for f in [BOLUS_FILE, BASAL_FILE, WIZARD_FILE, UPLOADS_FILE] {
        let p = dir.join(f);
        if p.is_file() {
            v.push(p);
        }
    }
    Ok(v)
}

fn bad_time(path: &Path, line: u64, col: &str, value: &str, what: &str) -> DataError {
    DataError::input(
        InputErrorKind::BadTime,
        path,
        Some(line),
        Some(col),
        format!("{col} \"{value}\" is not {what}"),
    )
}

/// Columns every device table has: who and when.
struct When {
    pt: usize,
    days: usize,
    tm: usize,
}

impl When {
    fn bind(t: &Table) -> Result<When> {
        Ok(When {
            pt: t.col("PtID")?,
            days: t.col("DeviceDtTmDaysFromEnroll")?,
            tm: t.col("DeviceTm")?,
        })
    }

    /// (PtID, naive time in seconds) of a row.
    fn read(
        &self,
        path: &Path,
        line: u64,
        rec: &csv::ByteRecord,
        base: i64,
    ) -> Result<(String, i64)> {
        let pt = cell(rec, self.pt);
        if pt.is_empty() {
            return Err(DataError::input(
                InputErrorKind::BadValue,
                path,
                Some(line),
                Some("PtID"),
                "PtID is empty",
            ));
        }
        let d = cell(rec, self.days);
        // Days from enrolment: a value beyond a century either way is a damaged cell (found by
        // fuzzing: it overflowed the seconds it is turned into).
        let days: i64 = d
            .parse()
            .ok()
            .filter(|d: &i64| d.abs() <= MAX_DAYS_FROM_ENROLMENT)
            .ok_or_else(|| {
                bad_time(
                    path,
                    line,
                    "DeviceDtTmDaysFromEnroll",
                    d,
                    "a whole number of days within 100 years of enrolment",
                )
            })?;
        let tm = cell(rec, self.tm);
        let sod = super::clock::parse_time_of_day(tm)
            .filter(|_| tm.len() == 8)
            .ok_or_else(|| bad_time(path, line, "DeviceTm", tm, "a time of day HH:MM:SS"))?;
        Ok((pt.to_string(), base + days * SECONDS_PER_DAY + sod))
    }
}

fn num(
    path: &Path,
    line: u64,
    rec: &csv::ByteRecord,
    col: usize,
    name: &str,
) -> Result<Option<f64>> {
    let s = cell(rec, col);
    parse_opt_f64(s).map_err(|_| not_a_number(path, line, name, s))
}

struct Reading {
    line: u64,
    rec_id: i64,
    pt: String,
    t: i64,
    value: f64,
}

fn read_cgm(path: &Path, base: i64, warnings: &mut Vec<String>) -> Result<Vec<Reading>> {
    let mut t = Table::open(path, b'|')?;
    let when = When::bind(&t)?;
    let rec_col = t.col("RecID")?;
    let type_col = t.col("RecordType")?;
    let gv_col = t.col("GlucoseValue")?;
    let mut out = Vec::new();
    let mut calibrations = 0usize;
    let mut rows = 0usize;
    while let Some((line, rec)) = t.next_row()? {
        rows += 1;
        if !cell(rec, type_col).eq_ignore_ascii_case("CGM") {
            calibrations += 1;
            continue;
        }
        let r = cell(rec, rec_col);
        let rec_id: i64 = r
            .parse()
            .map_err(|_| not_a_number(path, line, "RecID", r))?;
        let (pt, time) = when.read(path, line, rec, base)?;
        let g = cell(rec, gv_col);
        let value = match parse_opt_f64(g) {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Err(DataError::input(
                    InputErrorKind::NotANumber,
                    path,
                    Some(line),
                    Some("GlucoseValue"),
                    "GlucoseValue is empty",
                ));
            }
            Err(_) => return Err(not_a_number(path, line, "GlucoseValue", g)),
        };
        out.push(Reading {
            line,
            rec_id,
            pt,
            t: time,
            value,
        });
    }
    if rows == 0 {
        return Err(DataError::no_rows(path));
    }
    if out.is_empty() {
        return Err(DataError::input(
            InputErrorKind::NoRows,
            path,
            None,
            None,
            "no rows with RecordType CGM",
        ));
    }
    if calibrations > 0 {
        warnings.push(format!(
            "{}: {calibrations} non-CGM rows (calibrations) dropped",
            file_name(path)
        ));
    }
    Ok(out)
}

/// Checks units and range, maps sentinels, converts to mmol/L (in place).
fn normalise_values(
    path: &Path,
    readings: &mut [Reading],
    stated: Option<GlucoseUnit>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let unit = match stated {
        Some(u) => u,
        None => {
            check_glucose_unit(
                path,
                "GlucoseValue",
                GlucoseUnit::MgDl,
                readings.iter().map(|r| r.value),
            )?;
            GlucoseUnit::MgDl
        }
    };
    let to_mgdl = |v: f64| {
        if unit == GlucoseUnit::MgDl {
            v
        } else {
            v * MGDL_PER_MMOLL
        }
    };
    // Half a mmol/L display step of tolerance so 2.2 and 22.3 mmol/L are accepted.
    let tol = if unit == GlucoseUnit::MgDl {
        0.0
    } else {
        0.05 * MGDL_PER_MMOLL
    };
    let (mut low, mut high) = (0usize, 0usize);
    for r in readings.iter_mut() {
        let mg = to_mgdl(r.value);
        if mg < CGM_MIN_MGDL - tol || mg > CGM_MAX_MGDL + tol {
            return Err(DataError::input(
                InputErrorKind::OutOfRange,
                path,
                Some(r.line),
                Some("GlucoseValue"),
                format!(
                    "GlucoseValue {} is outside the CGM range 39..401 mg/dL (39 and 401 are the LOW/HIGH sentinels)",
                    r.value
                ),
            ));
        }
        r.value = if unit == GlucoseUnit::MgDl && r.value == CGM_MIN_MGDL {
            low += 1;
            40.0 / MGDL_PER_MMOLL
        } else if unit == GlucoseUnit::MgDl && r.value == CGM_MAX_MGDL {
            high += 1;
            400.0 / MGDL_PER_MMOLL
        } else {
            unit.to_mmol(r.value)
        };
    }
    if low + high > 0 {
        warnings.push(format!(
            "{}: {low} LOW sentinel readings (39) set to 40 mg/dL and {high} HIGH (401) set to 400 mg/dL",
            file_name(path)
        ));
    }
    Ok(())
}

/// Removes exact duplicates and resolves conflicting ones (max RecID wins).
fn dedupe(path: &Path, mut readings: Vec<Reading>, warnings: &mut Vec<String>) -> Vec<Reading> {
    readings.sort_by(|a, b| (&a.pt, a.t, a.rec_id).cmp(&(&b.pt, b.t, b.rec_id)));
    let mut out: Vec<Reading> = Vec::with_capacity(readings.len());
    let (mut exact, mut conflicts) = (0usize, 0usize);
    let mut example: Option<String> = None;
    for r in readings {
        if let Some(prev) = out.last_mut()
            && prev.pt == r.pt
            && prev.t == r.t
        {
            if prev.value == r.value {
                exact += 1;
            } else {
                conflicts += 1;
                if example.is_none() {
                    example = Some(format!(
                        "PtID {} at {}: line {} (RecID {}) vs line {} (RecID {})",
                        r.pt,
                        super::clock::format_datetime(r.t),
                        prev.line,
                        prev.rec_id,
                        r.line,
                        r.rec_id
                    ));
                }
            }
            // Sorted by RecID within a time: the later row has the larger RecID and wins.
            *prev = r;
            continue;
        }
        out.push(r);
    }
    let name = file_name(path);
    if exact > 0 {
        warnings.push(format!(
            "{name}: {exact} exact duplicate readings (overlapping uploads) removed"
        ));
    }
    if conflicts > 0 {
        warnings.push(format!(
            "{name}: {conflicts} readings with the same PtID and time but a different GlucoseValue; kept the one with the largest RecID (first: {})",
            example.unwrap_or_default()
        ));
    }
    out
}

/// Per-patient pump events on a minute axis.
#[derive(Default)]
struct Pump {
    /// (start, end, U/h) scheduled segments.
    scheduled: Vec<(i64, i64, f64)>,
    /// (start, end, Some(U/h) or None = Percent x scheduled, percent).
    overrides: Vec<(i64, i64, Option<f64>, f64)>,
    /// (time, U) immediate boluses.
    boluses: Vec<(i64, f64)>,
    /// (start, end, U) extended boluses.
    extended: Vec<(i64, i64, f64)>,
    /// (time, g) carbs.
    carbs: Vec<(i64, f64)>,
}

impl Pump {
    fn span(&self) -> Option<(i64, i64)> {
        let starts = self
            .scheduled
            .iter()
            .map(|s| (s.0, s.1))
            .chain(self.overrides.iter().map(|o| (o.0, o.1)))
            .chain(self.boluses.iter().map(|b| (b.0, b.0)))
            .chain(self.extended.iter().map(|e| (e.0, e.1)));
        starts.fold(None, |acc, (a, b)| match acc {
            None => Some((a, b)),
            Some((lo, hi)) => Some((lo.min(a), hi.max(b))),
        })
    }
}

fn read_uploads(path: &Path) -> Result<HashMap<String, String>> {
    let mut t = Table::open(path, b'|')?;
    let id = t.col("RecID")?;
    let src = t.col("DataSource")?;
    let mut m = HashMap::new();
    while let Some((_, rec)) = t.next_row()? {
        m.insert(cell(rec, id).to_string(), cell(rec, src).to_string());
    }
    Ok(m)
}

/// The longest pump `Duration` read as such: a week. A longer one is a damaged cell, and an
/// absurd one overflowed the end time it is added to (found by fuzzing).
const MAX_DURATION_S: f64 = 7.0 * 86_400.0;

/// A pump event's `Duration` in whole seconds, refused beyond [`MAX_DURATION_S`].
fn duration_secs(path: &Path, line: u64, seconds: f64) -> Result<i64> {
    if seconds.abs() > MAX_DURATION_S {
        return Err(DataError::input(
            InputErrorKind::BadValue,
            path,
            Some(line),
            Some("Duration"),
            format!(
                "Duration is {:.0} hours; a pump event lasts at most a week, so the cell is \
                 damaged: fix or remove the row",
                seconds / 3600.0
            ),
        ));
    }
    Ok(seconds.round() as i64)
}

fn read_bolus(
    path: &Path,
    base: i64,
    uploads: &HashMap<String, String>,
    pumps: &mut BTreeMap<String, Pump>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut t = Table::open(path, b'|')?;
    let when = When::bind(&t)?;
    let normal = t.col("Normal")?;
    let extended = t.col("Extended")?;
    let duration = t.col("Duration")?;
    let parent = t.find("ParentHDeviceUploadsID");
    let mut unknown_source = 0usize;
    while let Some((line, rec)) = t.next_row()? {
        let (pt, time) = when.read(path, line, rec, base)?;
        let p = pumps.entry(pt).or_default();
        if let Some(n) = num(path, line, rec, normal, "Normal")?
            && n > 0.0
        {
            p.boluses.push((time, n));
        }
        if let Some(x) = num(path, line, rec, extended, "Extended")?
            && x > 0.0
        {
            let d = num(path, line, rec, duration, "Duration")?.unwrap_or(0.0);
            let source = parent.and_then(|c| uploads.get(cell(rec, c)));
            // Diasend exports minutes, Tidepool milliseconds (GLUCOSE.md 1.2).
            let minutes = match source.map(|s| s.to_ascii_lowercase()) {
                Some(s) if s.contains("diasend") => d,
                Some(s) if s.contains("tidepool") => d / 60_000.0,
                _ => {
                    unknown_source += 1;
                    d / 60_000.0
                }
            };
            let secs = duration_secs(path, line, minutes * 60.0)?;
            if secs <= 0 {
                p.boluses.push((time, x));
            } else {
                p.extended.push((time, time + secs, x));
            }
        }
    }
    if unknown_source > 0 {
        warnings.push(format!(
            "{}: {unknown_source} extended boluses whose upload source is unknown; Duration taken as milliseconds",
            file_name(path)
        ));
    }
    Ok(())
}

fn read_basal(
    path: &Path,
    base: i64,
    pumps: &mut BTreeMap<String, Pump>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut t = Table::open(path, b'|')?;
    let when = When::bind(&t)?;
    let kind = t.col("BasalType")?;
    let duration = t.col("Duration")?;
    let rate = t.col("Rate")?;
    let percent = t.find("Percent");
    let mut skipped = 0usize;
    while let Some((line, rec)) = t.next_row()? {
        let (pt, time) = when.read(path, line, rec, base)?;
        let d = num(path, line, rec, duration, "Duration")?;
        let Some(d) = d.filter(|d| *d > 0.0) else {
            skipped += 1;
            continue;
        };
        let end = time + duration_secs(path, line, d / 1000.0)?;
        let r = num(path, line, rec, rate, "Rate")?;
        let p = pumps.entry(pt).or_default();
        match cell(rec, kind).to_ascii_lowercase().as_str() {
            "scheduled" => p.scheduled.push((time, end, r.unwrap_or(0.0))),
            "suspend" => p.overrides.push((time, end, Some(0.0), 0.0)),
            _ => {
                let pc = match percent {
                    Some(c) => num(path, line, rec, c, "Percent")?.unwrap_or(1.0),
                    None => 1.0,
                };
                p.overrides.push((time, end, r, pc));
            }
        }
    }
    if skipped > 0 {
        warnings.push(format!(
            "{}: {skipped} basal rows without a positive Duration skipped",
            file_name(path)
        ));
    }
    Ok(())
}

fn read_wizard(path: &Path, base: i64, pumps: &mut BTreeMap<String, Pump>) -> Result<()> {
    let mut t = Table::open(path, b'|')?;
    let when = When::bind(&t)?;
    let carbs = t.col("CarbInput")?;
    while let Some((line, rec)) = t.next_row()? {
        let (pt, time) = when.read(path, line, rec, base)?;
        if let Some(g) = num(path, line, rec, carbs, "CarbInput")?
            && g > 0.0
        {
            pumps.entry(pt).or_default().carbs.push((time, g));
        }
    }
    Ok(())
}

/// Insulin (U per slot) and carbs (g per slot) on the grid `start, start+5min, ... (n slots)`.
///
/// A minute that no basal record (scheduled, temp or suspend) covers has an unknown basal
/// rate: a pump logs every delivery change, including a suspend, so an uncovered stretch means
/// records were lost (e.g. a scheduled segment that began during an upload gap), not that no
/// insulin was given. Slots touching such minutes are NaN, never 0 U; a bolus inside one is
/// counted in the returned number but does not make the slot's total known. A patient with no
/// basal record at all (the table is absent or has no rows for them) gets boluses only.
///
/// Returns (insulin, carbs, slots with unknown basal inside the pump span, first such slot,
/// last slot of that first run).
fn pump_channels(p: Option<&Pump>, start: i64, n: usize) -> PumpChannels {
    let mut out = PumpChannels {
        insulin: vec![f64::NAN; n],
        carbs: vec![f64::NAN; n],
        ..PumpChannels::default()
    };
    let Some(p) = p else { return out };
    for &(e, g) in &p.carbs {
        if let Some(j) = slot_of(e, start, n) {
            let c = &mut out.carbs[j];
            *c = if c.is_nan() { g } else { *c + g };
        }
    }
    let Some((lo, hi)) = p.span() else {
        return out;
    };
    let basal_known = !p.scheduled.is_empty() || !p.overrides.is_empty();
    out.basal_records = basal_known;
    let units = units_per_minute(p, start, n, basal_known);
    sum_per_slot(&units, start, (lo, hi), &mut out);
    add_boluses(p, start, n, basal_known, &mut out);
    out
}

/// The slot of an event at `e` on the grid `start, start+5min, ... (n slots)`, if inside it.
///
/// Slot j holds what happened in [t_j - 5 min, t_j), the same half-open minutes the basal
/// integration ([`units_per_minute`]) uses: an event exactly at 16:15:00 belongs to the 16:20
/// slot, with the basal of minute 16:15 (and with its bolus: wizard times are cut to the
/// minute, so a wizard at 08:55:00 and its bolus at 08:55:48 share a slot; the simulator's
/// truth for the demo counts them the same way).
fn slot_of(e: i64, start: i64, n: usize) -> Option<usize> {
    let j = (e - start).div_euclid(SLOT_S) + 1;
    (0..n as i64).contains(&j).then_some(j as usize)
}

/// Basal plus extended-bolus insulin (U) per minute over the slots' windows: minute m covers
/// [start - 5 min + 60 m, ... + 60), for `n * 5 + 5` minutes. NaN where no basal record covers
/// the minute (when the patient has any basal record; otherwise the basal is 0).
fn units_per_minute(p: &Pump, start: i64, n: usize, basal_known: bool) -> Vec<f64> {
    let m0 = start - SLOT_S;
    let minutes = n * 5 + 5;
    let minute_of = |t: i64| (t - m0).div_euclid(60).clamp(0, minutes as i64) as usize;
    // U/h; NaN = no basal record covers the minute.
    let mut rate = vec![if basal_known { f64::NAN } else { 0.0 }; minutes];
    let mut sched = p.scheduled.clone();
    sched.sort_by_key(|s| s.0);
    for (i, &(a, b, r)) in sched.iter().enumerate() {
        let b = sched.get(i + 1).map_or(b, |next| b.min(next.0));
        rate[minute_of(a)..minute_of(b)]
            .iter_mut()
            .for_each(|x| *x = r);
    }
    let mut ov = p.overrides.clone();
    ov.sort_by_key(|o| o.0);
    for &(a, b, r, pc) in &ov {
        // A percent temp over an unknown scheduled rate stays unknown (NaN * pc).
        for x in &mut rate[minute_of(a)..minute_of(b)] {
            *x = r.unwrap_or(pc * *x);
        }
    }
    let mut units: Vec<f64> = rate.iter().map(|r| r / 60.0).collect();
    for &(a, b, u) in &p.extended {
        let (ma, mb) = (minute_of(a), minute_of(b));
        let total_min = ((b - a) as f64 / 60.0).max(1.0);
        for x in &mut units[ma..mb] {
            *x += u / total_min;
        }
    }
    units
}

/// Sums the per-minute units into `out.insulin` for the slots inside the pump span `(lo, hi)`
/// (outside it nothing is known), counting the unknown slots and the first run of them.
fn sum_per_slot(units: &[f64], start: i64, (lo, hi): (i64, i64), out: &mut PumpChannels) {
    for (j, v) in out.insulin.iter_mut().enumerate() {
        let t = start + j as i64 * SLOT_S;
        if t - SLOT_S < lo || t > hi + SLOT_S {
            continue; // outside what the pump tables cover
        }
        *v = units[j * 5..j * 5 + 5].iter().sum();
        if v.is_nan() {
            out.uncovered += 1;
            if out.first_gap.is_none() {
                out.first_gap = Some((t, t));
            }
            if let Some((_, last)) = &mut out.first_gap
                && *last == t - SLOT_S
            {
                *last = t;
            }
        }
    }
}

/// Adds immediate boluses to their slots. A bolus in a slot of unknown basal leaves it NaN
/// (only counted): a partial total would look like a known one.
fn add_boluses(p: &Pump, start: i64, n: usize, basal_known: bool, out: &mut PumpChannels) {
    for &(e, u) in &p.boluses {
        if let Some(j) = slot_of(e, start, n) {
            let v = &mut out.insulin[j];
            if !v.is_nan() {
                *v += u;
            } else if !basal_known {
                *v = u;
            } else {
                out.boluses_in_gaps += 1;
            }
        }
    }
}

/// What [`pump_channels`] computes for one patient.
#[derive(Default)]
struct PumpChannels {
    insulin: Vec<f64>,
    carbs: Vec<f64>,
    /// Whether the patient has any basal record (otherwise insulin = boluses only).
    basal_records: bool,
    /// Slots inside the pump span whose basal is unknown (no record covers them).
    uncovered: usize,
    /// First and last slot time of the first run of such slots.
    first_gap: Option<(i64, i64)>,
    /// Boluses that fell in such slots (their slot stays NaN).
    boluses_in_gaps: usize,
}

/// Reads the REPLACE-BG tables into one 5-min series per patient (`id` = PtID).
pub fn load(opts: &SourceOptions) -> Result<SourceOutput> {
    load_with_progress(opts, &crate::progress::ignore)
}

/// [`load`], reporting each table when parsed: CGM, uploads, bolus, basal, wizard (those
/// present).
pub fn load_with_progress(opts: &SourceOptions, progress: Progress) -> Result<SourceOutput> {
    require_exists(&opts.raw_path)?;
    let stated = opts.glucose_unit_override()?;
    let base = opts.base_seconds()?;
    let (cgm_path, dir) = resolve(&opts.raw_path);
    let mut out = SourceOutput::default();
    let w = &mut out.warnings;
    let readings = read_cgm_readings(&cgm_path, base, stated, w)?;
    progress(ProgressEvent::Parsed {
        path: cgm_path.clone(),
    });
    let uploads = read_uploads_if_present(&dir, progress)?;
    let basal_present = dir.join(BASAL_FILE).is_file();
    let pumps = read_pump_tables(&dir, base, &uploads, progress, w)?;
    let merged = build_series(readings, &pumps, basal_present, &mut out);
    if merged > 0 {
        out.warnings.push(format!(
            "{}: {merged} readings fell in an already-filled 5-min slot (sensor restart); kept the later",
            file_name(&cgm_path)
        ));
    }
    Ok(out)
}

/// The CGM readings in mmol/L, checked and without duplicates, sorted by (PtID, time).
fn read_cgm_readings(
    cgm_path: &Path,
    base: i64,
    stated: Option<GlucoseUnit>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Reading>> {
    let mut readings = read_cgm(cgm_path, base, warnings)?;
    normalise_values(cgm_path, &mut readings, stated, warnings)?;
    Ok(dedupe(cgm_path, readings, warnings))
}

/// The upload sources by upload id when `HDeviceUploads.txt` exists (it tells the unit of
/// extended-bolus durations), else none.
fn read_uploads_if_present(dir: &Path, progress: Progress) -> Result<HashMap<String, String>> {
    let uploads_path = dir.join(UPLOADS_FILE);
    if !uploads_path.is_file() {
        return Ok(HashMap::new());
    }
    let u = read_uploads(&uploads_path)?;
    progress(ProgressEvent::Parsed { path: uploads_path });
    Ok(u)
}

/// Per-patient pump events from the bolus, basal and wizard tables that exist in `dir`, with
/// one warning naming those that do not (their channels stay missing rather than zero).
fn read_pump_tables(
    dir: &Path,
    base: i64,
    uploads: &HashMap<String, String>,
    progress: Progress,
    w: &mut Vec<String>,
) -> Result<BTreeMap<String, Pump>> {
    let mut pumps: BTreeMap<String, Pump> = BTreeMap::new();
    let mut missing = Vec::new();
    for (f, is_present) in [BOLUS_FILE, BASAL_FILE, WIZARD_FILE].map(|f| (f, dir.join(f).is_file()))
    {
        if !is_present {
            missing.push(f);
            continue;
        }
        let p = dir.join(f);
        match f {
            BOLUS_FILE => read_bolus(&p, base, uploads, &mut pumps, w)?,
            BASAL_FILE => read_basal(&p, base, &mut pumps, w)?,
            _ => read_wizard(&p, base, &mut pumps)?,
        }
        progress(ProgressEvent::Parsed { path: p });
    }
    if !missing.is_empty() {
        w.push(format!(
            "{}: {} not found; their insulin/carbs are missing (NaN)",
            dir.display(),
            missing.join(", ")
        ));
    }
    Ok(pumps)
}

/// Groups the readings by patient and pushes one 5-min series per patient (in PtID order)
/// with its basal warnings. Returns how many readings fell in an already-filled slot.
fn build_series(
    readings: Vec<Reading>,
    pumps: &BTreeMap<String, Pump>,
    basal_present: bool,
    out: &mut SourceOutput,
) -> usize {
    let mut by_pt: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for r in readings {
        by_pt.entry(r.pt).or_default().push((r.t, r.value));
    }
    let mut merged = 0usize;
    for (pt, rs) in by_pt {
        let (start, bg, m) = snap_to_grid(&rs);
        merged += m;
        let n = bg.len();
        let pc = pump_channels(pumps.get(&pt), start, n);
        let has_pump = pumps.contains_key(&pt);
        basal_warnings(&pt, &pc, basal_present && has_pump, &mut out.warnings);
        out.series.push(patient_series(pt, start, bg, pc));
    }
    merged
}

/// A patient's readings (sorted by time; dedupe sorted by pt, t) on the 5-min grid from the
/// first to the last reading's slot. Returns (first slot time, bg per slot, readings that
/// fell in an already-filled slot: the later one wins).
fn snap_to_grid(rs: &[(i64, f64)]) -> (i64, Vec<f64>, usize) {
    let start = rs[0].0.div_euclid(SLOT_S) * SLOT_S;
    let end = rs[rs.len() - 1].0.div_euclid(SLOT_S) * SLOT_S;
    let n = ((end - start) / SLOT_S + 1) as usize;
    let mut bg = vec![f64::NAN; n];
    let mut merged = 0usize;
    for &(t, v) in rs {
        let j = ((t.div_euclid(SLOT_S) * SLOT_S - start) / SLOT_S) as usize;
        if !bg[j].is_nan() {
            merged += 1;
        }
        bg[j] = v; // the later reading wins
    }
    (start, bg, merged)
}

/// Warns when a patient in the pump tables has no basal record at all (`expect_basal`: the
/// basal table exists and the patient has pump rows), and when basal records leave slots
/// uncovered, so a reader knows why insulin is boluses only or missing there.
fn basal_warnings(pt: &str, pc: &PumpChannels, expect_basal: bool, warnings: &mut Vec<String>) {
    if expect_basal && !pc.basal_records {
        warnings.push(format!(
            "{BASAL_FILE}: PtID {pt} has no basal records; its insulin holds boluses only"
        ));
    }
    if let Some((a, b)) = pc.first_gap {
        warnings.push(format!(
            "{BASAL_FILE}: PtID {pt}: {} five-minute slots are covered by no basal record (first: the slots ending {} to {}); their insulin is missing (NaN), not 0 U{}",
            pc.uncovered,
            super::clock::format_datetime(a),
            super::clock::format_datetime(b),
            if pc.boluses_in_gaps > 0 {
                format!(", including {} bolus(es)", pc.boluses_in_gaps)
            } else {
                String::new()
            }
        ));
    }
}

/// The patient's series: `bg`, `insulin`, `carbs` every 5 min from `start`.
fn patient_series(pt: String, start: i64, bg: Vec<f64>, pc: PumpChannels) -> Series {
    let n = bg.len();
    let (insulin, carbs) = (pc.insulin, pc.carbs);
    Series {
        id: pt,
        timestamps: (0..n as i64).map(|j| start + j * SLOT_S).collect(),
        interval_min: 5,
        channels: vec![
            Channel {
                name: "bg".into(),
                values: bg,
            },
            Channel {
                name: "insulin".into(),
                values: insulin,
            },
            Channel {
                name: "carbs".into(),
                values: carbs,
            },
        ],
        unit: Some(MMOL_PER_L.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// Basal coverage: 1.2 U/h scheduled 00:00-01:00, nothing 01:00-01:30, a 50 % temp over
    /// the uncovered 01:30-01:40 (still unknown: 50 % of an unknown rate), then a temp with a
    /// Rate 0.6 U/h 01:40-02:00 (known). Slots: 00:05 .. 02:00.
    #[test]
    fn uncovered_basal_is_missing_not_zero() {
        let p = Pump {
            scheduled: vec![(0, H, 1.2)],
            overrides: vec![
                (H + 30 * 60, H + 40 * 60, None, 0.5),
                (H + 40 * 60, 2 * H, Some(0.6), 0.5),
            ],
            boluses: vec![(H + 10 * 60, 2.0), (30 * 60, 1.0), (28 * 60 + 30, 0.5)],
            ..Pump::default()
        };
        let pc = pump_channels(Some(&p), 5 * 60, 24);
        let ins = &pc.insulin;
        // 00:05 .. 01:00: 0.1 U per slot; the bolus at 00:28:30 is in [00:25, 00:30) and the
        // one at exactly 00:30:00 in [00:30, 00:35).
        assert!(close(ins[0], 0.1) && close(ins[11], 0.1));
        assert!(close(ins[5], 0.6) && close(ins[6], 1.1), "{ins:?}");
        // 01:05 .. 01:40 unknown (the 01:10 bolus does not make its slot known).
        assert!(ins[12..20].iter().all(|v| v.is_nan()), "{ins:?}");
        // 01:45 .. 02:00: 0.6 U/h = 0.05 U per slot.
        assert!(ins[20..24].iter().all(|&v| close(v, 0.05)), "{ins:?}");
        assert_eq!(pc.uncovered, 8);
        assert_eq!(pc.first_gap, Some((H + 5 * 60, H + 40 * 60)));
        assert_eq!(pc.boluses_in_gaps, 1);
        assert!(pc.basal_records);
    }

    /// Without any basal record the channel holds boluses only (0 U elsewhere in the span).
    #[test]
    fn no_basal_records_means_boluses_only() {
        let p = Pump {
            boluses: vec![(10 * 60, 2.0), (40 * 60, 1.5)],
            ..Pump::default()
        };
        let pc = pump_channels(Some(&p), 5 * 60, 10);
        let ins = &pc.insulin;
        // 00:10:00 -> the 00:15 slot, 00:40:00 -> 00:45; the slots before 00:15 cover time
        // before the first record (unknown), later ones without a bolus hold 0 U.
        assert!(ins[0].is_nan() && ins[1].is_nan());
        assert_eq!(ins[2], 2.0);
        assert_eq!(ins[8], 1.5);
        assert_eq!(ins[3], 0.0);
        assert_eq!(ins[7], 0.0);
        assert!(ins[9].is_nan()); // after the last record
        assert!(!pc.basal_records);
        assert_eq!(pc.uncovered, 0);
    }
}
