//! The processed-series cache.
//!
//! `{cache_root}/{dataset}/processed/` holds one Parquet file per series
//! (`{sanitised id}.parquet`: an INT64 `timestamp` column, naive milliseconds since
//! 1970-01-01, then one DOUBLE column per channel, NaN = missing; the id, interval and unit in
//! the file's key-value metadata) and `manifest.json` (source kind, options, raw file sizes and
//! SHA-256, pipeline version, per-series rows/interval/unit, warnings, category maps).
//!
//! [`CacheManager::load`] re-runs the source only when the pipeline version, the options or a
//! raw file's content changed. [`CacheManager::prepare`] builds the whole folder in a temporary
//! sibling and swaps it in with renames, so a failed prepare (a bad raw file, a full disk)
//! leaves the previous cache exactly as it was.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DataError, Result};
use crate::progress::{self, Progress, ProgressEvent};
use crate::series::{Channel, Series};
use crate::sources::{self, SourceOptions, SourceOutput, clock};

/// Bump when a source or the file layout changes what a prepare produces. 3: series at
/// another interval than `resolution_min` are resampled by default (`SourceOptions::resample`).
pub const PIPELINE_VERSION: u32 = 3;
pub const MANIFEST_FILE: &str = "manifest.json";
pub const PROCESSED_DIR: &str = "processed";
/// Beside `processed/`: the lock that serialises writers of one dataset's cache.
pub const LOCK_FILE: &str = ".lock";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawFileEntry {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesEntry {
    pub id: String,
    /// File name inside `processed/`.
    pub file: String,
    pub rows: usize,
    pub interval_min: u32,
    pub unit: Option<String>,
    pub channels: Vec<String>,
    /// First and last timestamp, `YYYY-MM-DD HH:MM`.
    pub start: Option<String>,
    pub end: Option<String>,
    /// Size and SHA-256 of the file as written: a file damaged later (truncated, overwritten,
    /// a bad copy) is found when the cache is read. Absent in caches of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub pipeline_version: u32,
    pub dataset: String,
    pub source_kind: String,
    pub options: SourceOptions,
    pub raw_files: Vec<RawFileEntry>,
    pub series: Vec<SeriesEntry>,
    pub warnings: Vec<String>,
    pub categories: BTreeMap<String, Vec<String>>,
}

/// What `prepare`/`load` return.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub manifest: Manifest,
    pub series: Vec<Series>,
    /// True when the source ran (the cache was built or rebuilt), false when read from cache.
    pub rebuilt: bool,
    /// Why an up-to-date cache was rebuilt anyway: a damaged file, named.
    pub repaired: Option<String>,
}

/// Manages `{root}/{dataset}/processed/`.
#[derive(Debug, Clone)]
pub struct CacheManager {
    root: PathBuf,
}

impl CacheManager {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        CacheManager { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `{root}/{dataset}/processed`.
    pub fn processed_dir(&self, dataset: &str) -> Result<PathBuf> {
        check_dataset_name(dataset)?;
        Ok(self.root.join(dataset).join(PROCESSED_DIR))
    }

    /// Runs the source and writes the cache, replacing any previous one atomically.
    pub fn prepare(&self, dataset: &str, opts: &SourceOptions) -> Result<Prepared> {
        self.prepare_with_progress(dataset, opts, &progress::ignore)
    }

    /// [`CacheManager::prepare`], reporting progress: [`ProgressEvent::Hashing`] per raw
    /// file, [`ProgressEvent::Parsed`] per file parsed, [`ProgressEvent::Written`] per series.
    pub fn prepare_with_progress(
        &self,
        dataset: &str,
        opts: &SourceOptions,
        progress: Progress,
    ) -> Result<Prepared> {
        let dir = self.processed_dir(dataset)?;
        // The raw files are read before taking the lock: they are not the cache, and a file
        // refused here leaves no cache folder behind.
        let raw = fingerprint_with_progress(opts, progress)?;
        let out = sources::load_with_progress(opts, progress)?;
        let _lock = self.lock(dataset, progress)?;
        write_locked(&dir, dataset, opts, raw, out, progress)
    }

