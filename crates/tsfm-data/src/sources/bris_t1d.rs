//! The Kaggle BrisT1D competition files (`train.csv`, `test.csv`).
//!
//! Each row is a 6-hour window ending at `time` (a time of day, no date): 72 five-minute
//! offsets `-5:55 … -0:00` for each of `bg` (mmol/L), `insulin` (U in the 5 min ending at the
//! offset), `carbs` (g), `hr` (bpm), `steps`, `cals` (kcal) and `activity` (a label), plus the
//! target `bg+1:00`. Train rows of a participant are chronological and overlap.
//!
//! # How a participant's continuous series is rebuilt (train)
//! * Dates: the first row of a participant is placed on `base_date`. Each following row is
//!   placed `(time - previous time) mod 24 h` later, so when the time of day goes backwards
//!   (or stays equal... see below) the row is on the next day. A gap of 24 h or more between
//!   two rows cannot be seen from times of day alone and is taken as the shorter gap.
//!   Two consecutive rows with the same time are refused as a duplicate.
//! * Values: every row's `*-0:00` cells give the values at the row's own time. Rows missing
//!   from the file (Kaggle dropped rows whose target was missing) leave holes that the lag
//!   cells of the next row fill: a five-minute slot takes its values from the row that
//!   covers it at the smallest offset, so `-0:00` cells win and lags only fill what no row
//!   reports itself. The first row's lags give the 5 h 55 min before it.
//! * Interval: the most frequent time step between a participant's rows. 5 min for Dexcom
//!   users; 15 min for Libre-like users, whose rows come every 15 min and whose `bg` cells are
//!   filled at every third offset. Their series stays at 15 min (or, with `resolution_min: 5`,
//!   is resampled, kept or dropped by `resample`, with a warning either way); the other
//!   channels are still recorded
//!   per 5 min, so a 15-min slot sums `insulin`, `carbs`, `steps` and `cals` over the three
//!   5-min cells ending at it (missing if all three are), averages `hr`, and takes the latest
//!   `activity`.
//! * `activity` labels become numeric codes: the order of `activities.txt` beside the file
//!   when present, then unseen labels in sorted order; the mapping is returned in
//!   `SourceOutput::categories["activity"]`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use crate::error::{DataError, InputErrorKind, Result};
use crate::series::{Channel, SECONDS_PER_DAY, Series};
use crate::sources::table::{Table, cell, file_name, not_a_number, parse_opt_f64};
use crate::sources::{SourceOptions, SourceOutput, modal_step, require_exists};
use crate::units::{GlucoseUnit, MMOL_PER_L, check_glucose_unit};

/// Numeric channels in file order; `activity` (categorical) comes last.
pub const NUMERIC_CHANNELS: [&str; 6] = ["bg", "insulin", "carbs", "hr", "steps", "cals"];
pub const ACTIVITY: &str = "activity";
/// Offsets per row and their spacing.
pub const LAGS: usize = 72;
const STEP_S: i64 = 300;
pub const TARGET_COLUMN: &str = "bg+1:00";

/// How a channel is combined when several 5-min cells make one coarser slot.
#[derive(Clone, Copy)]
enum Agg {
    Last,
    Sum,
    Mean,
}
const AGG: [Agg; 6] = [Agg::Last, Agg::Sum, Agg::Sum, Agg::Mean, Agg::Sum, Agg::Sum];

/// Column label of lag `k` (0 = `-0:00`, 71 = `-5:55`) of `channel`.
pub fn lag_column(channel: &str, k: usize) -> String {
    let m = k * 5;
    format!("{channel}-{}:{:02}", m / 60, m % 60)
}

/// The files the train source reads: the CSV and, when present, `activities.txt` beside it.
pub fn raw_files(raw_path: &Path) -> Vec<PathBuf> {
    let csv = resolve_train(raw_path);
    let mut v = vec![csv.clone()];
    if let Some(a) = activities_path(&csv) {
        v.push(a);
    }
    v
}

