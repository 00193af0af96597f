//! Both demo sources, read from the repository's `data/demo`, against values derived
//! independently from the simulator's ground truth (`truth/sim_truth_5min.csv.gz` and the demo
//! `manifest.json`, with pandas):
//! * BrisT1D: a participant's series runs from its first row's time - 5:55 to its last row's
//!   time; 5-min participants span 2868 slots, p04 (15 min) 955. Observed bg = truth CGM
//!   readings in that span (p06: 2748 minus 6 slots of a 390-min row gap that no row's 6-hour
//!   window covers).
//! * REPLACE-BG: the 10-day train period, 2881 five-minute slots per patient; observed bg =
//!   the truth's observed CGM readings (p01 -> PtID 21, ...).

use std::path::PathBuf;

use tsfm_data::Series;
use tsfm_data::sources::bris_t1d::{load_targets, load_test_contexts};
use tsfm_data::sources::clock::format_datetime;
use tsfm_data::sources::{SourceKind, SourceOptions, load};

fn demo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/demo")
        .join(rel)
}

fn observed(s: &Series) -> usize {
    s.channel("bg")
        .unwrap()
        .values
        .iter()
        .filter(|v| !v.is_nan())
        .count()
}

/// Rows whose time of day is in 00:00-06:00.
fn nocturnal(s: &Series) -> usize {
    s.timestamps
        .iter()
        .filter(|t| t.rem_euclid(86_400) < 6 * 3600)
        .count()
}

#[test]
fn brist1d_demo_train() {
    let out = load(&SourceOptions::new(
        SourceKind::BrisT1d,
        demo("brist1d/train.csv.gz"),
    ))
    .unwrap();
    let got: Vec<(&str, usize, u32, usize, usize, String)> = out
        .series
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.len(),
                s.interval_min,
                observed(s),
                nocturnal(s),
                format_datetime(s.timestamps[0]),
            )
        })
        .collect();
    let expected = [
        ("p01", 2868, 5, 2708, 720, "2020-01-01 07:20"),
        ("p02", 2868, 5, 2765, 720, "2020-01-01 13:10"),
        ("p03", 2868, 5, 2751, 708, "2020-01-01 01:30"),
        ("p04", 955, 15, 924, 240, "2020-01-01 08:15"),
        ("p05", 2868, 5, 2806, 720, "2020-01-01 08:15"),
        ("p06", 2868, 5, 2742, 720, "2019-12-31 22:30"),
    ];
    assert_eq!(got.len(), expected.len());
    for (g, e) in got.iter().zip(expected) {
        assert_eq!((g.0, g.1, g.2, g.3, g.4, g.5.as_str()), e);
    }
    assert!(
        out.series
            .iter()
            .all(|s| s.unit.as_deref() == Some("mmol/L"))
    );
    let names: Vec<&str> = out.series[0]
        .channels
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["bg", "insulin", "carbs", "hr", "steps", "cals", "activity"]
    );
    assert_eq!(
        out.warnings,
        [
            "series p04 is sampled every 15 min (not 5): kept at its own interval; set resolution_min: 5 to resample it"
        ]
    );
    // First row of p01 (13:15) has bg-5:55 = 8.0 and bg-0:00 = 8.9.
    let bg = &out.series[0].channel("bg").unwrap().values;
    assert_eq!((bg[0], bg[71]), (8.0, 8.9));
    // Logged carbs: sum over the train period in the truth (carbs_logged_g), 1385 g for p01.
    let carbs: f64 = out.series[0]
        .channel("carbs")
        .unwrap()
        .values
        .iter()
        .filter(|v| !v.is_nan())
        .sum();
    assert_eq!(carbs, 1385.0);
}

