//! The committed corpus through every target (each input: accepted or refused with a message,
//! never a panic), then a few hundred seeded mutations per target, as ordinary tests.
//! Longer campaigns: `scripts/fuzz-campaign`.
use tsfm_fuzz::mutate::{Rng, mutate};
use tsfm_fuzz::{TARGETS, Verdict, Workspace, bundled_models, check, corpus};

fn mutations() -> usize {
    std::env::var("TSFM_FUZZ_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(250)
}

fn fuzz(target: &str) {
    let ws = Workspace::new(&bundled_models()).unwrap();
    let seeds = corpus(target).unwrap();
    assert!(!seeds.is_empty(), "no corpus for {target}");
    let mut accepted = 0;
    let mut refusals = Vec::new();
    for (path, bytes) in &seeds {
        match check(target, &ws, bytes) {
            Verdict::Panicked(m) => panic!("{}: {m}", path.display()),
            Verdict::Accepted => accepted += 1,
            Verdict::Refused(m) => refusals.push(format!("{}: {m}", path.display())),
        }
    }
    // A corpus of nothing but refused inputs would test only the first check.
    assert!(
        accepted > 0,
        "{target}: no corpus input is accepted:\n{}",
        refusals.join("\n")
    );
    let pool: Vec<Vec<u8>> = seeds.into_iter().map(|(_, b)| b).collect();
    let mut rng = Rng::new(20_261_201);
    for i in 0..mutations() {
        let input = mutate(&pool[rng.below(pool.len())], &pool, &mut rng);
        if let Verdict::Panicked(m) = check(target, &ws, &input) {
            panic!(
                "{target}, mutation {i}: {m}\ninput: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}

#[test]
fn every_target_has_a_corpus_test() {
    let tested = [
        "bris_t1d",
        "aleppo",
        "long_csv",
        "parquet",
        "config_yaml",
        "set_override",
        "model_config",
        "safetensors",
        "predict_input",
    ];
    assert_eq!(TARGETS, tested);
}

#[test]
fn bris_t1d() {
    fuzz("bris_t1d");
}
#[test]
fn aleppo() {
    fuzz("aleppo");
}
#[test]
fn long_csv() {
    fuzz("long_csv");
}
#[test]
fn parquet() {
    fuzz("parquet");
}
#[test]
fn config_yaml() {
    fuzz("config_yaml");
}
#[test]
fn set_override() {
    fuzz("set_override");
}
#[test]
fn model_config() {
    fuzz("model_config");
}
#[test]
fn safetensors() {
    fuzz("safetensors");
}
#[test]
fn predict_input() {
    fuzz("predict_input");
}
