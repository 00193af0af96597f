//! Parity with granite-tsfm 0.3.11 on the TTM features the `ttm-tiny` fixture does not use
//! (fixtures from `tools/reference/make_ttm_variant_fixtures.py`, one directory per variant):
//! `mix_channel` mode, exogenous fusion (forecast channel mixer with and without its mixer,
//! prepended past, offsets), the frequency prefix token, `prediction_filter_length`, mean and no
//! scaling, no decoder, sigmoid gates. For each: prediction, loc/scale and every hidden state, a
//! short masked context (one channel never observed), the checkpoint's native loss (MSE, MAE,
//! Huber, pinball; masked by `future_observed_mask` where the fixture has one), parameter counts
//! and the gradient of every parameter, the loss and forecast going through the generic
//! `Forecaster` inputs.
//! Also: config keys of features this port lacks are refused by name.

mod ttm_common;

use std::path::PathBuf;

use burn::Tensor;
use burn::tensor::{Device, Int, TensorData};
use tsfm_models::checkpoint::TensorMap;
use tsfm_models::checkpoint::load_safetensors;
use tsfm_models::ttm::head::select_channels;
use tsfm_models::ttm::{TtmInput, TtmModel};
use tsfm_models::{ForecastInput, Forecaster, LossKind, ModelError};
use ttm_common::{assert_close, to_host, to_tensor};

fn variant_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ttm-variants")
        .join(name)
}

struct Fixture {
    model: TtmModel,
    inputs: TensorMap,
    outputs: TensorMap,
    grads: TensorMap,
}

fn load(name: &str, device: &Device) -> Fixture {
    let dir = variant_dir(name);
    let (model, warnings) =
        TtmModel::from_pretrained(&dir.join("model"), device).expect("variant loads");
    assert!(warnings.is_empty(), "{name}: {warnings:?}");
    let read = |f: &str| load_safetensors(&dir.join(f)).expect("fixture file");
    Fixture {
        model,
        inputs: read("inputs.safetensors"),
        outputs: read("outputs.safetensors"),
        grads: read("grads.safetensors"),
    }
}

fn freq_token(inputs: &TensorMap, device: &Device) -> Option<Tensor<1, Int>> {
    inputs.get("freq_token").map(|t| {
        let ids: Vec<i64> = t.data.iter().map(|&v| v as i64).collect();
        Tensor::from_data(TensorData::new(ids, t.shape.clone()), device)
    })
}

/// The fixture's inputs in TTM's all-channel layout.
fn ttm_input(f: &Fixture, past: &str, mask: Option<&str>, device: &Device) -> TtmInput {
    TtmInput {
        past_values: to_tensor::<3>(&f.inputs[past], device),
        past_observed_mask: mask.map(|m| to_tensor::<3>(&f.inputs[m], device)),
        future_values: Some(to_tensor::<3>(&f.inputs["future_values"], device)),
        freq_token: freq_token(&f.inputs, device),
    }
}

/// The same inputs split the generic way: forecast channels, past-only covariates, the
/// exogenous channels' known future, forecast-channel targets.
fn forecast_input(f: &Fixture, device: &Device) -> ForecastInput {
    let cfg = &f.model.config;
    let targets = cfg.forecast_channels();
    let covariates: Vec<usize> = (0..cfg.num_input_channels)
        .filter(|c| !targets.contains(c))
        .collect();
    let exog = cfg.exogenous_channels();
    let past = to_tensor::<3>(&f.inputs["past_values"], device);
    let future = to_tensor::<3>(&f.inputs["future_values"], device);
    let mut input = ForecastInput::context(select_channels(past.clone(), &targets));
    input.past_covariates = (!covariates.is_empty()).then(|| select_channels(past, &covariates));
    input.future_covariates = (!exog.is_empty()).then(|| select_channels(future, &exog));
    input.future_values = Some(to_tensor::<3>(&f.inputs["future_target_values"], device));
    input.future_observed_mask = f
        .inputs
        .get("future_target_mask")
        .map(|m| to_tensor::<3>(m, device));
    input.sampling_interval_s = sampling_intervals(&f.inputs);
    input
}

