//! Residual calibration: hand-computed ranks, pooling, coverage on Gaussian residuals, files.

use tsfm_eval::calibration::{CalibrationError, ResidualCalibration, conformal_rank};

const NAN: f64 = f64::NAN;

#[test]
fn conformal_ranks_by_hand() {
    // n = 9: (n + 1)·q = 10q. Upper levels round up, lower levels round down.
    assert_eq!(conformal_rank(9, 0.9), 9);
    assert_eq!(conformal_rank(9, 0.75), 8); // ⌈7.5⌉
    assert_eq!(conformal_rank(9, 0.5), 5);
    assert_eq!(conformal_rank(9, 0.25), 2); // ⌊2.5⌋
    assert_eq!(conformal_rank(9, 0.1), 1);
    // Clamped: ⌈5.4⌉ = 6 > 5 and ⌊0.6⌋ = 0 < 1.
    assert_eq!(conformal_rank(5, 0.9), 5);
    assert_eq!(conformal_rank(5, 0.1), 1);
}

#[test]
fn exact_residual_quantiles_and_apply() {
    // Step 0 residuals (truth − point) are 1..=9, in scrambled order; a NaN truth is skipped.
    let order = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0, 8.0, 4.0, 6.0];
    let truths: Vec<[f64; 1]> = order.iter().map(|&r| [10.0 + r]).collect();
    let mut pairs: Vec<(&[f64], &[f64])> = truths.iter().map(|t| (&t[..], &[10.0][..])).collect();
    pairs.push((&[NAN], &[10.0]));
    let levels = [0.1, 0.25, 0.5, 0.75, 0.9];
    let c = ResidualCalibration::fit(pairs, &levels, 1).unwrap();
    assert_eq!(c.residual_quantiles, vec![vec![1.0, 2.0, 5.0, 8.0, 9.0]]);
    assert_eq!((c.n_observed.clone(), c.n_used.clone()), (vec![9], vec![9]));
    let q = c.apply(&[100.0], &[0.25, 0.6, 0.9]).unwrap();
    // 0.6 lies between 0.5 (5) and 0.75 (8): 5 + 0.4·3 = 6.2.
    assert_eq!(q.values[0], vec![102.0]);
    assert!((q.values[1][0] - 106.2).abs() < 1e-12);
    assert_eq!(q.values[2], vec![109.0]);
    match c.apply(&[100.0], &[0.05, 0.5]) {
        Err(CalibrationError::LevelOutside { level, .. }) => assert_eq!(level, 0.05),
        other => panic!("expected LevelOutside, got {other:?}"),
    }
    assert!(matches!(
        c.apply(&[1.0, 2.0], &[0.5]),
        Err(CalibrationError::Steps {
            steps: 2,
            fitted: 1
        })
    ));
}

#[test]
fn sparse_steps_pool_their_neighbours() {
    // Step 0: residuals 0..=8 (9); step 1: one residual 100; step 2: none.
    let mut w: Vec<(Vec<f64>, Vec<f64>)> = (0..9)
        .map(|r| (vec![f64::from(r), NAN, NAN], vec![0.0, 0.0, 0.0]))
        .collect();
    w.push((vec![NAN, 100.0, NAN], vec![0.0, 0.0, 0.0]));
    let pairs = w.iter().map(|(t, p)| (&t[..], &p[..]));
    let c = ResidualCalibration::fit(pairs, &[0.5], 5).unwrap();
    assert_eq!(c.n_observed, vec![9, 1, 0]);
    // Step 0 has enough; steps 1 and 2 pool radius 1: {0..8, 100} (10) and {100} (1, too few)
    // then radius 2: all 10.
    assert_eq!(c.n_used, vec![9, 10, 10]);
    // n = 10 at 0.5: rank ⌈5.5⌉ = 6 → sorted {0..8, 100}[5] = 5; n = 9: rank 5 → 4.
    assert_eq!(c.residual_quantiles, vec![vec![4.0], vec![5.0], vec![5.0]]);
    let none: Vec<(&[f64], &[f64])> = vec![(&[NAN], &[1.0])];
    assert!(matches!(
        ResidualCalibration::fit(none, &[0.5], 5),
        Err(CalibrationError::NoResiduals { windows: 1 })
    ));
    assert!(matches!(
        ResidualCalibration::fit(w.iter().map(|(t, p)| (&t[..], &p[..])), &[0.5, 0.5], 5),
        Err(CalibrationError::Levels(_))
    ));
}

/// Deterministic standard normals: xorshift64* uniforms through Box–Muller.
fn normals(seed: u64, n: usize) -> Vec<f64> {
    let mut s = seed;
    let mut uniform = || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        ((s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        })
        .collect()
}

/// Two-step windows whose residual spread differs by step (σ = 1 and 3) around a moving point.
fn windows(seed: u64, n: usize) -> Vec<(Vec<f64>, Vec<f64>)> {
    let z = normals(seed, 2 * n);
    (0..n)
        .map(|i| {
            let p = vec![5.0 + (i % 7) as f64, 6.0];
            let t = vec![p[0] + z[2 * i], p[1] + 3.0 * z[2 * i + 1]];
            (t, p)
        })
        .collect()
}

#[test]
fn gaussian_coverage_within_two_points() {
    let fit = windows(7, 2000);
    let levels = [0.025, 0.1, 0.5, 0.9, 0.975];
    let c =
        ResidualCalibration::fit(fit.iter().map(|(t, p)| (&t[..], &p[..])), &levels, 40).unwrap();
    // Step 1 residuals are three times wider than step 0's: per-step fitting kept them apart.
    let ratio = c.residual_quantiles[1][4] / c.residual_quantiles[0][4];
    assert!((ratio - 3.0).abs() < 0.3, "ratio {ratio}");
    let test = windows(11, 2000);
    for (lo, hi, nominal) in [(0.1, 0.9, 0.8), (0.025, 0.975, 0.95)] {
        for step in 0..2 {
            let covered = test
                .iter()
                .filter(|(t, p)| {
                    let q = c.apply(p, &[lo, hi]).unwrap();
                    q.values[0][step] <= t[step] && t[step] <= q.values[1][step]
                })
                .count();
            let share = covered as f64 / test.len() as f64;
            assert!(
                (share - nominal).abs() <= 0.02,
                "{nominal} step {step}: {share}"
            );
        }
    }
}

#[test]
fn save_load_round_trip_and_errors() {
    let pairs: Vec<(&[f64], &[f64])> = vec![(&[1.0, 2.0], &[0.5, 2.5]), (&[3.0, 4.0], &[3.0, 3.0])];
    let c = ResidualCalibration::fit(pairs, &[0.1, 0.5, 0.9], 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calibration.json");
    c.save(&path).unwrap();
    assert_eq!(ResidualCalibration::load(&path).unwrap(), c);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("calibration.json")]);

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("\"format_version\": 1", "\"format_version\": 2"),
    )
    .unwrap();
    let err = ResidualCalibration::load(&path).unwrap_err();
    assert!(matches!(err, CalibrationError::Version { found: 2, .. }));
    assert!(err.to_string().contains("calibration.json"));
    std::fs::write(&path, "{").unwrap();
    assert!(
        ResidualCalibration::load(&path)
            .unwrap_err()
            .to_string()
            .contains("calibration.json")
    );
    let missing = dir.path().join("nope.json");
    assert!(
        ResidualCalibration::load(&missing)
            .unwrap_err()
            .to_string()
            .contains("nope.json")
    );
    let bad_dir = dir.path().join("no_such_dir").join("c.json");
    assert!(c.save(&bad_dir).unwrap_err().to_string().contains("c.json"));
}
