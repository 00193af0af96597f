//! LoRA on the tiny TTM checkpoint: which layers get adapters, that a fresh adapter changes
//! nothing, merging, gradients, and the PEFT adapter folder written and read back.

mod lora_common;
mod ttm_common;

use std::path::Path;

use burn::module::Module;
use burn::tensor::Device;
use lora_common::perturb;
use tsfm_models::checkpoint::{HostTensor, load_checkpoint_tensors, load_safetensors};
use tsfm_models::lora::{self, LoraConfig, TargetModules};
use tsfm_models::nn::{hf_grads, hf_tensors};
use tsfm_models::ttm::TtmModel;
use tsfm_models::{FinetuneMode, ForecastInput, Forecaster, LoadOptions, LossKind};
use ttm_common::*;

fn config(rank: usize, alpha: f64, targets: TargetModules) -> LoraConfig {
    LoraConfig {
        rank,
        alpha,
        dropout: 0.0,
        target_modules: targets,
        use_rslora: false,
        seed: 11,
    }
}

fn names(n: &[&str]) -> TargetModules {
    TargetModules::Names(n.iter().map(|s| s.to_string()).collect())
}

fn load(lora: Option<&LoraConfig>, device: &Device) -> TtmModel {
    let options = LoadOptions {
        lora: lora.cloned(),
        ..Default::default()
    };
    TtmModel::from_pretrained_with(&model_dir(), device, &options)
        .unwrap()
        .0
}

fn batch(device: &Device) -> ForecastInput {
    let inputs = fixture("inputs.safetensors");
    let mut input = ForecastInput::context(to_tensor::<3>(&inputs["past_values"], device));
    input.future_values = Some(to_tensor::<3>(&inputs["future_values"], device));
    input
}

fn point<F: Forecaster>(model: &F, device: &Device) -> HostTensor {
    to_host(model.forecast(&batch(device)).unwrap().point)
}

