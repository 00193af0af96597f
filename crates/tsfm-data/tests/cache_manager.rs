//! CacheManager: layout, manifest, round trip, rebuild only on change, atomic replacement.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tsfm_data::Series;
use tsfm_data::cache::{CacheManager, Manifest, sanitize_id};
use tsfm_data::sources::{ResamplePolicy, SourceKind, SourceOptions, load};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        m.insert(
            p.file_name().unwrap().to_string_lossy().to_string(),
            std::fs::read(&p).unwrap(),
        );
    }
    m
}

fn same_series(a: &[Series], b: &[Series]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            (&x.id, &x.timestamps, x.interval_min, &x.unit),
            (&y.id, &y.timestamps, y.interval_min, &y.unit)
        );
        assert_eq!(x.channels.len(), y.channels.len());
        for (cx, cy) in x.channels.iter().zip(&y.channels) {
            assert_eq!(cx.name, cy.name);
            let bx: Vec<u64> = cx.values.iter().map(|v| v.to_bits()).collect();
            let by: Vec<u64> = cy.values.iter().map(|v| v.to_bits()).collect();
            assert_eq!(bx, by, "{} {}", x.id, cx.name);
        }
    }
}

#[test]
fn prepare_load_rebuild_and_atomic_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let raw_dir = tmp.path().join("raw");
    std::fs::create_dir(&raw_dir).unwrap();
    let raw = raw_dir.join("train.csv");
    std::fs::copy(fixture("train_small.csv"), &raw).unwrap();
    let cache = CacheManager::new(tmp.path().join("cache"));
    let opts = SourceOptions::new(SourceKind::BrisT1d, &raw);

    let first = cache.load("demo", &opts).unwrap();
    assert!(first.rebuilt);
    let dir = tmp.path().join("cache/demo/processed");
    let files: Vec<String> = snapshot(&dir).into_keys().collect();
    assert_eq!(files, ["manifest.json", "p01.parquet", "p02.parquet"]);
    let m: Manifest =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m, first.manifest);
    assert_eq!(m.source_kind, "bris_t1d");
    assert_eq!(m.pipeline_version, tsfm_data::cache::PIPELINE_VERSION);
    assert_eq!(m.raw_files.len(), 1);
    // Size and SHA-256 of train_small.csv as listed in the demo's manifest.json.
    assert_eq!(m.raw_files[0].bytes, 931_074);
    assert_eq!(
        m.raw_files[0].sha256,
        "3eade6043f288653e6f8b1657131eaa285fa12858a36fecbf1f299421e5373cc"
    );
    let rows: Vec<(&str, usize, u32, Option<&str>)> = m
        .series
        .iter()
        .map(|e| (e.id.as_str(), e.rows, e.interval_min, e.unit.as_deref()))
        .collect();
    assert_eq!(
        rows,
        [
            ("p01", 373, 5, Some("mmol/L")),
            ("p02", 377, 5, Some("mmol/L"))
        ]
    );
    assert_eq!(m.options, opts);

    // The cache holds exactly what the source produced.
    same_series(&first.series, &load(&opts).unwrap().series);

    // Second load reads the cache: no re-parse, same series.
    let second = cache.load("demo", &opts).unwrap();
    assert!(!second.rebuilt);
    same_series(&first.series, &second.series);
    let (_, read) = cache.read("demo").unwrap();
    same_series(&first.series, &read);

    // Changed options rebuild.
    let mut opts5 = opts.clone();
    opts5.resolution_min = Some(5);
    assert!(cache.load("demo", &opts5).unwrap().rebuilt);
    assert!(!cache.load("demo", &opts5).unwrap().rebuilt);
    // So does another resample policy (the manifest records the options), and back.
    let mut dropped = opts5.clone();
    dropped.resample = ResamplePolicy::Drop;
    let d = cache.load("demo", &dropped).unwrap();
    assert!(d.rebuilt);
    assert_eq!(d.manifest.options.resample, ResamplePolicy::Drop);
    assert!(!cache.load("demo", &dropped).unwrap().rebuilt);
    assert!(cache.load("demo", &opts5).unwrap().rebuilt);

    // Changed raw content (same size) rebuilds.
    let mut bytes = std::fs::read(&raw).unwrap();
    let pos = bytes.windows(4).position(|w| w == b",8.9").unwrap();
    bytes[pos + 3] = b'8';
    std::fs::write(&raw, &bytes).unwrap();
    let third = cache.load("demo", &opts5).unwrap();
    assert!(third.rebuilt);
    assert_ne!(third.manifest.raw_files[0].sha256, m.raw_files[0].sha256);

    // A bad raw file: prepare fails with a user error and the previous cache is untouched.
    let before = snapshot(&dir);
    std::fs::copy(fixture("bad/brist1d_nonnumeric_bg.csv"), &raw).unwrap();
    let err = cache.prepare("demo", &opts5).unwrap_err();
    assert!(err.is_user_error());
    assert!(
        err.to_string()
            .contains(":5: bg-0:00 \"HIGH\" is not a number"),
        "{err}"
    );
    assert_eq!(snapshot(&dir), before);
    let leftovers: Vec<String> = std::fs::read_dir(tmp.path().join("cache/demo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    let mut leftovers = leftovers;
    leftovers.sort();
    // The lock file (empty, kept: see CacheManager::lock) and the cache.
    assert_eq!(leftovers, [".lock", "processed"]);
    // And load() reports the same error rather than serving stale data.
    assert!(cache.load("demo", &opts5).is_err());
}

#[test]
fn bad_dataset_names_are_refused() {
    let cache = CacheManager::new("/nonexistent-root");
    let opts = SourceOptions::new(SourceKind::Csv, "x.csv");
    for name in ["", "..", "a/b", ".hidden"] {
        let err = cache.prepare(name, &opts).unwrap_err();
        assert!(
            err.to_string().starts_with("data option `dataset`:"),
            "{err}"
        );
    }
}

#[test]
fn series_ids_are_sanitised_and_kept_unique() {
    assert_eq!(sanitize_id("p01"), "p01");
    assert_eq!(sanitize_id("../etc/passwd"), "_._etc_passwd");
    assert_eq!(sanitize_id("a b/c:d"), "a_b_c_d");
    assert_eq!(sanitize_id(""), "series");
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("long.csv");
    std::fs::write(
        &csv,
        "id,timestamp,target\na/b,2024-01-01 00:00,1\na/b,2024-01-01 01:00,2\na?b,2024-01-01 00:00,3\n\
         a?b,2024-01-01 01:00,4\nA,2024-01-01 00:00,5\nA,2024-01-01 01:00,6\na,2024-01-01 00:00,7\n\
         a,2024-01-01 01:00,8\n",
    )
    .unwrap();
    let cache = CacheManager::new(tmp.path().join("cache"));
    let p = cache
        .prepare("ids", &SourceOptions::new(SourceKind::Csv, &csv))
        .unwrap();
    let files: Vec<(&str, &str)> = p
        .manifest
        .series
        .iter()
        .map(|e| (e.id.as_str(), e.file.as_str()))
        .collect();
    assert_eq!(files.len(), 4);
    assert_eq!(files[0], ("A", "A.parquet"));
    assert!(
        files[1].0 == "a" && files[1].1.starts_with("a-") && files[1].1.ends_with(".parquet"),
        "{files:?}"
    );
    assert_eq!(files[2], ("a/b", "a_b.parquet"));
    assert!(files[3].1.starts_with("a_b-"), "{files:?}");
    let (_, back) = cache.read("ids").unwrap();
    same_series(&p.series, &back);
    assert_eq!(back[2].channels[0].values, [1.0, 2.0]);
    assert_eq!(back[2].interval_min, 60);
}

/// Progress events of a prepare and a cache read of the REPLACE-BG demo, in order: one
/// `Hashing` per raw file (the order `raw_files` lists them, with their sizes), one `Parsed`
/// per table in the order the source reads them, one `Written` per series, then one `Read`
/// per series when the cache is read back.
#[test]
fn prepare_and_read_report_progress_in_order() {
    use std::cell::RefCell;
    use tsfm_data::ProgressEvent as E;

    let tables =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/aleppo/Data Tables");
    let tmp = tempfile::tempdir().unwrap();
    let cache = CacheManager::new(tmp.path());
    let events = RefCell::new(Vec::new());
    let record = |e: E| events.borrow_mut().push(e);
    let opts = SourceOptions::new(SourceKind::Aleppo, &tables);
    let prepared = cache.prepare_with_progress("demo", &opts, &record).unwrap();
    assert_eq!(prepared.series.len(), 6);

    let files = [
        ("HDeviceCGM.txt", 893_455),
        ("HDeviceBolus.txt", 11_542),
        ("HDeviceBasal.txt", 7_082),
        ("HDeviceWizard.txt", 17_996),
        ("HDeviceUploads.txt", 1_215),
    ];
    let mut expected: Vec<E> = files
        .iter()
        .enumerate()
        .map(|(index, &(f, bytes))| E::Hashing {
            index,
            total: 5,
            path: tables.join(f),
            bytes,
        })
        .collect();
    for f in [
        "HDeviceCGM.txt",
        "HDeviceUploads.txt",
        "HDeviceBolus.txt",
        "HDeviceBasal.txt",
        "HDeviceWizard.txt",
    ] {
        expected.push(E::Parsed {
            path: tables.join(f),
        });
    }
    let ids = ["140", "152", "21", "35", "77", "88"];
    for (index, id) in ids.iter().enumerate() {
        expected.push(E::Written {
            index,
            total: 6,
            id: id.to_string(),
        });
    }
    assert_eq!(*events.borrow(), expected);

    events.borrow_mut().clear();
    let (_, series) = cache.read_with_progress("demo", &record).unwrap();
    assert_eq!(series.len(), 6);
    let read: Vec<E> = ids
        .iter()
        .enumerate()
        .map(|(index, id)| E::Read {
            index,
            total: 6,
            id: id.to_string(),
        })
        .collect();
    assert_eq!(*events.borrow(), read);

    // A failing prepare reports what it did before the error and writes nothing.
    events.borrow_mut().clear();
    let bad = fixture("bad/aleppo_bad_time.txt");
    let err = cache
        .prepare_with_progress(
            "bad",
            &SourceOptions::new(SourceKind::Aleppo, &bad),
            &record,
        )
        .unwrap_err();
    assert!(err.is_user_error());
    assert_eq!(
        *events.borrow(),
        [E::Hashing {
            index: 0,
            total: 1,
            path: bad.clone(),
            bytes: std::fs::metadata(&bad).unwrap().len(),
        }]
    );
    assert!(!tmp.path().join("bad").exists());
}

/// Every cached series file carries its size and SHA-256 in the manifest: a file damaged after
/// it was written (truncated, changed, removed) is found on load and the cache is rebuilt from
/// the raw files, with the damaged file named; the series are the same as before.
#[test]
fn a_damaged_cache_file_is_found_and_rebuilt_from_the_raw_files() {
    let tmp = tempfile::tempdir().unwrap();
    let raw = tmp.path().join("train.csv");
    std::fs::copy(fixture("train_small.csv"), &raw).unwrap();
    let cache = CacheManager::new(tmp.path().join("cache"));
    let opts = SourceOptions::new(SourceKind::BrisT1d, &raw);
    let first = cache.load("demo", &opts).unwrap();
    let dir = tmp.path().join("cache/demo/processed");
    let entry = &first.manifest.series[0];
    let bytes = std::fs::read(dir.join(&entry.file)).unwrap();
    assert_eq!(entry.bytes, Some(bytes.len() as u64));
    assert_eq!(entry.sha256.as_ref().map(String::len), Some(64));

    type Damage<'a> = &'a dyn Fn(&Path);
    let cases: [(&str, Damage); 3] = [
        ("has ", &|p| {
            std::fs::write(p, &bytes[..bytes.len() / 2]).unwrap()
        }),
        ("does not match its checksum in manifest.json", &|p| {
            let mut b = bytes.clone();
            let i = b.len() / 2;
            b[i] ^= 1;
            std::fs::write(p, b).unwrap();
        }),
        ("is missing or unreadable", &|p| {
            std::fs::remove_file(p).unwrap()
        }),
    ];
    for (message, damage) in cases {
        damage(&dir.join(&entry.file));
        let again = cache.load("demo", &opts).unwrap();
        assert!(again.rebuilt, "{message}");
        let repaired = again.repaired.expect("named");
        assert!(
            repaired.contains(&entry.file)
                && repaired.contains(message)
                && repaired.ends_with("the cache of `demo` was rebuilt from the raw files"),
            "{repaired}"
        );
        same_series(&again.series, &first.series);
        // Whole again: the next load reads it.
        let next = cache.load("demo", &opts).unwrap();
        assert!(!next.rebuilt && next.repaired.is_none());
    }
}