/// `raw_path` itself, or `train.csv` / `train.csv.gz` inside it when it is a folder.
fn resolve_train(raw_path: &Path) -> PathBuf {
    if raw_path.is_dir() {
        let plain = raw_path.join("train.csv");
        if plain.exists() {
            return plain;
        }
        return raw_path.join("train.csv.gz");
    }
    raw_path.to_path_buf()
}

fn activities_path(csv: &Path) -> Option<PathBuf> {
    let p = csv.parent()?.join("activities.txt");
    p.is_file().then_some(p)
}

/// Column indices of a BrisT1D file, bound by header name.
struct Layout {
    id: usize,
    p_num: usize,
    time: usize,
    /// `lags[c][k]`: column of numeric channel `c` at lag `k`.
    lags: [[usize; LAGS]; 6],
    activity: [usize; LAGS],
    target: Option<usize>,
}

impl Layout {
    fn bind(t: &Table, need_target: bool) -> Result<Layout> {
        let id = t.col("id")?;
        let p_num = t.col("p_num")?;
        let time = t.col("time")?;
        let mut lags = [[0usize; LAGS]; 6];
        for (c, name) in NUMERIC_CHANNELS.iter().enumerate() {
            for (k, slot) in lags[c].iter_mut().enumerate() {
                *slot = t.col(&lag_column(name, k))?;
            }
        }
        let mut activity = [0usize; LAGS];
        for (k, slot) in activity.iter_mut().enumerate() {
            *slot = t.col(&lag_column(ACTIVITY, k))?;
        }
        let target = if need_target {
            Some(t.col(TARGET_COLUMN)?)
        } else {
            t.find(TARGET_COLUMN)
        };
        Ok(Layout {
            id,
            p_num,
            time,
            lags,
            activity,
            target,
        })
    }
}

/// Interns activity labels while reading; codes are remapped to the final order at the end.
#[derive(Default)]
struct Labels {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Labels {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.ids.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_string());
        self.ids.insert(s.to_string(), i);
        i
    }

    /// Final label order: `known` first, then unseen labels sorted. Returns the mapping from
    /// intern id to final code, and the final label list.
    fn finish(&self, known: &[String]) -> (Vec<f64>, Vec<String>) {
        let mut order: Vec<String> = known.to_vec();
        let unseen: BTreeSet<&String> = self.names.iter().filter(|n| !known.contains(n)).collect();
        order.extend(unseen.into_iter().cloned());
        let remap = self
            .names
            .iter()
            .map(|n| order.iter().position(|o| o == n).unwrap_or(0) as f64)
            .collect();
        (remap, order)
    }
}

/// One parsed row: numeric cells by channel and lag, activity intern ids (NaN = empty).
struct RowCells {
    num: [[f64; LAGS]; 6],
    act: [f64; LAGS],
    target: f64,
}

impl RowCells {
    fn new() -> Self {
        RowCells {
            num: [[f64::NAN; LAGS]; 6],
            act: [f64::NAN; LAGS],
            target: f64::NAN,
        }
    }
}

fn read_cells(
    path: &Path,
    line: u64,
    rec: &csv::ByteRecord,
    layout: &Layout,
    header: &[String],
    labels: &mut Labels,
    out: &mut RowCells,
) -> Result<()> {
    for c in 0..6 {
        for k in 0..LAGS {
            let col = layout.lags[c][k];
            let s = cell(rec, col);
            out.num[c][k] = match parse_opt_f64(s) {
                Ok(v) => v.unwrap_or(f64::NAN),
                Err(_) => return Err(not_a_number(path, line, &header[col], s)),
            };
        }
    }
    for k in 0..LAGS {
        let s = cell(rec, layout.activity[k]);
        out.act[k] = if s.is_empty() {
            f64::NAN
        } else {
            labels.intern(s) as f64
        };
    }
    out.target = match layout.target {
        None => f64::NAN,
        Some(col) => {
            let s = cell(rec, col);
            match parse_opt_f64(s) {
                Ok(v) => v.unwrap_or(f64::NAN),
                Err(_) => return Err(not_a_number(path, line, TARGET_COLUMN, s)),
            }
        }
    };
    Ok(())
}

