//! Crash anywhere, lose nothing: the real `tsfm train` binary is killed with SIGKILL at seeded
//! random moments (during steps, evaluations and checkpoint writes alike), resumed with
//! `--resume` until it finishes, and its final weights equal an uninterrupted run's bit for bit.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{demo_train_args as args, stderr, tsfm};

/// SplitMix64: the kill moments, reproducible from the seed.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn final_weights(dir: &Path) -> Vec<u8> {
    std::fs::read(dir.join("model/model.safetensors")).unwrap()
}

#[test]
fn killed_at_random_moments_and_resumed_the_run_ends_bit_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let reference = args("reference");
    let reference: Vec<&str> = reference.iter().map(String::as_str).collect();
    let out = tsfm(&reference, tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let want = final_weights(&tmp.path().join("reference"));

    // How long an uninterrupted run takes here, to spread the kills over it.
    let timing = args("timing");
    let timing: Vec<&str> = timing.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let out = tsfm(&timing, tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let span_ms = started.elapsed().as_millis().max(50) as u64;
    assert_eq!(
        final_weights(&tmp.path().join("timing")),
        want,
        "not deterministic"
    );

    // `scripts/crash-campaign` runs longer campaigns through these two variables.
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let planned = env("TSFM_CRASH_KILLS", 4);
    let mut seed = env("TSFM_CRASH_SEED", 20_261_201);
    let crashed = args("crashed");
    let (mut kills, mut resumed, mut runs) = (0u64, 0u64, 0u64);
    // Runs, each killed until it finishes; a run that outlives its kills starts the next one,
    // until the planned kills have hit running processes. Every finished run is checked.
    while kills < planned {
        let _ = std::fs::remove_dir_all(tmp.path().join("crashed"));
        runs += 1;
        let mut finished = false;
        for attempt in 0..planned * 10 + 10 {
            let mut run: Vec<&str> = crashed.iter().map(String::as_str).collect();
            // The first attempt starts the run; later ones resume it (from the newest whole
            // checkpoint, or from the start when the kill came before the first one).
            let has_checkpoint =
                tmp.path()
                    .join("crashed/checkpoints")
                    .read_dir()
                    .is_ok_and(|mut d| {
                        d.any(|e| {
                            e.is_ok_and(|e| {
                                e.file_name().to_string_lossy().starts_with("checkpoint-")
                            })
                        })
                    });
            if attempt > 0 && has_checkpoint {
                run.push("--resume");
                resumed += 1;
            }
            let mut child = Command::new(env!("CARGO_BIN_EXE_tsfm"))
                .args(&run)
                .current_dir(tmp.path())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            if kills < planned {
                let wait = next(&mut seed) % span_ms;
                std::thread::sleep(Duration::from_millis(wait));
                if child.try_wait().unwrap().is_none() {
                    child.kill().unwrap();
                    let _ = child.wait();
                    kills += 1;
                    continue;
                }
            }
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "run {runs} attempt {attempt}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            finished = true;
            break;
        }
        assert!(finished, "run {runs} never finished");
        assert!(
            final_weights(&tmp.path().join("crashed")) == want,
            "run {runs}: the resumed run's weights differ from the uninterrupted run's"
        );
    }
    assert!(
        resumed >= planned.min(2),
        "only {resumed} attempts resumed from a checkpoint"
    );
    eprintln!(
        "{kills} kills survived, {resumed} resumes, {runs} runs all bit-identical (runs of \
         {span_ms} ms)"
    );
}

/// Every file under `dir` (relative path -> bytes), the lock file aside.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if !path.to_string_lossy().ends_with(".lock") {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// Starts `args` and kills it after a seeded fraction of `span_ms`; true if it was killed.
fn start_and_kill(args: &[String], cwd: &Path, seed: &mut u64, span_ms: u64) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tsfm"))
        .args(args)
        .current_dir(cwd)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(next(seed) % span_ms));
    let killed = child.try_wait().unwrap().is_none();
    if killed {
        child.kill().unwrap();
    }
    let _ = child.wait();
    killed
}