/// The fixture's frequency tokens as the sampling intervals that map to them (granite's default
/// mapping; token 0, `oov`, from an interval it does not list).
fn sampling_intervals(inputs: &TensorMap) -> Option<Vec<u64>> {
    const SECONDS: [u64; 10] = [7, 60, 120, 300, 600, 900, 1800, 3600, 86_400, 604_800];
    inputs
        .get("freq_token")
        .map(|t| t.data.iter().map(|&v| SECONDS[v as usize]).collect())
}

fn check_forward(name: &str) {
    let device = Device::flex();
    let f = load(name, &device);
    let out = f
        .model
        .forward(&ttm_input(&f, "past_values", None, &device), true);
    let e = &f.outputs;
    let tag = |k: &str| format!("{name}: {k}");
    assert_close(
        &tag("prediction_outputs"),
        &to_host(out.prediction),
        &e["prediction_outputs"],
    );
    assert_close(&tag("loc"), &to_host(out.loc), &e["loc"]);
    assert_close(&tag("scale"), &to_host(out.scale), &e["scale"]);
    assert_close(
        &tag("backbone_hidden_state"),
        &to_host(out.backbone_hidden_state),
        &e["backbone_hidden_state"],
    );
    assert_close(
        &tag("decoder_hidden_state"),
        &to_host(out.decoder_hidden_state),
        &e["decoder_hidden_state"],
    );
    let hidden = out.hidden_states.expect("requested");
    let n = e.keys().filter(|k| k.starts_with("hidden_states.")).count();
    assert_eq!(hidden.len(), n, "{name}: number of hidden states");
    for (i, h) in hidden.into_iter().enumerate() {
        let k = format!("hidden_states.{i}");
        assert_close(&tag(&k), &to_host(h), &e[&k]);
    }

    let masked = f.model.forward(
        &ttm_input(
            &f,
            "masked_past_values",
            Some("masked_past_observed_mask"),
            &device,
        ),
        false,
    );
    assert_close(
        &tag("masked_prediction_outputs"),
        &to_host(masked.prediction),
        &e["masked_prediction_outputs"],
    );
    assert_close(&tag("masked_loc"), &to_host(masked.loc), &e["masked_loc"]);
    assert_close(
        &tag("masked_scale"),
        &to_host(masked.scale),
        &e["masked_scale"],
    );
}

/// Forecast, native loss and every gradient through [`Forecaster`], in eval mode like the
/// reference (dropout off, gradients on).
fn check_forecaster_loss_and_grads(name: &str) {
    let device = Device::flex().autodiff();
    let f = load(name, &device);
    let model = f.model.with_dropout(false);
    let f = Fixture { model, ..f };
    let input = forecast_input(&f, &device);
    let counts = f.model.param_counts();
    let count = |k: &str| f.outputs[k].data[0] as usize;
    assert_eq!(counts.total, count("num_params"), "{name}: parameters");
    assert_eq!(
        counts.trainable,
        count("num_trainable_params"),
        "{name}: trainable parameters"
    );

    let point = f.model.forecast(&input).unwrap().point;
    assert_close(
        &format!("{name}: forecast.point"),
        &to_host(point),
        &f.outputs["prediction_outputs"],
    );

    let loss = f.model.loss(&input, LossKind::Native);
    assert_close(
        &format!("{name}: loss"),
        &to_host(loss.clone()),
        &f.outputs["loss"],
    );
    let grads = loss.backward();
    let ours = f.model.hf_gradients(&grads);
    assert_eq!(
        ours.keys().collect::<Vec<_>>(),
        f.grads.keys().collect::<Vec<_>>(),
        "{name}: gradient names"
    );
    for (k, g) in &f.grads {
        assert_close(&format!("{name}: grad {k}"), &ours[k], g);
    }
}

#[test]
fn mix_channel_forward_matches_reference() {
    check_forward("mix-channel");
}

#[test]
fn mix_channel_pinball_loss_and_gradients_match_reference() {
    check_forecaster_loss_and_grads("mix-channel");
}

#[test]
fn exogenous_mixer_forward_matches_reference() {
    check_forward("exog-mixer");
}

#[test]
fn exogenous_mixer_masked_loss_and_gradients_match_reference() {
    check_forecaster_loss_and_grads("exog-mixer");
}

#[test]
fn exogenous_offset_and_filter_forward_matches_reference() {
    check_forward("exog-offset");
}

#[test]
fn exogenous_offset_mae_loss_and_gradients_match_reference() {
    check_forecaster_loss_and_grads("exog-offset");
}

