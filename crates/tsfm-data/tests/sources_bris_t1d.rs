//! BrisT1D reconstruction rules on small generated files with known answers.

use std::fmt::Write as _;
use std::path::Path;

use tsfm_data::sources::bris_t1d::{LAGS, NUMERIC_CHANNELS, lag_column, load_test_contexts};
use tsfm_data::sources::clock::parse_datetime;
use tsfm_data::sources::{ResamplePolicy, SourceKind, SourceOptions, load};

fn header(with_target: bool) -> String {
    let mut h = String::from("id,p_num,time");
    for ch in NUMERIC_CHANNELS.iter().chain(["activity"].iter()) {
        for k in (0..LAGS).rev() {
            write!(h, ",{}", lag_column(ch, k)).unwrap();
        }
    }
    if with_target {
        h.push_str(",bg+1:00");
    }
    h
}

/// bg at absolute 5-min slot `s` (slot 0 = base day 00:00): consistent across all rows.
fn bg(s: i64) -> f64 {
    5.0 + (s.rem_euclid(50)) as f64 / 10.0
}

/// A row ending at absolute slot `end`; `every` = 3 leaves bg only at every third offset.
fn row(
    id: &str,
    p: &str,
    end: i64,
    every: i64,
    activity: &dyn Fn(i64) -> &'static str,
    target: Option<f64>,
) -> String {
    let m = end.rem_euclid(288) * 5;
    let mut r = format!("{id},{p},{:02}:{:02}:00", m / 60, m % 60);
    for (c, _) in NUMERIC_CHANNELS.iter().enumerate() {
        for k in (0..LAGS as i64).rev() {
            let s = end - k;
            let v = match c {
                0 if k % every == 0 => format!("{:.1}", bg(s)),
                0 => String::new(),
                1 => "0.1".into(),
                2 => {
                    if s.rem_euclid(288) == 96 {
                        "30".into()
                    } else {
                        String::new()
                    }
                }
                3 => format!("{}", 60 + s.rem_euclid(3)),
                _ => "10".into(),
            };
            write!(r, ",{v}").unwrap();
        }
    }
    for k in (0..LAGS as i64).rev() {
        write!(r, ",{}", activity(end - k)).unwrap();
    }
    if let Some(t) = target {
        write!(r, ",{t}").unwrap();
    }
    r
}