fn parse_time(path: &Path, line: u64, s: &str) -> Result<i64> {
    super::clock::parse_time_of_day(s).ok_or_else(|| {
        DataError::input(
            InputErrorKind::BadTime,
            path,
            Some(line),
            Some("time"),
            format!("time \"{s}\" is not a time of day HH:MM:SS"),
        )
    })
}

/// A participant's series being rebuilt on a 5-min axis starting at `origin`.
struct Builder {
    p_num: String,
    origin: i64,
    last_abs: i64,
    last_tod: i64,
    last_line: u64,
    row_times: Vec<i64>,
    /// Smallest lag that filled each slot (`u8::MAX` = not filled yet).
    best: Vec<u8>,
    /// Channel values per slot: 6 numeric then activity.
    values: [Vec<f64>; 7],
}

impl Builder {
    fn new(p_num: &str, first_abs: i64, tod: i64, line: u64) -> Self {
        Builder {
            p_num: p_num.to_string(),
            origin: first_abs - (LAGS as i64 - 1) * STEP_S,
            last_abs: first_abs,
            last_tod: tod,
            last_line: line,
            row_times: Vec::new(),
            best: Vec::new(),
            values: Default::default(),
        }
    }

    fn add_row(&mut self, abs: i64, cells: &RowCells) {
        self.row_times.push(abs);
        let newest = ((abs - self.origin) / STEP_S) as usize;
        if self.best.len() <= newest {
            self.best.resize(newest + 1, u8::MAX);
            for v in &mut self.values {
                v.resize(newest + 1, f64::NAN);
            }
        }
        for k in 0..LAGS.min(newest + 1) {
            let slot = newest - k;
            if (k as u8) < self.best[slot] {
                self.best[slot] = k as u8;
                for c in 0..6 {
                    self.values[c][slot] = cells.num[c][k];
                }
                self.values[6][slot] = cells.act[k];
            }
        }
    }

    /// Builds the series at the participant's own interval (a multiple of 5 min).
    fn finish(self, remap: &[f64], unit: GlucoseUnit) -> Series {
        let interval_s = modal_step(&self.row_times).unwrap_or(STEP_S);
        // A step that is not a multiple of 5 min cannot happen (rows are checked on entry).
        let g = (interval_s / STEP_S).max(1) as usize;
        let n5 = self.best.len();
        let last = n5 - 1;
        // Coarse slots end at the last row's time and go back while all their cells exist.
        let count = (last + 1) / g;
        let first = last + 1 - count * g; // first 5-min cell of the first coarse slot
        let mut timestamps = Vec::with_capacity(count);
        let mut channels: Vec<Channel> = NUMERIC_CHANNELS
            .iter()
            .chain(std::iter::once(&ACTIVITY))
            .map(|n| Channel {
                name: n.to_string(),
                values: Vec::with_capacity(count),
            })
            .collect();
        for j in 0..count {
            let lo = first + j * g;
            let hi = lo + g - 1; // the coarse slot's own time
            timestamps.push(self.origin + hi as i64 * STEP_S);
            for (c, ch) in channels.iter_mut().enumerate().take(6) {
                let cells = &self.values[c][lo..=hi];
                let v = match AGG[c] {
                    Agg::Last => cells[g - 1],
                    Agg::Sum | Agg::Mean => {
                        let (s, n) = cells
                            .iter()
                            .filter(|x| !x.is_nan())
                            .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
                        match (n, AGG[c]) {
                            (0, _) => f64::NAN,
                            (_, Agg::Mean) => s / n as f64,
                            _ => s,
                        }
                    }
                };
                ch.values.push(if c == 0 { unit.to_mmol(v) } else { v });
            }
            let act = self.values[6][lo..=hi]
                .iter()
                .rev()
                .find(|x| !x.is_nan())
                .copied();
            channels[6]
                .values
                .push(act.map_or(f64::NAN, |a| remap[a as usize]));
        }
        Series {
            id: self.p_num,
            timestamps,
            interval_min: (g as i64 * STEP_S / 60) as u32,
            channels,
            unit: Some(MMOL_PER_L.to_string()),
        }
    }
}