#[test]
fn brist1d_demo_test_contexts_match_targets() {
    let train = load(&SourceOptions::new(
        SourceKind::BrisT1d,
        demo("brist1d/train.csv.gz"),
    ))
    .unwrap();
    let path = demo("brist1d/test.csv");
    let opts = SourceOptions::new(SourceKind::BrisT1d, &path);
    let (ctx, warnings) =
        load_test_contexts(&path, &opts, Some(&train.categories["activity"])).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(ctx.len(), 34);
    assert_eq!(ctx[0].id, "p05_2738");
    let fifteen: Vec<&str> = ctx
        .iter()
        .filter(|c| c.series.interval_min == 15)
        .map(|c| c.p_num.as_str())
        .collect();
    assert_eq!(fifteen, ["p04"; 5]);
    let targets = load_targets(&demo("brist1d/test_targets.csv")).unwrap();
    assert_eq!(targets.len(), 34);
    assert!(ctx.iter().all(|c| targets.contains_key(&c.id)));
    assert_eq!(targets["p05_2738"], 6.9);
}

#[test]
fn aleppo_demo() {
    let out = load(&SourceOptions::new(
        SourceKind::Aleppo,
        demo("aleppo/Data Tables"),
    ))
    .unwrap();
    let got: Vec<(&str, usize, u32, usize, usize)> = out
        .series
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.len(),
                s.interval_min,
                observed(s),
                nocturnal(s),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("140", 2881, 5, 2819, 720),
            ("152", 2881, 5, 2761, 720),
            ("21", 2881, 5, 2711, 720),
            ("35", 2881, 5, 2778, 720),
            ("77", 2881, 5, 2764, 721),
            ("88", 2881, 5, 2792, 720),
        ]
    );
    assert!(
        out.series
            .iter()
            .all(|s| s.unit.as_deref() == Some("mmol/L"))
    );
    assert_eq!(
        out.warnings,
        [
            "HDeviceCGM.txt: 114 non-CGM rows (calibrations) dropped",
            "HDeviceCGM.txt: 5 LOW sentinel readings (39) set to 40 mg/dL and 0 HIGH (401) set to 400 mg/dL",
            "HDeviceCGM.txt: 1677 exact duplicate readings (overlapping uploads) removed",
            "HDeviceBasal.txt: 1 basal rows without a positive Duration skipped",
            "HDeviceBasal.txt: PtID 21: 204 five-minute slots are covered by no basal record (first: the slots ending 2020-01-03 07:05 to 2020-01-04 00:00); their insulin is missing (NaN), not 0 U",
        ]
    );
    // PtID 21: first reading day -2 07:20:38, 143 mg/dL, in the 07:20 slot.
    let s = &out.series[2];
    assert_eq!(format_datetime(s.timestamps[0]), "2019-12-30 07:20");
    assert_eq!(s.channel("bg").unwrap().values[0], 143.0 / 18.0182);
    // Scheduled basal 1.3 U/h from 07:20: 1.3 / 12 U in each full 5-min slot after the first.
    let ins = &s.channel("insulin").unwrap().values;
    assert!((ins[1] - 1.3 / 12.0).abs() < 1e-12, "{}", ins[1]);
    // Wizard carbs 90 g at day -2 12:18 land in the slot ending 12:20.
    let carbs = &s.channel("carbs").unwrap().values;
    let j = s
        .timestamps
        .iter()
        .position(|&t| format_datetime(t) == "2019-12-30 12:20")
        .unwrap();
    assert_eq!(carbs[j], 90.0);
}