#[test]
fn channel_mixing_without_exogenous_forward_matches_reference() {
    check_forward("fcm-plain");
}

#[test]
fn channel_mixing_without_exogenous_sigmoid_gates_loss_and_gradients_match_reference() {
    check_forecaster_loss_and_grads("fcm-plain");
}

#[test]
fn frequency_token_forward_matches_reference() {
    check_forward("freq-token");
}

#[test]
fn frequency_token_huber_loss_and_gradients_match_reference() {
    check_forecaster_loss_and_grads("freq-token");
}

#[test]
fn prediction_filter_forward_matches_reference() {
    check_forward("filter");
}

#[test]
fn prediction_filter_masked_loss_and_gradients_match_reference() {
    check_forecaster_loss_and_grads("filter");
}

#[test]
fn the_frequency_token_changes_the_forecast() {
    let device = Device::flex();
    let f = load("freq-token", &device);
    let mut input = ttm_input(&f, "past_values", None, &device);
    let base = to_host(f.model.forward(&input, false).prediction);
    input.freq_token = Some(Tensor::from_ints([1, 1, 1], &device));
    let other = to_host(f.model.forward(&input, false).prediction);
    // Window 0 was token 0 in the fixture: its forecast must move with the token.
    let n = base.data.len() / 3;
    let moved = base.data[..n]
        .iter()
        .zip(&other.data[..n])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(moved > 1e-3, "max change {moved}");
}

#[test]
fn frequency_tokens_follow_granites_default_mapping() {
    use tsfm_models::ttm::default_frequency_token;
    let tokens: Vec<i64> = [60, 120, 300, 600, 900, 1800, 3600, 86_400, 604_800, 7, 0]
        .into_iter()
        .map(default_frequency_token)
        .collect();
    assert_eq!(tokens, vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 0]);
}

#[test]
fn missing_inputs_are_reported_not_guessed() {
    let device = Device::flex();
    let freq = load("freq-token", &device);
    let mut input = forecast_input(&freq, &device);
    input.sampling_interval_s = None;
    let e = freq.model.check_input(&input).unwrap_err().to_string();
    assert!(e.contains("sampling_interval_s"), "{e}");
    input.sampling_interval_s = Some(vec![300, 60]);
    let e = freq.model.check_input(&input).unwrap_err().to_string();
    assert!(e.contains("2 intervals for a batch of 3"), "{e}");
    // 3600 s is token 7: outside this checkpoint's table of 7.
    input.sampling_interval_s = Some(vec![300, 3600, 60]);
    let e = freq.model.check_input(&input).unwrap_err().to_string();
    assert!(
        e.contains("3600 s is frequency token 7, outside this checkpoint's 0..7"),
        "{e}"
    );
    assert!(freq.model.forecast(&input).is_err());

    let exog = load("exog-mixer", &device);
    let mut input = forecast_input(&exog, &device);
    assert!(exog.model.check_input(&input).is_ok());
    input.future_covariates = None;
    let e = exog.model.check_input(&input).unwrap_err().to_string();
    assert!(e.contains("future_covariates"), "{e}");
    let mut input = forecast_input(&exog, &device);
    input.past_covariates = None;
    let e = exog.model.check_input(&input).unwrap_err().to_string();
    assert!(e.contains("past_covariates has 0 channels"), "{e}");
}

/// Every key granite-tsfm 0.3.11 writes is known: the six variant checkpoints (95 keys each,
/// all features off and on) load without a warning (checked in `load`), and a key nobody knows
/// is reported.
#[test]
fn config_keys_are_recognised_and_unknown_ones_warned() {
    let dir = variant_dir("filter").join("model");
    let raw = tsfm_models::checkpoint::read_config_json(&dir).unwrap();
    assert_eq!(raw.len(), 95);
    for name in [
        "mix-channel",
        "exog-mixer",
        "exog-offset",
        "fcm-plain",
        "freq-token",
    ] {
        let raw =
            tsfm_models::checkpoint::read_config_json(&variant_dir(name).join("model")).unwrap();
        let parsed = tsfm_models::ttm::TtmConfig::from_json(raw, name).unwrap();
        assert!(parsed.warnings.is_empty(), "{name}: {:?}", parsed.warnings);
    }

    let tmp = tempfile::tempdir().unwrap();
    let mut raw = raw;
    raw.insert("fcm_new_knob".into(), serde_json::json!(7));
    write_checkpoint(tmp.path(), &dir, &raw);
    let (_, warnings) = TtmModel::from_pretrained(tmp.path(), &Device::flex()).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("unknown config key `fcm_new_knob` = 7"),
        "{}",
        warnings[0]
    );
}