fn read_activities(path: Option<&Path>) -> Result<Vec<String>> {
    let Some(p) = path else { return Ok(Vec::new()) };
    let text = std::fs::read_to_string(p).map_err(|e| DataError::io(p, e))?;
    let mut v: Vec<String> = Vec::new();
    for l in text.lines() {
        let l = l.trim().trim_start_matches('\u{feff}');
        if !l.is_empty() && !v.iter().any(|x| x == l) {
            v.push(l.to_string());
        }
    }
    Ok(v)
}

/// Known activity labels: those passed in (e.g. from the train cache), else `activities.txt`.
fn known_labels(csv: &Path, known: Option<&[String]>) -> Result<Vec<String>> {
    match known {
        Some(k) => Ok(k.to_vec()),
        None => read_activities(activities_path(csv).as_deref()),
    }
}

/// Reads a BrisT1D `train.csv` (or `.csv.gz`) into one series per participant.
pub fn load_train(opts: &SourceOptions) -> Result<SourceOutput> {
    require_exists(&opts.raw_path)?;
    let path = resolve_train(&opts.raw_path);
    let unit_override = opts.glucose_unit_override()?;
    let base = opts.base_seconds()?;
    let (participants, labels) = read_train_rows(&path, base)?;
    finish_train(&path, unit_override, participants, labels)
}

/// Participants' series being rebuilt, in order of first appearance, found by `p_num`.
#[derive(Default)]
struct Participants {
    builders: Vec<Builder>,
    by_pnum: HashMap<String, usize>,
}

impl Participants {
    /// The builder of `p_num`, moved on to this row's time of day `tod`: a new one placed on
    /// `base` for a first row, else one placed `(tod - previous time) mod 24 h` after the
    /// participant's previous row. Refuses a repeated time or a step that is not a multiple of
    /// 5 min, which no CGM export produces.
    fn advance(
        &mut self,
        path: &Path,
        line: u64,
        p_num: &str,
        tod: i64,
        time_cell: &str,
        base: i64,
    ) -> Result<&mut Builder> {
        let Some(&i) = self.by_pnum.get(p_num) else {
            self.by_pnum.insert(p_num.to_string(), self.builders.len());
            self.builders
                .push(Builder::new(p_num, base + tod, tod, line));
            return Ok(self.builders.last_mut().expect("just pushed"));
        };
        let b = &mut self.builders[i];
        let step = (tod - b.last_tod).rem_euclid(SECONDS_PER_DAY);
        if step == 0 {
            return Err(DataError::input(
                InputErrorKind::Duplicate,
                path,
                Some(line),
                Some("time"),
                format!(
                    "{p_num} at {time_cell} repeats the time of its previous row (line {}); \
                     rows of a participant must be chronological without duplicates",
                    b.last_line
                ),
            ));
        }
        if step % STEP_S != 0 {
            return Err(DataError::input(
                InputErrorKind::BadTime,
                path,
                Some(line),
                Some("time"),
                format!(
                    "time {time_cell} is not a multiple of 5 min after the previous {p_num} row"
                ),
            ));
        }
        b.last_abs += step;
        b.last_tod = tod;
        b.last_line = line;
        Ok(b)
    }
}

/// Errors when submission id `id` was already seen (on another line); records it otherwise.
fn check_unique_id(
    path: &Path,
    line: u64,
    id: &str,
    seen_ids: &mut HashMap<String, u64>,
) -> Result<()> {
    if let Some(first) = seen_ids.insert(id.to_string(), line) {
        return Err(DataError::input(
            InputErrorKind::Duplicate,
            path,
            Some(line),
            Some("id"),
            format!("id \"{id}\" already appears on line {first}; ids must be unique"),
        ));
    }
    Ok(())
}

