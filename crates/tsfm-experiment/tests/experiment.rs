//! The experiment layer on the bundled demo data and the tiny TTM checkpoint: config keys that
//! change what happens, calibrated quantiles for a point model, events instead of prints.
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use tsfm_config::{Config, DataSource, ModelType, ResamplePolicy};
use tsfm_experiment::data::{Split, prepare_data};
use tsfm_experiment::evaluation::{evaluate_split, fit_calibration};
use tsfm_experiment::events::{Collected, Event};
use tsfm_experiment::model::{load_model, window_lengths};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The demo patients with `ttm-tiny` (32 steps -> 16 steps, glucose alone).
fn demo_config(cache: &Path) -> Config {
    let mut c = Config::default();
    c.model.model_type = ModelType::Ttm;
    c.model.model_path = repo().join("data/models/ttm-tiny").display().to_string();
    c.data.source = DataSource::BrisT1d;
    c.data.source_name = "demo".into();
    c.data.raw_path = repo()
        .join("data/demo/brist1d/train.csv.gz")
        .display()
        .to_string();
    c.data.cache_dir = cache.display().to_string();
    c.data.target_columns = vec!["bg".into()];
    c.evaluation.eval_batch_size = 256;
    c
}

#[test]
fn data_context_length_shortens_windows_and_pads_them_for_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let mut config = demo_config(tmp.path());
    let mut events = Collected::default();
    let model = load_model(&config.model, &device, &mut events).unwrap();
    assert_eq!(window_lengths(&config, &model).unwrap(), (32, 16));
    let full = prepare_data(&config, &model, None, &mut events).unwrap();

    config.data.context_length = Some(12);
    assert_eq!(window_lengths(&config, &model).unwrap(), (12, 16));
    let short = prepare_data(&config, &model, None, &mut events).unwrap();
    // Shorter histories fit into more places of each segment.
    assert!(short.prepared.train.len() > full.prepared.train.len());
    // The model still reads 32 steps: the first 20 are padding, unobserved.
    let (input, _) = short.source(Split::Train).input(&[0, 1], &device).unwrap();
    assert_eq!(input.past_values.dims(), [2, 32, 1]);
    let mask = input
        .past_observed_mask
        .unwrap()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    assert!(mask[..20].iter().all(|&m| m == 0.0));
    assert_eq!(mask[20..32].iter().filter(|&&m| m == 1.0).count(), 12);

    config.data.context_length = Some(33);
    assert_eq!(
        window_lengths(&config, &model).unwrap_err().to_string(),
        format!(
            "data.context_length: 33 steps is longer than the 32 the checkpoint {} reads; give \
             at most 32, or remove the key",
            config.model.model_path
        )
    );
}

#[test]
fn a_point_model_is_calibrated_on_validation_and_scored_with_quantiles() {
    let tmp = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let mut config = demo_config(tmp.path());
    config.evaluation.metrics = vec!["rmse".into(), "coverage".into(), "brier".into()];
    config.evaluation.quantiles = vec![0.3];
    let mut events = Collected::default();
    let model = load_model(&config.model, &device, &mut events).unwrap();
    let data = prepare_data(&config, &model, None, &mut events).unwrap();
    assert!(
        events
            .0
            .iter()
            .any(|e| matches!(e, Event::Info(m) if m.starts_with("data:   `demo`"))),
        "{:?}",
        events.0
    );

    let calibration = fit_calibration(&model, &data, Split::Val, &config, &device)
        .unwrap()
        .unwrap();
    assert_eq!(calibration.steps(), 16);
    let result = evaluate_split(
        &model,
        &data,
        Split::Test,
        &config,
        Some(&calibration),
        &device,
    )
    .unwrap();
    let q = result.predictions[0].quantiles.as_ref().unwrap();
    // The standard levels plus evaluation.quantiles.
    assert_eq!(
        q.levels,
        vec![0.025, 0.05, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9, 0.95, 0.975]
    );
    let p = result.report.probabilistic.as_ref().unwrap();
    let coverage = |nominal: f64| {
        p.central_intervals
            .iter()
            .find(|i| (i.nominal - nominal).abs() < 1e-9)
            .and_then(|i| i.coverage)
            .unwrap()
    };
    // Validation residuals of a random-init model carry over to the test split of the same
    // patients: the intervals hold their nominal share within a few points.
    assert!((coverage(0.8) - 0.8).abs() < 0.08, "{}", coverage(0.8));
    assert!((coverage(0.95) - 0.95).abs() < 0.05, "{}", coverage(0.95));
    // evaluation.metrics decides the history columns (after the fixed RMSE ones).
    let names: Vec<String> = result.history_columns().into_iter().map(|c| c.0).collect();
    assert_eq!(
        names,
        [
            "rmse_30min",
            "persistence_rmse_30min",
            "rmse_60min",
            "persistence_rmse_60min",
            "rmse",
            "coverage_50",
            "coverage_80",
            "coverage_90",
            "coverage_95",
            "brier"
        ]
    );
    assert!(
        result.summary().contains("  overall: rmse "),
        "{}",
        result.summary()
    );
}

#[test]
fn config_keys_reach_the_libraries_options() {
    let mut config = demo_config(Path::new("cache"));
    config.data.resample = ResamplePolicy::Drop;
    let source = tsfm_experiment::options::data::source_options(&config.data);
    assert_eq!(source.resample, tsfm_data::sources::ResamplePolicy::Drop);

    config.evaluation.nocturnal.context_end = "23:30".into();
    config.evaluation.nocturnal.horizon_hours = 6.5;
    let eval = tsfm_experiment::options::evaluation::evaluator_options(&config);
    assert_eq!(eval.context_end, "23:30");
    assert_eq!(eval.horizon_hours, 6.5);
}