    /// Serialises everything that checks or replaces the cache of `dataset` between processes:
    /// two `tsfm data prepare` (or trainings) on one cache would otherwise both rebuild it and
    /// race to swap their folders in. `None` when the cache's folder is read-only (a shared,
    /// prepared cache): nobody can replace it then, and reading needs no lock.
    fn lock(&self, dataset: &str, progress: Progress) -> Result<Option<tsfm_io::FileLock>> {
        let dir = self.processed_dir(dataset)?;
        let path = dir
            .parent()
            .expect("processed dir has a parent")
            .join(LOCK_FILE);
        let waiting = || progress(ProgressEvent::WaitingForLock { path: path.clone() });
        match tsfm_io::lock_exclusive(&path, waiting) {
            Ok(lock) => Ok(Some(lock)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(DataError::io(&path, e)),
        }
    }

    fn prepare_locked(
        &self,
        dataset: &str,
        opts: &SourceOptions,
        progress: Progress,
    ) -> Result<Prepared> {
        let dir = self.processed_dir(dataset)?;
        let raw = fingerprint_with_progress(opts, progress)?;
        let out = sources::load_with_progress(opts, progress)?;
        write_locked(&dir, dataset, opts, raw, out, progress)
    }

    /// Reads the cache when it is up to date with `opts` and the raw files; otherwise prepares.
    pub fn load(&self, dataset: &str, opts: &SourceOptions) -> Result<Prepared> {
        let _lock = self.lock(dataset, &progress::ignore)?;
        let dir = self.processed_dir(dataset)?;
        if let Some(m) = read_manifest_if_any(&dir)?
            && m.pipeline_version == PIPELINE_VERSION
            && m.options == *opts
            && m.raw_files == fingerprint(opts)?
        {
            match read_series(&dir, &m, &progress::ignore) {
                Ok(series) => {
                    return Ok(Prepared {
                        manifest: m,
                        series,
                        rebuilt: false,
                        repaired: None,
                    });
                }
                // A damaged cache file: the raw files are still there, so rebuild from them.
                Err(DataError::Cache { path, message }) => {
                    let mut prepared = self.prepare_locked(dataset, opts, &progress::ignore)?;
                    prepared.repaired = Some(format!(
                        "{}: {message}; the cache of `{dataset}` was rebuilt from the raw files",
                        path.display()
                    ));
                    return Ok(prepared);
                }
                Err(e) => return Err(e),
            }
        }
        self.prepare_locked(dataset, opts, &progress::ignore)
    }

    /// Reads whatever the cache holds for `dataset` (for `tsfm data inspect`), without
    /// checking the raw files.
    pub fn read(&self, dataset: &str) -> Result<(Manifest, Vec<Series>)> {
        self.read_with_progress(dataset, &progress::ignore)
    }

    /// [`CacheManager::read`], reporting [`ProgressEvent::Read`] per series.
    pub fn read_with_progress(
        &self,
        dataset: &str,
        progress: Progress,
    ) -> Result<(Manifest, Vec<Series>)> {
        let _lock = self.lock(dataset, progress)?;
        let dir = self.processed_dir(dataset)?;
        let m = read_manifest_if_any(&dir)?.ok_or_else(|| {
            DataError::options(
                "dataset",
                format!(
                    "no prepared data for \"{dataset}\" under {}; run `tsfm data prepare` first",
                    self.root.display()
                ),
            )
        })?;
        let s = read_series(&dir, &m, progress)?;
        Ok((m, s))
    }
}

fn check_dataset_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(DataError::options(
            "dataset",
            format!(
                "\"{name}\" is not a valid dataset name; use letters, digits, '-', '_' and '.'"
            ),
        ))
    }
}

/// Size and SHA-256 of every raw file the source reads.
pub fn fingerprint(opts: &SourceOptions) -> Result<Vec<RawFileEntry>> {
    fingerprint_with_progress(opts, &progress::ignore)
}

fn fingerprint_with_progress(
    opts: &SourceOptions,
    progress: Progress,
) -> Result<Vec<RawFileEntry>> {
    let files = sources::raw_files(opts)?;
    let total = files.len();
    files
        .into_iter()
        .enumerate()
        .map(|(index, p)| {
            progress(ProgressEvent::Hashing {
                index,
                total,
                path: p.clone(),
                bytes: std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0),
            });
            let (bytes, sha256) = file_digest(&p)?;
            Ok(RawFileEntry {
                path: p.display().to_string(),
                bytes,
                sha256,
            })
        })
        .collect()
}