fn write_checkpoint(
    to: &std::path::Path,
    from: &std::path::Path,
    raw: &serde_json::Map<String, serde_json::Value>,
) {
    std::fs::write(
        to.join("config.json"),
        serde_json::to_string_pretty(&serde_json::Value::Object(raw.clone())).unwrap(),
    )
    .unwrap();
    std::fs::copy(from.join("model.safetensors"), to.join("model.safetensors")).unwrap();
}

/// A checkpoint that turns on a feature this port does not implement fails to load, and the
/// error names the key, instead of computing something else.
#[test]
fn unimplemented_features_fail_to_load_naming_the_key() {
    use serde_json::json;
    let dir = variant_dir("filter").join("model");
    let base = tsfm_models::checkpoint::read_config_json(&dir).unwrap();
    let cases = [
        ("multi_quantile_head", json!(true)),
        ("decompose", json!(true)),
        ("fft_length", json!(4)),
        ("register_tokens", json!(2)),
        ("multi_scale", json!(true)),
        ("enable_base_norm_always", json!(true)),
        ("use_register_context_gating", json!(true)),
        ("self_attn", json!(true)),
        ("norm_mlp", json!("BatchNorm")),
        ("categorical_vocab_size_list", json!([3, 4])),
        ("gate_mode", json!("glu")),
        ("trend_patch_length", json!(8)),
        ("residual_context_length", json!(16)),
        ("loss", json!("nll")),
    ];
    for (key, value) in cases {
        let tmp = tempfile::tempdir().unwrap();
        let mut raw = base.clone();
        raw.insert(key.into(), value.clone());
        write_checkpoint(tmp.path(), &dir, &raw);
        let err = TtmModel::from_pretrained(tmp.path(), &Device::flex())
            .map(|_| ())
            .unwrap_err();
        assert!(matches!(err, ModelError::Invalid(_)), "{key}: {err:?}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("`{key}`")), "{key}: {msg}");
    }
    // Neutral values of the same keys load (granite writes them on every checkpoint).
    let tmp = tempfile::tempdir().unwrap();
    let mut raw = base;
    raw.insert("fft_length".into(), json!(0));
    raw.insert("use_fft_embedding".into(), json!(true));
    raw.insert("trend_patch_length".into(), serde_json::Value::Null);
    write_checkpoint(tmp.path(), &dir, &raw);
    assert!(TtmModel::from_pretrained(tmp.path(), &Device::flex()).is_ok());
}

/// `save_pretrained` keeps every variant's config keys (`gate_mode` included) and weights: the
/// reloaded model reproduces the reference forecast.
#[test]
fn variants_survive_save_pretrained() {
    let device = Device::flex();
    for name in ["fcm-plain", "freq-token", "exog-mixer", "mix-channel"] {
        let f = load(name, &device);
        let tmp = tempfile::tempdir().unwrap();
        f.model.save_pretrained(tmp.path()).unwrap();
        let original =
            tsfm_models::checkpoint::read_config_json(&variant_dir(name).join("model")).unwrap();
        let saved = tsfm_models::checkpoint::read_config_json(tmp.path()).unwrap();
        let keys: std::collections::BTreeSet<&String> =
            saved.keys().chain(original.keys()).collect();
        for k in keys {
            assert_eq!(
                saved.get(k),
                original.get(k),
                "{name}: config.json key `{k}`"
            );
        }
        let (reloaded, warnings) = TtmModel::from_pretrained(tmp.path(), &device).unwrap();
        assert!(warnings.is_empty(), "{name}: {warnings:?}");
        let reloaded = Fixture {
            model: reloaded,
            ..f
        };
        let point = reloaded
            .model
            .forecast(&forecast_input(&reloaded, &device))
            .unwrap()
            .point;
        assert_close(
            &format!("{name}: reloaded forecast"),
            &to_host(point),
            &reloaded.outputs["prediction_outputs"],
        );
    }
}