#[test]
fn a_config_naming_another_family_than_the_checkpoint_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let mut config = demo_config(tmp.path());
    config.model.model_type = ModelType::ChronosBolt;
    let e = load_model(&config.model, &Device::flex(), &mut Collected::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("model.model_type: the config says chronos_bolt but "),
        "{e}"
    );
    assert!(e.ends_with("set model.model_type: ttm"), "{e}");

    config.model.model_type = ModelType::Ttm;
    config.model.params.insert("top_k".into(), 50.into());
    let e = load_model(&config.model, &Device::flex(), &mut Collected::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "model.params.top_k: ttm takes no such setting (model.params holds context_length, \
         prediction_length, checked against the checkpoint); remove it"
    );
}

/// The point forecasts of the model in `model_dir` for a few test windows.
fn test_forecasts(config: &Config, model_dir: &Path) -> Vec<f32> {
    use tsfm_models::Forecaster;
    let device = Device::flex();
    let mut model_config = config.model.clone();
    model_config.model_path = model_dir.display().to_string();
    let mut events = Collected::default();
    let model = load_model(&model_config, &device, &mut events).unwrap();
    let data = prepare_data(config, &model, None, &mut events).unwrap();
    let (input, _) = data.source(Split::Test).input(&[0, 5, 9], &device).unwrap();
    let point = model.forecast(&input).unwrap().point;
    point.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn a_lora_run_saves_merged_or_as_an_adapter_and_both_forecast_alike() {
    use tsfm_config::{FinetuneMode, LoraSave};
    use tsfm_experiment::train::{TrainOptions, TrainOutcome, train};
    let tmp = tempfile::tempdir().unwrap();
    let lora_config = |save: LoraSave, name: &str| {
        let mut c = demo_config(tmp.path());
        c.training.finetune_mode = FinetuneMode::Lora;
        c.training.lora.rank = 4;
        c.training.lora.alpha = 8.0;
        c.training.lora.dropout = 0.05;
        c.training.lora.save = save;
        c.training.max_steps = Some(4);
        c.training.learning_rate = 1e-2;
        c.data.batch_size = 32;
        c.output.save_dir = tmp.path().join("results").display().to_string();
        c.output.experiment_name = name.into();
        c
    };
    let dry = train(
        &lora_config(LoraSave::Merged, "dry"),
        &TrainOptions {
            dry_run: true,
            ..Default::default()
        },
        Vec::new(),
        &mut Collected::default(),
    )
    .unwrap();
    let TrainOutcome::DryRun(dry) = dry else {
        panic!("a dry run trains nothing")
    };
    // ttm-tiny's default targets with rank 4 (PEFT's count for the same adapters).
    assert_eq!((dry.trainable_params, dry.total_params), (4_800, 16_030));
    assert_eq!(dry.finetune_mode, "Lora");

    let mut model_dirs = Vec::new();
    for (save, name) in [(LoraSave::Merged, "merged"), (LoraSave::Adapter, "adapter")] {
        let config = lora_config(save, name);
        let outcome = train(
            &config,
            &TrainOptions::default(),
            Vec::new(),
            &mut Collected::default(),
        )
        .unwrap();
        let TrainOutcome::Trained(run) = outcome else {
            panic!("trained")
        };
        let mut files: Vec<String> = std::fs::read_dir(run.run.model_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        model_dirs.push((config, run.run.model_dir(), files));
    }
    let (merged_config, merged_dir, merged_files) = &model_dirs[0];
    let (adapter_config, adapter_dir, adapter_files) = &model_dirs[1];
    assert_eq!(
        merged_files,
        &[
            "calibration.json",
            "config.json",
            "model.safetensors",
            "scaler.json"
        ]
    );
    assert_eq!(
        adapter_files,
        &[
            "adapter_config.json",
            "adapter_model.safetensors",
            "calibration.json",
            "scaler.json"
        ]
    );
    // What `evaluate --run` and `predict --run` load: the run's model folder, either form.
    let merged = test_forecasts(merged_config, merged_dir);
    let adapter = test_forecasts(adapter_config, adapter_dir);
    let base = test_forecasts(merged_config, Path::new(&merged_config.model.model_path));
    let diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max)
    };
    assert!(
        diff(&merged, &adapter) < 1e-5,
        "{}",
        diff(&merged, &adapter)
    );
    assert!(
        diff(&merged, &base) > 1e-4,
        "training changed the forecasts"
    );
}

#[test]
fn lora_targets_that_match_nothing_name_the_config_key() {
    use tsfm_config::{FinetuneMode, LoraTargets};
    use tsfm_experiment::model::load_model_with;
    use tsfm_experiment::options::training::load_options;
    let tmp = tempfile::tempdir().unwrap();
    let mut config = demo_config(tmp.path());
    config.training.finetune_mode = FinetuneMode::Lora;
    config.training.lora.target_modules = LoraTargets::Names(vec!["q_proj".into()]);
    let err = load_model_with(
        &config.model,
        &load_options(&config),
        &Device::flex(),
        &mut Collected::default(),
    )
    .unwrap_err();
    assert!(err.is_user_error());
    assert!(
        err.to_string().starts_with(
            "training.lora.target_modules: `q_proj` matches no linear layer of this ttm checkpoint"
        ),
        "{err}"
    );
}