/// Reads every train row into its participant's builder, interning activity labels on the
/// way. Errors on a file without data rows.
fn read_train_rows(path: &Path, base: i64) -> Result<(Participants, Labels)> {
    let mut table = Table::open(path, b',')?;
    let layout = Layout::bind(&table, true)?;
    let header = table.header.clone();
    let mut labels = Labels::default();
    let mut cells = RowCells::new();
    let mut participants = Participants::default();
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    let mut rows = 0usize;
    while let Some((line, rec)) = table.next_row()? {
        rows += 1;
        let id = cell(rec, layout.id);
        let p_num = cell(rec, layout.p_num).to_string();
        if p_num.is_empty() {
            return Err(DataError::input(
                InputErrorKind::BadValue,
                path,
                Some(line),
                Some("p_num"),
                "p_num is empty",
            ));
        }
        check_unique_id(path, line, id, &mut seen_ids)?;
        let time_cell = cell(rec, layout.time);
        let tod = parse_time(path, line, time_cell)?;
        read_cells(path, line, rec, &layout, &header, &mut labels, &mut cells)?;
        let b = participants.advance(path, line, &p_num, tod, time_cell, base)?;
        let abs = b.last_abs;
        b.add_row(abs, &cells);
    }
    if rows == 0 {
        return Err(DataError::input(
            InputErrorKind::NoRows,
            path,
            None,
            None,
            "the file has a header but no data rows",
        ));
    }
    Ok((participants, labels))
}

/// Settles the glucose unit and the activity codes, then builds each participant's series
/// (sorted by id). The unit needs every participant's `bg` cells, so it comes after reading.
fn finish_train(
    path: &Path,
    unit_override: Option<GlucoseUnit>,
    participants: Participants,
    labels: Labels,
) -> Result<SourceOutput> {
    let builders = participants.builders;
    let unit = glucose_unit(
        path,
        unit_override,
        builders.iter().flat_map(|b| b.values[0].iter().copied()),
    )?;
    let known = known_labels(path, None)?;
    let (remap, order) = labels.finish(&known);
    let mut out = SourceOutput::default();
    if unit_override == Some(GlucoseUnit::MgDl) {
        out.warnings.push(format!(
            "{}: bg converted from mg/dL (unit_override)",
            file_name(path)
        ));
    }
    out.series = builders
        .into_iter()
        .map(|b| b.finish(&remap, unit))
        .collect();
    out.series.sort_by(|a, b| a.id.cmp(&b.id));
    out.categories.insert(ACTIVITY.to_string(), order);
    Ok(out)
}

/// The unit the bg values are in: the stated one, or mmol/L after checking the values fit.
fn glucose_unit(
    path: &Path,
    stated: Option<GlucoseUnit>,
    bg: impl IntoIterator<Item = f64>,
) -> Result<GlucoseUnit> {
    match stated {
        Some(u) => Ok(u),
        None => {
            check_glucose_unit(path, "bg", GlucoseUnit::MmolL, bg)?;
            Ok(GlucoseUnit::MmolL)
        }
    }
}

/// One `test.csv` row: a 6-hour context to forecast from, with its submission `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct TestContext {
    /// The submission id (`p01_8459`).
    pub id: String,
    pub p_num: String,
    /// The row's `time` as seconds after midnight (the context ends then).
    pub time_of_day_s: i64,
    /// The context (id = the submission id), ending at `base_date` + `time`; 72 slots at
    /// 5 min, or 24 at 15 min for Libre-like rows, channels as in the train series.
    pub series: Series,
    /// `bg+1:00` when the file has that column (mmol/L), for scoring.
    pub target: Option<f64>,
}