#[test]
fn a_killed_data_prepare_leaves_the_old_cache_or_the_new_one_never_a_mix() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = common::repo().join("data/demo");
    // The same dataset name, prepared from BrisT1D then from REPLACE-BG: two distinct caches.
    let prepare = |source: &str, raw: &str| -> Vec<String> {
        ["data", "prepare", "--dataset", "demo", "--source", source]
            .into_iter()
            .map(String::from)
            .chain(["--raw".into(), demo.join(raw).display().to_string()])
            .chain(["--cache-dir".into(), "cache".into()])
            .collect()
    };
    let old_args = prepare("bris_t1d", "brist1d/train.csv.gz");
    let new_args = prepare("aleppo", "aleppo/Data Tables");
    let cache = tmp.path().join("cache/demo");
    // Kills land within the span of the prepare they interrupt (the new one; the old one, a
    // larger source, takes longer and made most kills come too late on a loaded machine).
    let started = std::time::Instant::now();
    let out = tsfm(&as_strs(&new_args), tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let span_ms = started.elapsed().as_millis().max(20) as u64;
    let new = snapshot(&cache.join("processed"));
    let out = tsfm(&as_strs(&old_args), tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let old = snapshot(&cache.join("processed"));

    let planned = std::env::var("TSFM_CRASH_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4u64);
    let mut seed = 7;
    let mut kills = 0;
    for _ in 0..planned * 20 {
        if kills == planned {
            break;
        }
        kills += u64::from(start_and_kill(&new_args, tmp.path(), &mut seed, span_ms));
        let now = snapshot(&cache.join("processed"));
        assert!(
            now == old || now == new,
            "after {kills} kills: a mixed cache"
        );
        // Back to the old cache for the next kill.
        if now == new {
            let out = tsfm(&as_strs(&old_args), tmp.path());
            assert!(out.status.success(), "{}", stderr(&out));
        }
    }
    assert_eq!(
        kills, planned,
        "the prepare finished before every planned kill"
    );
    // The next prepare sweeps what the killed ones staged.
    let out = tsfm(&as_strs(&new_args), tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let names: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect();
    assert_eq!(names, ["processed"]);
    assert!(snapshot(&cache.join("processed")) == new);
}

#[test]
fn a_killed_evaluation_leaves_a_whole_report_or_none() {
    let tmp = tempfile::tempdir().unwrap();
    let train = args("run");
    let out = tsfm(
        &train.iter().map(String::as_str).collect::<Vec<_>>(),
        tmp.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let evaluate: Vec<String> = ["evaluate", "--run", "run"].map(String::from).to_vec();
    let started = std::time::Instant::now();
    let out = tsfm(&["evaluate", "--run", "run"], tmp.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let span_ms = started.elapsed().as_millis().max(20) as u64;
    let results = tmp.path().join("tsfm_results/results");
    let mut seed = 11;
    let mut kills = 0;
    for _ in 0..80 {
        if kills == 4 {
            break;
        }
        let before = snapshot(&results);
        kills += u64::from(start_and_kill(&evaluate, tmp.path(), &mut seed, span_ms));
        for (path, bytes) in snapshot(&results) {
            let name = path.to_string_lossy().into_owned();
            // A kill can leave a hidden temporary file (never read by anything); what a reader
            // sees is the files under their real names.
            if name.starts_with('.') || name.contains("/.") {
                continue;
            }
            if name.ends_with(".json") {
                let parsed = serde_json::from_slice::<serde_json::Value>(&bytes);
                assert!(parsed.is_ok(), "{name} cut short");
            }
            if name.ends_with("run_history.csv") {
                let rows = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count();
                let old = rows(&before[&path]);
                assert!(rows(&bytes) == old || rows(&bytes) == old + 1, "{name}");
                assert!(bytes.ends_with(b"\n"), "{name}: a row cut short");
            }
        }
    }
    assert_eq!(
        kills, 4,
        "the evaluation finished before every planned kill"
    );
}

fn as_strs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}
