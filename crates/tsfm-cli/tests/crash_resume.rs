//! Crash anywhere, lose nothing: the real `tsfm train` binary is killed with SIGKILL at seeded
//! random moments (during steps, evaluations and checkpoint writes alike), resumed with
//! `--resume` until it finishes, and its final weights equal an uninterrupted run's bit for bit.
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;
use common::{repo, stderr, tsfm};

/// The demo shortened: ttm-tiny on glucose, 24 steps, a checkpoint every 4.
fn args(run_dir: &str) -> Vec<String> {
    let repo = repo();
    let mut args: Vec<String> = vec!["train".into(), "--run-dir".into(), run_dir.into()];
    for kv in [
        format!(
            "data.raw_path={}",
            repo.join("data/demo/brist1d/train.csv.gz").display()
        ),
        format!(
            "model.model_path={}",
            repo.join("data/models/ttm-tiny").display()
        ),
        "model.params.context_length=32".into(),
        "model.params.prediction_length=16".into(),
        "data.past_covariates=[]".into(),
        "training.max_steps=24".into(),
        "training.eval_steps=4".into(),
        "training.save_steps=4".into(),
        "training.logging_steps=2".into(),
        "data.batch_size=32".into(),
        "data.cache_dir=cache".into(),
    ] {
        args.push("--set".into());
        args.push(kv);
    }
    args
}

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