fn max_abs_diff(a: &HostTensor, b: &HostTensor) -> f32 {
    assert_eq!(a.shape, b.shape);
    a.data
        .iter()
        .zip(&b.data)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn default_targets_adapt_the_mixer_layers_with_peft_parameter_counts() {
    let device = Device::flex();
    // PEFT 0.21.2 on the same checkpoint, `LoraConfig(r=4, target_modules=["fc1", "fc2",
    // "attn_layer"])`: "trainable params: 4,800 || all params: 16,030".
    let model = load(Some(&config(4, 8.0, TargetModules::Default)), &device)
        .apply_finetune_mode(FinetuneMode::Lora);
    let counts = model.param_counts();
    assert_eq!((counts.trainable, counts.total), (4_800, 16_030));
    let adapters = lora::adapter_tensors(&model);
    assert_eq!(adapters.len(), 96, "48 layers, A and B each");
    let layer = "base_model.model.backbone.encoder.mlp_mixer_encoder.mixers.0.mixer_layers.0.\
                 feature_mixer.mlp.fc1";
    assert_eq!(adapters[&format!("{layer}.lora_A.weight")].shape, [4, 5]);
    assert_eq!(adapters[&format!("{layer}.lora_B.weight")].shape, [10, 4]);
    assert!(
        adapters.keys().all(|k| !k.contains("patcher")
            && !k.contains("base_forecast_block")
            && !k.contains("decoder.adapter")),
        "the embedding and the head stay as they are"
    );

    let all = load(
        Some(&config(2, 2.0, TargetModules::Pattern("all-linear".into()))),
        &device,
    );
    assert_eq!(lora::adapter_tensors(&all).len(), 2 * 51);
    let head_only = load(
        Some(&config(2, 2.0, names(&["head.base_forecast_block"]))),
        &device,
    )
    .apply_finetune_mode(FinetuneMode::Lora);
    // base_forecast_block: [4 patches x 8 features -> 16 steps], so A 32x2 and B 2x16.
    assert_eq!(head_only.param_counts().trainable, 32 * 2 + 2 * 16);
}

#[test]
fn a_fresh_adapter_leaves_forecasts_bit_identical() {
    let device = Device::flex();
    let plain = load(None, &device);
    let mut with = config(8, 16.0, TargetModules::Pattern("all-linear".into()));
    with.dropout = 0.1;
    let adapted = load(Some(&with), &device);
    // PEFT 0.21.2, `LoraConfig(r=8, target_modules="all-linear")`: "trainable params: 10,432".
    assert_eq!(lora::adapter_param_count(&adapted), 10_432);
    assert_eq!(point(&adapted, &device), point(&plain, &device));
}

#[test]
fn merged_weights_are_the_base_plus_scaled_b_a() {
    let device = Device::flex();
    let mut cfg = config(4, 6.0, names(&["fc1", "attn_layer"]));
    cfg.use_rslora = true; // scaling 6 / sqrt(4) = 3
    let model = perturb(load(Some(&cfg), &device));
    let base = load_checkpoint_tensors(&model_dir()).unwrap();
    let merged = hf_tensors(&model);
    assert_eq!(
        merged.keys().collect::<Vec<_>>(),
        base.keys().collect::<Vec<_>>(),
        "the same tensors as the checkpoint: no adapter tensors"
    );
    let adapters = lora::adapter_tensors(&model);
    let mut adapted = 0;
    for (name, w) in &base {
        let module = name.strip_suffix(".weight").unwrap_or(name);
        let a = adapters.get(&format!("base_model.model.{module}.lora_A.weight"));
        let b = adapters.get(&format!("base_model.model.{module}.lora_B.weight"));
        let (Some(a), Some(b)) = (a, b) else {
            assert_eq!(
                &merged[name], w,
                "{name} is not adapted and must not change"
            );
            continue;
        };
        adapted += 1;
        // W [out, in] + 3 * B [out, r] A [r, in], on the host.
        let (out, r, inp) = (b.shape[0], b.shape[1], a.shape[1]);
        let mut expected = w.clone();
        for o in 0..out {
            for i in 0..inp {
                let ba: f32 = (0..r)
                    .map(|k| b.data[o * r + k] * a.data[k * inp + i])
                    .sum();
                expected.data[o * inp + i] += 3.0 * ba;
            }
        }
        let diff = max_abs_diff(&merged[name], &expected);
        assert!(diff < 1e-6, "{name}: {diff}");
        assert!(max_abs_diff(w, &expected) > 1e-3, "{name}: B is not zero");
    }
    assert_eq!(adapted, 32, "fc1 and the gates of 16 mixer layers");
}

#[test]
fn forecasts_with_adapters_equal_those_of_the_merged_checkpoint() {
    let device = Device::flex();
    let model = perturb(load(Some(&config(4, 8.0, TargetModules::Default)), &device));
    let with_adapters = point(&model, &device);
    assert!(max_abs_diff(&with_adapters, &point(&load(None, &device), &device)) > 1e-3);

    let tmp = tempfile::tempdir().unwrap();
    model.save_pretrained(tmp.path()).unwrap();
    let (merged, warnings) = TtmModel::from_pretrained(tmp.path(), &device).unwrap();
    assert!(warnings.is_empty(), "an ordinary checkpoint: {warnings:?}");
    let diff = max_abs_diff(&point(&merged, &device), &with_adapters);
    assert!(diff < 1e-5, "{diff}");
    let materialized = model.valid().materialize();
    assert_eq!(lora::adapter_param_count(&materialized), 0);
    assert_eq!(point(&materialized, &device), point(&merged, &device));
}

#[test]
fn only_adapters_receive_gradients() {
    let device = Device::flex().autodiff();
    let model = load(Some(&config(4, 8.0, TargetModules::Default)), &device)
        .apply_finetune_mode(FinetuneMode::Lora)
        .with_dropout(false);
    let grads = model.loss(&batch(&device), LossKind::Mse).backward();
    let named = hf_grads(&model, &grads);
    assert_eq!(named.len(), 96);
    assert!(
        named
            .keys()
            .all(|k| k.ends_with(".lora_A.weight") || k.ends_with(".lora_B.weight")),
        "{:?}",
        named.keys().find(|k| !k.contains("lora_"))
    );
    // With B = 0 the loss does not depend on A yet (dL/dA = x^T dL/dh B^T s), but it does on B.
    let norm = |suffix: &str| -> f32 {
        named
            .iter()
            .filter(|(k, _)| k.ends_with(suffix))
            .flat_map(|(_, g)| g.data.iter().map(|v| v * v))
            .sum()
    };
    assert_eq!(norm(".lora_A.weight"), 0.0);
    assert!(norm(".lora_B.weight") > 0.0);
}

#[test]
fn targets_that_match_no_linear_layer_name_the_layers_there_are() {
    let options = LoadOptions {
        lora: Some(config(4, 8.0, names(&["fc1", "q_proj"]))),
        ..Default::default()
    };
    let err = TtmModel::from_pretrained_with(&model_dir(), &Device::flex(), &options)
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "LoRA target_modules: `q_proj` matches no linear layer of this ttm checkpoint; its \
         linear layers end in `adapter`, `attn_layer`, `base_forecast_block`, `fc1`, `fc2`, \
         `patcher` (e.g. `backbone.encoder.patcher`, \
         `backbone.encoder.mlp_mixer_encoder.mixers.0.mixer_layers.0.patch_mixer.mlp.fc1`, \
         `backbone.encoder.mlp_mixer_encoder.mixers.0.mixer_layers.0.patch_mixer.mlp.fc2`)"
    );
}