/// Size and SHA-256 (hex) of a file.
fn file_digest(p: &Path) -> Result<(u64, String)> {
    let mut f = File::open(p).map_err(|e| DataError::io(p, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(|e| DataError::io(p, e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        h.update(&buf[..n]);
    }
    Ok((
        bytes,
        h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// A file-name-safe stem for a series id: ASCII letters, digits, `-`, `_`, `.` kept, anything
/// else becomes `_`; no leading dot; at most 80 characters.
pub fn sanitize_id(id: &str) -> String {
    let mut s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(80)
        .collect();
    while s.starts_with('.') {
        s.replace_range(0..1, "_");
    }
    if s.is_empty() {
        "series".to_string()
    } else {
        s
    }
}

/// File names for ids, unique even when sanitising maps two ids to one name (or two names
/// differ only in case, which some file systems merge): those get a hash suffix.
fn file_names(ids: &[&str]) -> Vec<String> {
    let mut seen: HashSet<String> = HashSet::new();
    ids.iter()
        .map(|id| {
            let stem = sanitize_id(id);
            let mut name = format!("{stem}.parquet");
            if !seen.insert(name.to_ascii_lowercase()) {
                let h: String = Sha256::digest(id.as_bytes())
                    .iter()
                    .take(4)
                    .map(|b| format!("{b:02x}"))
                    .collect();
                name = format!("{stem}-{h}.parquet");
                seen.insert(name.to_ascii_lowercase());
            }
            name
        })
        .collect()
}

fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

fn write_atomically(
    dir: &Path,
    dataset: &str,
    opts: &SourceOptions,
    raw_files: Vec<RawFileEntry>,
    out: &SourceOutput,
    progress: Progress,
) -> Result<Manifest> {
    let parent = dir.parent().expect("processed dir has a parent");
    std::fs::create_dir_all(parent).map_err(|e| DataError::io(parent, e))?;
    let tmp = parent.join(format!(".{PROCESSED_DIR}.tmp-{}", unique_suffix()));
    let result = (|| {
        std::fs::create_dir(&tmp).map_err(|e| DataError::io(&tmp, e))?;
        let ids: Vec<&str> = out.series.iter().map(|s| s.id.as_str()).collect();
        let names = file_names(&ids);
        let mut entries = Vec::with_capacity(out.series.len());
        let total = out.series.len();
        for (index, (s, name)) in out.series.iter().zip(names).enumerate() {
            write_series(&tmp.join(&name), s)?;
            let (bytes, sha256) = file_digest(&tmp.join(&name))?;
            progress(ProgressEvent::Written {
                index,
                total,
                id: s.id.clone(),
            });
            entries.push(SeriesEntry {
                id: s.id.clone(),
                file: name,
                rows: s.len(),
                interval_min: s.interval_min,
                unit: s.unit.clone(),
                channels: s.channels.iter().map(|c| c.name.clone()).collect(),
                start: s.timestamps.first().map(|&t| clock::format_datetime(t)),
                end: s.timestamps.last().map(|&t| clock::format_datetime(t)),
                bytes: Some(bytes),
                sha256: Some(sha256),
            });
        }
        let manifest = Manifest {
            pipeline_version: PIPELINE_VERSION,
            dataset: dataset.to_string(),
            source_kind: opts.kind.name().to_string(),
            options: opts.clone(),
            raw_files,
            series: entries,
            warnings: out.warnings.clone(),
            categories: out.categories.clone(),
        };
        let json = serde_json::to_string_pretty(&manifest)
            .map_err(|e| DataError::Internal(e.to_string()))?;
        let mpath = tmp.join(MANIFEST_FILE);
        tsfm_io::write_file(&mpath, json.as_bytes()).map_err(|e| DataError::io(&mpath, e))?;
        swap_in(&tmp, dir)?;
        Ok(manifest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// Writes the cache of `dataset` into `dir`; the caller holds the cache's lock.
fn write_locked(
    dir: &Path,
    dataset: &str,
    opts: &SourceOptions,
    raw: Vec<RawFileEntry>,
    out: SourceOutput,
    progress: Progress,
) -> Result<Prepared> {
    remove_stale_staging(dir);
    let manifest = write_atomically(dir, dataset, opts, raw, &out, progress)?;
    Ok(Prepared {
        manifest,
        series: out.series,
        rebuilt: true,
        repaired: None,
    })
}

/// Removes the hidden staging and set-aside folders (`.processed.*`) that a writer killed
/// mid-prepare leaves beside `dir`. Called with the cache's lock held, so no live writer owns
/// them. Best effort: they only waste space.
fn remove_stale_staging(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Replaces `dir` by `tmp` (old folder moved aside, restored on failure, parent fsynced).
fn swap_in(tmp: &Path, dir: &Path) -> Result<()> {
    tsfm_io::replace_dir(tmp, dir).map_err(|e| DataError::io(dir, e))
}

fn read_manifest_if_any(dir: &Path) -> Result<Option<Manifest>> {
    let p = dir.join(MANIFEST_FILE);
    if !p.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&p).map_err(|e| DataError::io(&p, e))?;
    match serde_json::from_str::<Manifest>(&text) {
        Ok(m) => Ok(Some(m)),
        // An unreadable manifest (older layout, edited by hand) means: rebuild.
        Err(_) => Ok(None),
    }
}

fn pq_err(path: &Path) -> impl Fn(parquet::errors::ParquetError) -> DataError + '_ {
    move |e| DataError::Cache {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// Writes one series as a Parquet file (one row group, Snappy pages).
pub fn write_series(path: &Path, s: &Series) -> Result<()> {
    use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as Physical};
    use parquet::data_type::{DoubleType, Int64Type};
    use parquet::file::metadata::KeyValue;
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    // Writing: a disk error keeps its io::Error (a full disk gets its hint), the rest is text.
    let err = |e: parquet::errors::ParquetError| match e {
        parquet::errors::ParquetError::External(inner) => {
            match inner.downcast::<std::io::Error>() {
                Ok(io) => DataError::io(path, *io),
                Err(other) => pq_err(path)(parquet::errors::ParquetError::External(other)),
            }
        }
        other => pq_err(path)(other),
    };
    let mut fields = vec![Arc::new(
        Type::primitive_type_builder("timestamp", Physical::INT64)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::timestamp(false, TimeUnit::MILLIS)))
            .build()
            .map_err(&err)?,
    )];
    for c in &s.channels {
        fields.push(Arc::new(
            Type::primitive_type_builder(&c.name, Physical::DOUBLE)
                .with_repetition(Repetition::REQUIRED)
                .build()
                .map_err(&err)?,
        ));
    }
    let schema = Arc::new(
        Type::group_type_builder("series")
            .with_fields(fields)
            .build()
            .map_err(&err)?,
    );
    let meta = vec![
        KeyValue::new("tsfm.id".to_string(), s.id.clone()),
        KeyValue::new("tsfm.interval_min".to_string(), s.interval_min.to_string()),
        KeyValue::new("tsfm.unit".to_string(), s.unit.clone()),
    ];
    let props = Arc::new(
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_key_value_metadata(Some(meta))
            .build(),
    );
    // Into the staged folder, which `replace_dir` swaps in whole; a fault here fails the build.
    tsfm_io::write_point("write", path).map_err(|e| DataError::io(path, e))?;
    let file = File::create(path).map_err(|e| DataError::io(path, e))?;
    let mut w = SerializedFileWriter::new(file, schema, props).map_err(&err)?;
    let mut rg = w.next_row_group().map_err(&err)?;
    let millis: Vec<i64> = s.timestamps.iter().map(|t| t * 1000).collect();
    let mut col = rg
        .next_column()
        .map_err(&err)?
        .ok_or_else(|| DataError::Internal("no column".into()))?;
    col.typed::<Int64Type>()
        .write_batch(&millis, None, None)
        .map_err(&err)?;
    col.close().map_err(&err)?;
    for c in &s.channels {
        let mut col = rg
            .next_column()
            .map_err(&err)?
            .ok_or_else(|| DataError::Internal("no column".into()))?;
        col.typed::<DoubleType>()
            .write_batch(&c.values, None, None)
            .map_err(&err)?;
        col.close().map_err(&err)?;
    }
    rg.close().map_err(&err)?;
    w.close().map_err(&err)?;
    Ok(())
}

/// Reads a series written by [`write_series`].
pub fn read_series_file(path: &Path) -> Result<Series> {
    use parquet::column::reader::ColumnReader;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    let err = pq_err(path);
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    let reader = SerializedFileReader::new(file).map_err(&err)?;
    let md = reader.metadata();
    let kv: BTreeMap<String, Option<String>> = md
        .file_metadata()
        .key_value_metadata()
        .map(|v| v.iter().map(|k| (k.key.clone(), k.value.clone())).collect())
        .unwrap_or_default();
    let bad = |m: &str| DataError::Cache {
        path: path.to_path_buf(),
        message: m.to_string(),
    };
    let id = kv
        .get("tsfm.id")
        .cloned()
        .flatten()
        .ok_or_else(|| bad("no tsfm.id metadata"))?;
    let interval_min = kv
        .get("tsfm.interval_min")
        .cloned()
        .flatten()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| bad("no tsfm.interval_min metadata"))?;
    let unit = kv.get("tsfm.unit").cloned().flatten();
    let cols = md.file_metadata().schema_descr().columns().to_vec();
    if cols.is_empty() || cols[0].name() != "timestamp" {
        return Err(bad("first column is not timestamp"));
    }
    let mut timestamps: Vec<i64> = Vec::new();
    let mut channels: Vec<Channel> = cols[1..]
        .iter()
        .map(|c| Channel {
            name: c.name().to_string(),
            values: Vec::new(),
        })
        .collect();
    for g in 0..md.num_row_groups() {
        let rg = reader.get_row_group(g).map_err(&err)?;
        let n = md.row_group(g).num_rows() as usize;
        for i in 0..cols.len() {
            match rg.get_column_reader(i).map_err(&err)? {
                ColumnReader::Int64ColumnReader(mut r) if i == 0 => {
                    let mut v = Vec::with_capacity(n);
                    while v.len() < n {
                        let (recs, _, _) = r
                            .read_records(n - v.len(), None, None, &mut v)
                            .map_err(&err)?;
                        if recs == 0 {
                            break;
                        }
                    }
                    timestamps.extend(v.into_iter().map(|ms| ms.div_euclid(1000)));
                }
                ColumnReader::DoubleColumnReader(mut r) if i > 0 => {
                    let v = &mut channels[i - 1].values;
                    let target = v.len() + n;
                    while v.len() < target {
                        let (recs, _, _) = r
                            .read_records(target - v.len(), None, None, v)
                            .map_err(&err)?;
                        if recs == 0 {
                            break;
                        }
                    }
                }
                _ => return Err(bad("unexpected column type")),
            }
        }
    }
    if channels.iter().any(|c| c.values.len() != timestamps.len()) {
        return Err(bad("columns have different lengths"));
    }
    Ok(Series {
        id,
        timestamps,
        interval_min,
        channels,
        unit,
    })
}

fn read_series(dir: &Path, m: &Manifest, progress: Progress) -> Result<Vec<Series>> {
    let total = m.series.len();
    m.series
        .iter()
        .enumerate()
        .map(|(index, e)| {
            let p = dir.join(&e.file);
            if let (Some(bytes), Some(sha256)) = (e.bytes, &e.sha256) {
                let damaged = |message: String| DataError::Cache {
                    path: p.clone(),
                    message,
                };
                let (got_bytes, got_sha) = match file_digest(&p) {
                    Ok(d) => d,
                    Err(_) => return Err(damaged("is missing or unreadable".into())),
                };
                if got_bytes != bytes {
                    return Err(damaged(format!(
                        "has {got_bytes} bytes, {bytes} were written (truncated or overwritten)"
                    )));
                }
                if got_sha != *sha256 {
                    return Err(damaged(
                        "does not match its checksum in manifest.json (changed after it was written)"
                            .into(),
                    ));
                }
            }
            let s = read_series_file(&p)?;
            if s.id != e.id || s.len() != e.rows {
                return Err(DataError::Cache {
                    path: p,
                    message: "does not match manifest.json".into(),
                });
            }
            progress(ProgressEvent::Read {
                index,
                total,
                id: s.id.clone(),
            });
            Ok(s)
        })
        .collect()
}
