//! LoRA through the trainer on the tiny TTM checkpoint: only adapters change and the loss
//! falls, a resumed run matches the uninterrupted one bit for bit, and the adapter folder
//! forecasts as the merged checkpoint does.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use common::{StopAt, Waves, lock, weights};
use tsfm_models::lora::{self, LoraConfig, TargetModules};
use tsfm_models::{
    AnyForecaster, FinetuneMode, Forecaster, LoadOptions, load_forecaster_in,
    load_forecaster_in_with,
};
use tsfm_train::{ResumeFrom, SaveStrategy, TrainError, Trainer, TrainingArgs, WindowSource};

const CONTEXT: usize = 32;
const HORIZON: usize = 16;

/// 40 windows of 32 past and 16 future steps (ttm-tiny's shape).
fn waves() -> Waves {
    Waves {
        windows: 40,
        context: CONTEXT,
        horizon: HORIZON,
    }
}

fn ttm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tsfm-models/tests/data/ttm-tiny/model")
}

fn lora_config(seed: u64) -> LoraConfig {
    LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.1,
        target_modules: TargetModules::Default,
        use_rslora: false,
        seed,
    }
}

fn load(seed: u64) -> AnyForecaster {
    let options = LoadOptions {
        lora: Some(lora_config(seed)),
        ..Default::default()
    };
    load_forecaster_in_with(&ttm_dir(), &Device::flex(), &options)
        .unwrap()
        .model
}

fn args() -> TrainingArgs {
    // 40 windows in batches of 4: 10 steps an epoch; step 5 falls mid-epoch.
    TrainingArgs {
        max_steps: 8,
        per_device_train_batch_size: 4,
        per_device_eval_batch_size: 40,
        learning_rate: 1e-2,
        warmup_ratio: 0.1,
        weight_decay: 0.01,
        max_grad_norm: 1.0,
        logging_steps: 1,
        save_strategy: SaveStrategy::Steps,
        save_steps: 3,
        finetune_mode: FinetuneMode::Lora,
        ..Default::default()
    }
}

/// Parameters split into (adapters, the rest) by their Burn path.
fn split(
    w: BTreeMap<String, Vec<f32>>,
) -> (BTreeMap<String, Vec<f32>>, BTreeMap<String, Vec<f32>>) {
    w.into_iter().partition(|(path, _)| path.contains(".lora."))
}

fn point(model: &AnyForecaster, data: &Waves) -> Vec<f32> {
    let input = data.batch(&[0, 7, 19], &Device::flex());
    let forecast = model.forecast(&input).unwrap();
    forecast.point.into_data().try_to_vec::<f32>().unwrap()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn lora_trains_only_the_adapters_and_saves_merged_or_as_an_adapter() {
    let _g = lock();
    let data = waves();
    let initial = load(5);
    let (adapters_before, base_before) = split(weights(&initial));
    let run = tempfile::tempdir().unwrap();
    let mut trainer = Trainer::new(
        TrainingArgs {
            max_steps: 20,
            save_strategy: SaveStrategy::No,
            ..args()
        },
        run.path(),
        Device::flex(),
    )
    .unwrap();
    let loss_before = trainer.evaluate(&initial, &data);
    let out = trainer.train(initial, &data, None).unwrap();
    let loss_after = trainer.evaluate(&out.model, &data);
    // Measured: 2.266 -> 1.918 (MSE over the 40 windows, before and after 20 steps).
    assert!(
        loss_after < 0.9 * loss_before,
        "loss {loss_before} -> {loss_after}"
    );
    // PEFT's count for these adapters on this checkpoint (see the tsfm-models LoRA tests).
    assert_eq!(
        (out.metrics.trainable_params, out.metrics.total_params),
        (4_800, 16_030)
    );
    let (adapters_after, base_after) = split(weights(&out.model));
    assert_eq!(
        base_after, base_before,
        "base weights and biases are frozen"
    );
    assert_eq!(adapters_after.len(), 96);
    let changed = adapters_after
        .iter()
        .filter(|(k, v)| adapters_before[*k] != **v)
        .count();
    assert_eq!(changed, 96, "every A and B moved");

    let tmp = tempfile::tempdir().unwrap();
    let merged_dir = tmp.path().join("merged");
    let adapter_dir = tmp.path().join("adapter");
    out.model.save_pretrained(&merged_dir).unwrap();
    let base = ttm_dir().display().to_string();
    lora::save_adapter(&out.model, &lora_config(5), "ttm", &base, &adapter_dir).unwrap();
    let merged = load_forecaster_in(&merged_dir, &Device::flex())
        .unwrap()
        .model;
    let adapter = load_forecaster_in(&adapter_dir, &Device::flex())
        .unwrap()
        .model;
    assert_eq!(lora::adapter_param_count(&merged), 0);
    assert_eq!(lora::adapter_param_count(&adapter), 4_800);
    let trained = point(&out.model, &data);
    assert_eq!(point(&adapter, &data), trained, "the same computation");
    let diff = max_abs_diff(&point(&merged, &data), &trained);
    assert!(diff < 1e-5, "merged vs adapters: {diff}");
}

#[test]
fn a_resumed_lora_run_matches_the_uninterrupted_run_bit_for_bit() {
    let _g = lock();
    let data = waves();
    let dir_a = tempfile::tempdir().unwrap();
    let full = Trainer::new(args(), dir_a.path(), Device::flex())
        .unwrap()
        .train(load(5), &data, None)
        .unwrap();
    assert_eq!(full.metrics.global_step, 8);

    let dir_b = tempfile::tempdir().unwrap();
    let mut first = Trainer::new(args(), dir_b.path(), Device::flex()).unwrap();
    first.add_callback(Box::new(StopAt(5)));
    let part = first.train(load(5), &data, None).unwrap();
    assert_eq!(part.metrics.global_step, 5);
    assert_ne!(weights(&part.model), weights(&full.model));
    let resume = TrainingArgs {
        resume_from_checkpoint: Some(ResumeFrom::Latest(true)),
        ..args()
    };
    // Adapters drawn from another seed: the checkpoint's must replace them.
    let resumed = Trainer::new(resume, dir_b.path(), Device::flex())
        .unwrap()
        .train(load(999), &data, None)
        .unwrap();
    assert_eq!(resumed.metrics.resumed_from_step, Some(3));
    assert_eq!(weights(&resumed.model), weights(&full.model));
    assert_eq!(resumed.metrics.train_loss, full.metrics.train_loss);
}

#[test]
fn lora_on_a_model_without_adapters_is_refused() {
    let _g = lock();
    let plain = load_forecaster_in(&ttm_dir(), &Device::flex())
        .unwrap()
        .model;
    let dir = tempfile::tempdir().unwrap();
    let err = Trainer::new(args(), dir.path(), Device::flex())
        .unwrap()
        .train(plain, &waves(), None)
        .err()
        .unwrap();
    assert!(matches!(err, TrainError::InvalidArgs { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("`lora` trains LoRA adapters, but the model carries none; load it with LoRA"),
        "{err}"
    );
}