#[test]
fn an_adapter_folder_round_trips_and_loads_onto_its_base() {
    let device = Device::flex();
    let cfg = LoraConfig {
        dropout: 0.05,
        ..config(4, 8.0, TargetModules::Default)
    };
    let model = perturb(load(Some(&cfg), &device));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("adapter");
    // A stale checkpoint in the folder would hide the adapter: it is removed.
    model.save_pretrained(&dir).unwrap();
    lora::save_adapter(&model, &cfg, "ttm", model_dir().to_str().unwrap(), &dir).unwrap();
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["adapter_config.json", "adapter_model.safetensors"]);

    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(written["peft_type"], "LORA");
    assert_eq!(written["r"], 4);
    assert_eq!(written["lora_alpha"], 8.0);
    assert_eq!(written["lora_dropout"], 0.05);
    assert_eq!(
        written["target_modules"],
        serde_json::json!(["fc1", "fc2", "attn_layer"])
    );
    assert_eq!(written["bias"], "none");
    assert_eq!(written["fan_in_fan_out"], false);
    assert_eq!(written["use_rslora"], false);
    assert_eq!(written["task_type"], serde_json::Value::Null);
    assert_eq!(
        Path::new(written["base_model_name_or_path"].as_str().unwrap()),
        model_dir().canonicalize().unwrap()
    );
    let saved = load_safetensors(&dir.join("adapter_model.safetensors")).unwrap();
    assert_eq!(saved, lora::adapter_tensors(&model));

    let loaded = tsfm_models::load_forecaster(dir.to_str().unwrap(), &device).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(lora::adapter_tensors(&loaded.model), saved);
    assert_eq!(point(&loaded.model, &device), point(&model, &device));
    let info = tsfm_models::checkpoint_info(dir.to_str().unwrap()).unwrap();
    assert_eq!(info.info, loaded.model.info());
    assert_eq!(info.dir, dir);
}

#[test]
fn adapter_folders_tsfm_cannot_apply_are_refused_by_name() {
    let device = Device::flex();
    let cfg = config(2, 4.0, names(&["fc1"]));
    let model = load(Some(&cfg), &device);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    lora::save_adapter(&model, &cfg, "ttm", model_dir().to_str().unwrap(), dir).unwrap();
    let config_path = dir.join("adapter_config.json");
    let original = std::fs::read_to_string(&config_path).unwrap();
    let edit = |key: &str, value: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
        v[key] = value;
        std::fs::write(&config_path, v.to_string()).unwrap();
        tsfm_models::load_forecaster(dir.to_str().unwrap(), &device)
            .err()
            .unwrap()
            .to_string()
    };
    let at = config_path.display().to_string();
    assert_eq!(
        edit("bias", "lora_only".into()),
        format!(
            "{at}: `bias` is set; tsfm loads plain LoRA adapters only (bias none, no DoRA, one \
             rank and alpha for every layer, no extra trained modules)"
        )
    );
    assert_eq!(
        edit("peft_type", "IA3".into()),
        format!("{at}: peft_type `IA3`: only LoRA adapters (LORA) can be loaded")
    );
    let err = edit("base_model_name_or_path", "no/such-model".into());
    assert!(
        err.starts_with(&format!(
            "{at}: its base model `no/such-model` (base_model_name_or_path):"
        )),
        "{err}"
    );
    // Targets that no longer fit the saved tensors.
    let err = edit("target_modules", serde_json::json!(["fc1", "fc2"]));
    let weights = dir.join("adapter_model.safetensors").display().to_string();
    assert!(
        err.starts_with(&format!(
            "{weights}: does not fit the adapters adapter_config.json describes: \
             `base_model.model.backbone.encoder.mlp_mixer_encoder.mixers.0.mixer_layers.0.\
             patch_mixer.mlp.fc2.lora_A.weight` is missing"
        )),
        "{err}"
    );
    let err = edit("r", 3.into());
    assert!(
        err.contains("has shape [2, 8], the layer needs [3, 8]"),
        "{err}"
    );
}