/// The builder of a one-row test context ending at `abs` (named by the submission `id`). A
/// single row has no step to take the interval from, so a Libre-like row (at least 6 `bg`
/// cells, all at offsets that are multiples of 15 min) gets a virtual earlier row that makes
/// its interval 15 min.
fn context_builder(id: &str, abs: i64, tod: i64, line: u64, cells: &RowCells) -> Builder {
    let mut b = Builder::new(id, abs, tod, line);
    b.add_row(abs, cells);
    let present: Vec<usize> = (0..LAGS).filter(|&k| !cells.num[0][k].is_nan()).collect();
    if present.len() >= 6 && present.iter().all(|k| k % 3 == 0) {
        // A second, virtual row 15 min earlier makes the modal step 15 min; it adds no cells.
        b.row_times.insert(0, abs - 3 * STEP_S);
    }
    b
}

/// Reads a BrisT1D `test.csv` into evaluation contexts, in file order.
///
/// `known_activities` is the train mapping (`SourceOutput::categories["activity"]`) so codes
/// agree with the training series; `None` uses `activities.txt` beside the file.
/// A row is taken as 15-min (Libre-like) when it has at least 6 `bg` cells and all of them are
/// at offsets that are multiples of 15 min; otherwise 5-min.
pub fn load_test_contexts(
    path: &Path,
    opts: &SourceOptions,
    known_activities: Option<&[String]>,
) -> Result<(Vec<TestContext>, Vec<String>)> {
    require_exists(path)?;
    let unit_override = opts.glucose_unit_override()?;
    let base = opts.base_seconds()?;
    let mut table = Table::open(path, b',')?;
    let layout = Layout::bind(&table, false)?;
    let header = table.header.clone();
    let mut labels = Labels::default();
    let mut cells = RowCells::new();
    let mut seen_ids: HashMap<String, u64> = HashMap::new();
    let mut pending: Vec<(String, Builder, f64)> = Vec::new();
    while let Some((line, rec)) = table.next_row()? {
        let id = cell(rec, layout.id).to_string();
        check_unique_id(path, line, &id, &mut seen_ids)?;
        let p_num = cell(rec, layout.p_num).to_string();
        let tod = parse_time(path, line, cell(rec, layout.time))?;
        read_cells(path, line, rec, &layout, &header, &mut labels, &mut cells)?;
        let b = context_builder(&id, base + tod, tod, line, &cells);
        pending.push((p_num, b, cells.target));
    }
    if pending.is_empty() {
        return Err(DataError::no_rows(path));
    }
    let unit = glucose_unit(
        path,
        unit_override,
        pending
            .iter()
            .flat_map(|(_, b, _)| b.values[0].iter().copied()),
    )?;
    let known = known_labels(path, known_activities)?;
    let (remap, order) = labels.finish(&known);
    let mut warnings = Vec::new();
    if order.len() > known.len() && !known.is_empty() {
        warnings.push(format!(
            "{}: activity labels not seen in training: {:?} (given new codes)",
            file_name(path),
            &order[known.len()..]
        ));
    }
    let contexts = pending
        .into_iter()
        .map(|(p_num, b, target)| {
            let id = b.p_num.clone();
            let tod = b.last_tod;
            TestContext {
                id,
                p_num,
                time_of_day_s: tod,
                series: b.finish(&remap, unit),
                target: (!target.is_nan()).then(|| unit.to_mmol(target)),
            }
        })
        .collect();
    Ok((contexts, warnings))
}

/// Reads a submission-style `id,bg+1:00` file (e.g. the demo's `test_targets.csv`) into a map.
pub fn load_targets(path: &Path) -> Result<BTreeMap<String, f64>> {
    let mut t = Table::open(path, b',')?;
    let id = t.col("id")?;
    let target = t.col(TARGET_COLUMN)?;
    let mut out = BTreeMap::new();
    while let Some((line, rec)) = t.next_row()? {
        let s = cell(rec, target);
        let v = match parse_opt_f64(s) {
            Ok(Some(v)) => v,
            _ => return Err(not_a_number(path, line, TARGET_COLUMN, s)),
        };
        out.insert(cell(rec, id).to_string(), v);
    }
    Ok(out)
}