fn write(dir: &Path, name: &str, lines: &[String]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

const DAY: i64 = 86_400;

#[test]
fn rebuilds_series_with_day_rollover_gaps_and_15_min_participants() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("activities.txt"), "Walk\nRun\n").unwrap();
    let act = |s: i64| match s {
        280 => "Run",
        281 => "Zumba",
        _ => "",
    };
    // pA (5 min): 23:50, 23:55, then 00:00 and 00:15 of the next day (00:05, 00:10 missing).
    // pB (15 min): 10:00, 10:15, 10:30, bg at every third offset.
    let lines = vec![
        header(true),
        row("pA_0", "pA", 286, 1, &act, Some(7.0)),
        row("pA_1", "pA", 287, 1, &act, Some(7.0)),
        row("pA_2", "pA", 288, 1, &act, Some(7.0)),
        row("pA_3", "pA", 291, 1, &act, Some(7.0)),
        row("pB_0", "pB", 120, 3, &|_| "", Some(7.0)),
        row("pB_1", "pB", 123, 3, &|_| "", Some(7.0)),
        row("pB_2", "pB", 126, 3, &|_| "", Some(7.0)),
    ];
    let path = write(dir.path(), "train.csv", &lines);
    let mut opts = SourceOptions::new(SourceKind::BrisT1d, dir.path());
    opts.base_date = "2024-03-06".into();
    let out = load(&opts).unwrap();
    let base = parse_datetime("2024-03-06").unwrap();
    assert_eq!(out.categories["activity"], ["Walk", "Run", "Zumba"]);

    let a = &out.series[0];
    assert_eq!(a.id, "pA");
    assert_eq!(a.interval_min, 5);
    // From 23:50 - 5:55 = 17:55 on the base day to 00:15 the next day: slots 215..=291.
    assert_eq!(a.len(), 291 - 215 + 1);
    assert_eq!(a.timestamps[0], base + 215 * 300);
    assert_eq!(*a.timestamps.last().unwrap(), base + DAY + 15 * 60);
    let bgv = &a.channel("bg").unwrap().values;
    for (i, t) in a.timestamps.iter().enumerate() {
        let slot = (t - base) / 300;
        assert!((bgv[i] - bg(slot)).abs() < 1e-9, "slot {slot}");
    }
    let act_codes = &a.channel("activity").unwrap().values;
    let at = |slot: i64| (slot - 215) as usize;
    assert_eq!(act_codes[at(280)], 1.0);
    assert_eq!(act_codes[at(281)], 2.0);
    assert!(act_codes[at(282)].is_nan());
    assert_eq!(
        a.channel("carbs")
            .unwrap()
            .values
            .iter()
            .filter(|v| !v.is_nan())
            .count(),
        0
    );

    let b = &out.series[1];
    assert_eq!((b.id.as_str(), b.interval_min), ("pB", 15));
    // 24 coarse slots in the first row's window, then 2 more rows.
    assert_eq!(b.len(), 26);
    assert_eq!(*b.timestamps.last().unwrap(), base + 126 * 300);
    assert_eq!(b.timestamps[1] - b.timestamps[0], 900);
    let ins = &b.channel("insulin").unwrap().values;
    assert!(ins.iter().all(|v| (v - 0.3).abs() < 1e-12), "{ins:?}");
    let steps = &b.channel("steps").unwrap().values;
    assert!(steps.iter().all(|v| *v == 30.0));
    let hr = &b.channel("hr").unwrap().values;
    assert!(hr.iter().all(|v| *v == 61.0), "{hr:?}");
    // Coarse slots end at 10:30 - k x 15 min; carbs 30 g at 08:00 (slot 96) is the last 5-min
    // cell of the slot ending at 08:00, and appears once.
    let carbs = &b.channel("carbs").unwrap().values;
    let j = b
        .timestamps
        .iter()
        .position(|&t| t == base + 96 * 300)
        .unwrap();
    assert_eq!(carbs[j], 30.0);
    assert_eq!(carbs.iter().filter(|v| !v.is_nan()).count(), 1);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("series pB is sampled every 15 min")),
        "{:?}",
        out.warnings
    );

    opts.resolution_min = Some(5);
    // Default policy: pB resampled onto 5 min, from 10:30 - 75 x 5 min (slot 51) to slot 126.
    let re = load(&opts).unwrap();
    assert_eq!(
        re.warnings,
        ["series pB is sampled every 15 min: resampled to 5 min (resolution_min)"]
    );
    let b5 = &re.series[1];
    assert_eq!((b5.interval_min, b5.len()), (5, 76));
    assert_eq!(b5.timestamps[0], base + 51 * 300);
    assert_eq!(b5.timestamps[1] - b5.timestamps[0], 300);
    // bg read at slots 51, 54: 5.1 and 5.4; between them interpolated.
    let bg5 = &b5.channel("bg").unwrap().values;
    assert_eq!(
        bg5[..4],
        [
            5.1,
            5.1 + (5.4 - 5.1) * 300.0 / 900.0,
            5.1 + (5.4 - 5.1) * 600.0 / 900.0,
            5.4
        ]
    );
    // Events stay at their own slot time (once: totals kept), nothing in between.
    let carbs5 = &b5.channel("carbs").unwrap().values;
    let at = |t: i64| b5.timestamps.iter().position(|&x| x == t).unwrap();
    assert_eq!(carbs5[at(base + 96 * 300)], 30.0);
    assert_eq!(carbs5.iter().filter(|v| !v.is_nan()).count(), 1);
    let ins5 = &b5.channel("insulin").unwrap().values;
    for (k, v) in ins5.iter().enumerate() {
        if k % 3 == 0 {
            assert_eq!(*v, ins[k / 3]);
        } else {
            assert!(v.is_nan(), "{k}");
        }
    }
    // hr, a level, is carried forward within each 15-min interval.
    assert!(b5.channel("hr").unwrap().values.iter().all(|v| *v == 61.0));

    opts.resample = ResamplePolicy::Keep;
    let kept = load(&opts).unwrap();
    // Unchanged (NaN cells make whole-series equality useless): same grid and bg.
    assert_eq!(
        (kept.series[1].interval_min, &kept.series[1].timestamps),
        (15, &b.timestamps)
    );
    assert_eq!(kept.series[1].channels[0], b.channels[0]);
    assert_eq!(
        kept.warnings,
        [
            "series pB is sampled every 15 min (not 5): kept at its own interval; set \
          resolution_min: 5 to resample it"
        ]
    );

    opts.resample = ResamplePolicy::Drop;
    let only5 = load(&opts).unwrap();
    assert_eq!(only5.series.len(), 1);
    assert_eq!(
        only5.warnings,
        ["series pB is sampled every 15 min, not 5 (resolution_min): dropped"]
    );
    assert!(path.exists());
}

#[test]
fn repeated_time_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "train.csv",
        &[
            header(true),
            row("x_0", "x", 100, 1, &|_| "", Some(5.0)),
            row("x_1", "x", 100, 1, &|_| "", Some(5.0)),
        ],
    );
    let err = load(&SourceOptions::new(SourceKind::BrisT1d, &p)).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:3: x at 08:20:00 repeats the time of its previous row (line 2); rows of a participant \
             must be chronological without duplicates",
            p.display()
        )
    );
}

#[test]
fn test_contexts_keep_ids_and_detect_15_min_rows() {
    let dir = tempfile::tempdir().unwrap();
    let act = |s: i64| if s == 100 { "Walk" } else { "" };
    let mut lines = vec![header(false)];
    lines.push(row("p01_99", "p01", 100, 1, &act, None));
    lines.push(row("p04_7", "p04", 200, 3, &|_| "", None));
    let p = write(dir.path(), "test.csv", &lines);
    let opts = SourceOptions::new(SourceKind::BrisT1d, &p);
    let known = vec!["Run".to_string(), "Walk".to_string()];
    let (ctx, warnings) = load_test_contexts(&p, &opts, Some(&known)).unwrap();
    assert!(warnings.is_empty());
    assert_eq!(ctx.len(), 2);
    assert_eq!(
        (ctx[0].id.as_str(), ctx[0].p_num.as_str()),
        ("p01_99", "p01")
    );
    assert_eq!(ctx[0].time_of_day_s, 100 * 300);
    assert_eq!((ctx[0].series.len(), ctx[0].series.interval_min), (72, 5));
    assert_eq!(ctx[0].series.id, "p01_99");
    assert_eq!(
        *ctx[0]
            .series
            .channel("activity")
            .unwrap()
            .values
            .last()
            .unwrap(),
        1.0
    );
    assert_eq!(ctx[0].target, None);
    let base = parse_datetime("2020-01-01").unwrap();
    assert_eq!(*ctx[0].series.timestamps.last().unwrap(), base + 100 * 300);
    assert_eq!((ctx[1].series.len(), ctx[1].series.interval_min), (24, 15));
    let last_bg = *ctx[1].series.channel("bg").unwrap().values.last().unwrap();
    assert!((last_bg - bg(200)).abs() < 1e-9);
}