/// PtID 21's insulin total, computed independently with exact fractions by interval arithmetic
/// over the records (python, `fractions.Fraction`): basal = sum over the breakpoints of every
/// scheduled/temp/suspend record inside (07:20 day -2, 07:20 day 8] of rate x hours
/// (scheduled segments cut at the next scheduled start, temp Rate 0.65 U/h, suspend 0), with
/// the 17 h that no record covers (day 2 07:00-24:00: the scheduled segment that began then is
/// missing from the table) left out = 290.704166... U; boluses (all Normal) in that window
/// = 159.5 U; total 108049/240 = 450.2041666... U.
///
/// The simulator's "recorded insulin" for the same 10 days is 461.81 U: it counts day 2
/// 12:25-24:00 at 1.3 U/h (15.17 U) although no basal record covers it, and leaves out
/// 04:35-07:00 (3.50 U) that the 03:00 record does cover. Before the fix the loader gave the
/// same 450.2042 U but as 0 U in those 204 slots instead of "unknown".
#[test]
fn aleppo_demo_insulin_ptid21() {
    let out = load(&SourceOptions::new(
        SourceKind::Aleppo,
        demo("aleppo/Data Tables"),
    ))
    .unwrap();
    let s = out.series.iter().find(|s| s.id == "21").unwrap();
    let ins = &s.channel("insulin").unwrap().values;
    let total: f64 = ins.iter().filter(|v| !v.is_nan()).sum();
    assert!(
        (total - 108_049.0 / 240.0).abs() < 1e-9,
        "total {total} U, expected 450.2041667"
    );
    let missing: Vec<String> = s
        .timestamps
        .iter()
        .zip(ins)
        .filter(|(_, v)| v.is_nan())
        .map(|(&t, _)| format_datetime(t))
        .collect();
    // The first slot (its 5 min start before the first pump record) and day 2 07:05..24:00.
    assert_eq!(missing.len(), 1 + 204);
    assert_eq!(missing[0], "2019-12-30 07:20");
    assert_eq!(missing[1], "2020-01-03 07:05");
    assert_eq!(missing[204], "2020-01-04 00:00");
    // Right after the gap the next scheduled record (1.3 U/h from 00:00) is back.
    let j = s
        .timestamps
        .iter()
        .position(|&t| format_datetime(t) == "2020-01-04 00:05")
        .unwrap();
    assert!((ins[j] - 1.3 / 12.0).abs() < 1e-12);
}

/// Events exactly on a 5-min boundary count in the slot that starts there (slot `t` holds
/// `[t - 5 min, t)`, like the basal minutes), as in the simulator's truth:
/// * PtID 77, day 3 (2020-01-04): bolus 0.75 U and wizard 10 g at 16:15:00 -> the 16:20 slot,
///   with 0.9 U/h scheduled basal: 0.75 + 0.9 / 12 = 0.825 U (truth: 0.825 at 16:20).
/// * PtID 21, day 0 (2020-01-01): wizard 35 g at 08:55:00 and its bolus 3.60 U at 08:55:48
///   share the 09:00 slot: 3.60 + 1.3 / 12 U (truth: 3.7083 and 35 g at 09:00).
#[test]
fn aleppo_demo_boundary_events_share_a_slot() {
    let out = load(&SourceOptions::new(
        SourceKind::Aleppo,
        demo("aleppo/Data Tables"),
    ))
    .unwrap();
    let at = |id: &str, time: &str| {
        let s = out.series.iter().find(|s| s.id == id).unwrap();
        let j = s
            .timestamps
            .iter()
            .position(|&t| format_datetime(t) == time)
            .unwrap();
        (
            s.channel("insulin").unwrap().values[j],
            s.channel("carbs").unwrap().values[j],
        )
    };
    let (ins, carbs) = at("77", "2020-01-04 16:20");
    assert!((ins - (0.75 + 0.9 / 12.0)).abs() < 1e-12, "{ins}");
    assert_eq!(carbs, 10.0);
    let (ins, carbs) = at("77", "2020-01-04 16:15");
    assert!((ins - 0.9 / 12.0).abs() < 1e-12, "{ins}");
    assert!(carbs.is_nan());
    let (ins, carbs) = at("21", "2020-01-01 09:00");
    assert!((ins - (3.6 + 1.3 / 12.0)).abs() < 1e-12, "{ins}");
    assert_eq!(carbs, 35.0);
    assert!(at("21", "2020-01-01 08:55").1.is_nan());
}
