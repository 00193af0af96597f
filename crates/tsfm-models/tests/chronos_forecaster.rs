//! The `Forecaster` side of Chronos-T5: loading through `AnyForecaster`, channel folding,
//! missing values, bad input, rollout past `prediction_length`, the training targets and
//! loss, fine-tune modes, `save_pretrained` and a few Adam steps.

mod chronos_common;

use std::collections::BTreeMap;

use burn::Tensor;
use burn::module::{Module, ModuleMapper, Param};
use burn::tensor::{Device, Gradients, TensorData};
use chronos_common::*;
use tsfm_models::checkpoint::{load_checkpoint_tensors, read_config_json};
use tsfm_models::chronos::loss::token_cross_entropy;
use tsfm_models::{
    AnyForecaster, ChronosModel, Decoding, FinetuneMode, ForecastInput, ForecastOptions,
    Forecaster, LossKind, SamplingOptions, load_forecaster,
};

fn load(device: &Device) -> ChronosModel {
    ChronosModel::from_pretrained(&model_dir(), device)
        .unwrap()
        .0
}

fn contexts() -> Vec<Vec<f32>> {
    let c = &fixture("inputs.safetensors")["context"];
    c.data.chunks(c.shape[1]).map(<[f32]>::to_vec).collect()
}

/// `[b, t, c]` values with their mask from rows given as `[window][channel][time]`.
fn batch_of(windows: &[Vec<Vec<f32>>], device: &Device) -> ForecastInput {
    let (b, c, t) = (windows.len(), windows[0].len(), windows[0][0].len());
    let mut values = Vec::new();
    let mut mask = Vec::new();
    for w in windows {
        for step in 0..t {
            for ch in w {
                let v = ch[step];
                values.push(if v.is_nan() { 0.0 } else { v });
                mask.push(if v.is_nan() { 0.0 } else { 1.0 });
            }
        }
    }
    let mut input = ForecastInput::context(Tensor::from_data(
        TensorData::new(values, [b, t, c]),
        device,
    ));
    input.past_observed_mask = Some(Tensor::from_data(TensorData::new(mask, [b, t, c]), device));
    input
}

fn greedy() -> ForecastOptions {
    ForecastOptions {
        decoding: Some(Decoding::Greedy),
        ..ForecastOptions::default()
    }
}

fn greedy_point(model: &impl Forecaster, input: &ForecastInput, horizon: usize) -> Vec<f32> {
    let options = ForecastOptions {
        horizon: Some(horizon),
        ..greedy()
    };
    to_host(model.forecast_with(input, &options).unwrap().point).data
}

#[test]
fn loads_through_any_forecaster_with_its_checkpoint_info() {
    let device = Device::flex();
    let loaded = load_forecaster(model_dir().to_str().unwrap(), &device).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(matches!(loaded.model, AnyForecaster::Chronos(_)));
    let info = loaded.model.info();
    assert_eq!(info.model_type, "chronos");
    assert_eq!((info.context_length, info.prediction_length), (64, 8));
    assert_eq!(
        (
            info.target_channels,
            info.past_covariates,
            info.future_covariates
        ),
        (1, 0, 0)
    );
    assert!(!info.uses_sampling_interval);
    assert_eq!(
        info.quantile_levels,
        vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    );
    assert_eq!(loaded.model.max_horizon(), None);
    // config.json alone says the same.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        model_dir().join("config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    assert_eq!(
        tsfm_models::checkpoint_info_in(tmp.path()).unwrap().info,
        info
    );
    // The forecast through AnyForecaster is the model's.
    let input = batch_of(
        &contexts().into_iter().map(|r| vec![r]).collect::<Vec<_>>(),
        &device,
    );
    assert_eq!(
        greedy_point(&loaded.model, &input, 8),
        greedy_point(&load(&device), &input, 8)
    );
}

#[test]
fn channels_are_folded_and_a_mask_means_missing() {
    let device = Device::flex();
    let model = load(&device);
    let rows = contexts();
    let single = batch_of(
        &rows.iter().map(|r| vec![r.clone()]).collect::<Vec<_>>(),
        &device,
    );
    let reference = greedy_point(&model, &single, 8); // [4, 8, 1]
    // Two windows of two channels: (series 0, 1) and (series 2, 3).
    let folded = batch_of(
        &[
            vec![rows[0].clone(), rows[1].clone()],
            vec![rows[2].clone(), rows[3].clone()],
        ],
        &device,
    );
    let point = greedy_point(&model, &folded, 8); // [2, 8, 2]
    for series in 0..4 {
        let (w, ch) = (series / 2, series % 2);
        for h in 0..8 {
            assert_eq!(
                point[(w * 8 + h) * 2 + ch],
                reference[series * 8 + h],
                "series {series} step {h}"
            );
        }
    }
    // NaN values without a mask are missing too.
    let nan = ForecastInput::context(Tensor::from_data(
        TensorData::new(rows.concat(), [4, 64, 1]),
        &device,
    ));
    assert_eq!(greedy_point(&model, &nan, 8), reference);
}

#[test]
fn a_series_with_nothing_observed_gets_scale_one_and_pad_tokens() {
    let device = Device::flex();
    let model = load(&device);
    let batch = model.tokenize_contexts(&[vec![f32::NAN; 5]]);
    assert_eq!(batch.ids, vec![0, 0, 0, 0, 0, 1]);
    assert_eq!(batch.mask, vec![0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    assert_eq!(batch.scale, vec![1.0]);
    // Through the Forecaster: fully masked values forecast what EOS alone predicts, finite,
    // whatever the masked values were.
    let mut input = batch_of(&[vec![vec![f32::NAN; 5]]], &device);
    let a = greedy_point(&model, &input, 8);
    input.past_values = Tensor::ones([1, 5, 1], &device) * 123.0;
    assert_eq!(greedy_point(&model, &input, 8), a);
    assert!(a.iter().all(|v| v.is_finite()));
    let eos_only = model.tokenize_contexts(&[vec![f32::NAN; 64]]);
    assert_eq!(eos_only.ids[64], 1);
}

#[test]
fn bad_input_is_an_error_naming_the_problem() {
    let device = Device::flex();
    let model = load(&device);
    let mut input = batch_of(&[vec![contexts()[0].clone()]], &device);
    input.past_covariates = Some(Tensor::zeros([1, 64, 2], &device));
    let e = model.forecast(&input).unwrap_err().to_string();
    assert!(
        e.contains("past_covariates (2 channel(s)) cannot be used"),
        "{e}"
    );
    input.past_covariates = None;
    input.future_covariates = Some(Tensor::zeros([1, 8, 1], &device));
    let e = model.check_input(&input).unwrap_err().to_string();
    assert!(e.contains("future_covariates (1 channel(s))"), "{e}");

    let empty = ForecastInput::context(Tensor::zeros([1, 0, 1], &device));
    let e = model.forecast(&empty).unwrap_err().to_string();
    assert!(e.contains("past_values is [1, 0, 1]"), "{e}");

    let input = batch_of(&[vec![contexts()[0].clone()]], &device);
    let bad = |options: ForecastOptions| {
        model
            .forecast_with(&input, &options)
            .unwrap_err()
            .to_string()
    };
    let e = bad(ForecastOptions {
        quantile_levels: Some(vec![0.5]),
        ..greedy()
    });
    assert!(e.contains("greedy decoding gives one path"), "{e}");
    let e = bad(ForecastOptions {
        decoding: Some(Decoding::Sample(SamplingOptions {
            num_samples: 4,
            temperature: -1.0,
            top_k: 50,
            top_p: 1.0,
            seed: 0,
        })),
        ..ForecastOptions::default()
    });
    assert!(
        e.contains("temperature -1 must be a positive number"),
        "{e}"
    );
    let e = bad(ForecastOptions {
        horizon: Some(0),
        ..greedy()
    });
    assert!(e.contains("at least 1 step"), "{e}");
    let e = bad(ForecastOptions {
        quantile_levels: Some(vec![0.9, 0.1]),
        ..ForecastOptions::default()
    });
    assert!(e.contains("ascending"), "{e}");
}

#[test]
fn longer_contexts_keep_the_last_steps_and_horizons_roll_out_on_the_median() {
    let device = Device::flex();
    let model = load(&device);
    let rows = contexts();
    let single = |rows: &[Vec<f32>]| {
        batch_of(
            &rows.iter().map(|r| vec![r.clone()]).collect::<Vec<_>>(),
            &device,
        )
    };
    let reference = greedy_point(&model, &single(&rows), 8);
    let longer: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| [vec![7.0; 10], r.clone()].concat())
        .collect();
    assert_eq!(greedy_point(&model, &single(&longer), 8), reference);

    // 20 steps: the first window is the 8-step forecast; the next ones continue from the
    // context with the (one-path) median appended.
    let long = greedy_point(&model, &single(&rows), 20);
    let mut extended = rows.clone();
    for (i, r) in extended.iter_mut().enumerate() {
        assert_eq!(long[i * 20..i * 20 + 8], reference[i * 8..(i + 1) * 8]);
        r.extend_from_slice(&long[i * 20..i * 20 + 8]);
    }
    let second = greedy_point(&model, &single(&extended), 8);
    for i in 0..4 {
        assert_eq!(
            long[i * 20 + 8..i * 20 + 16],
            second[i * 8..(i + 1) * 8],
            "series {i}"
        );
    }
    // Sampling rolls out too, reproducibly.
    let sample = ForecastOptions {
        horizon: Some(12),
        ..ForecastOptions::default()
    };
    let a = model.forecast_with(&single(&rows), &sample).unwrap();
    assert_eq!(a.point.dims(), [4, 12, 1]);
    let b = model.forecast_with(&single(&rows), &sample).unwrap();
    assert_eq!(to_host(a.point), to_host(b.point));
}

#[test]
fn training_targets_follow_train_py() {
    let device = Device::flex();
    let model = load(&device);
    let expected = fixture("outputs.safetensors");
    let scale = expected["scale"].data.clone();
    let greedy = &expected["greedy_values"];
    let mut targets: Vec<Vec<f32>> = greedy.data.chunks(8).map(<[f32]>::to_vec).collect();
    targets[1][3] = f32::NAN; // missing -> -100 in the labels, pad in the decoder input
    targets[2].truncate(6); // short -> missing at the end
    let t = model.training_targets(&targets, &scale);
    assert_eq!((t.rows, t.len), (4, 9));
    let tokens = int_fixture("outputs.safetensors", "greedy_tokens").1;
    for row in 0..4 {
        let mut labels: Vec<i64> = tokens[row * 8..(row + 1) * 8].to_vec();
        labels.push(1); // EOS
        if row == 1 {
            labels[3] = -100;
        }
        if row == 2 {
            labels[6] = -100;
            labels[7] = -100;
        }
        assert_eq!(t.labels[row * 9..(row + 1) * 9], labels, "labels of {row}");
        let mut dec = vec![0];
        dec.extend(labels[..8].iter().map(|&l| if l == -100 { 0 } else { l }));
        assert_eq!(
            t.decoder_input_ids[row * 9..(row + 1) * 9],
            dec,
            "decoder input of {row}"
        );
    }
}

#[test]
fn token_cross_entropy_is_the_mean_over_counted_labels() {
    let device = Device::flex();
    let expected = fixture("outputs.safetensors");
    let logits = &expected["decoder_logits"]; // [4, 8, 128]
    let mut labels = int_fixture("outputs.safetensors", "greedy_tokens").1;
    labels[5] = -100;
    // By hand: log-sum-exp minus the label's logit, averaged over the 31 counted labels.
    let mut total = 0f64;
    for (pos, &label) in labels.iter().enumerate() {
        if label == -100 {
            continue;
        }
        let row = &logits.data[pos * 128..(pos + 1) * 128];
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let lse = max
            + row
                .iter()
                .map(|&x| (x as f64 - max).exp())
                .sum::<f64>()
                .ln();
        total += lse - row[label as usize] as f64;
    }
    let want = (total / 31.0) as f32;
    let got = to_host(token_cross_entropy(
        to_tensor::<3>(logits, &device),
        &labels,
        [4, 8],
    ))
    .data[0];
    assert!((got - want).abs() < 1e-5, "{got} vs {want}");
}

#[test]
fn loss_kinds_and_finetune_modes() {
    let device = Device::flex().autodiff();
    let model = load(&device).with_dropout(false);
    assert!(model.supports_loss(LossKind::Native));
    for kind in [
        LossKind::Mse,
        LossKind::Mae,
        LossKind::Quantile,
        LossKind::Huber { delta: 1.0 },
    ] {
        assert!(!model.supports_loss(kind), "{kind:?}");
    }
    let total = model.param_counts().total;
    // shared 128x16; per encoder layer 4x16x16 + 2x16x32 + 2x16 (+ 32x2 bias table in layer
    // 0); per decoder layer 8x16x16 + 2x16x32 + 3x16 (+ 64); two final norms.
    let enc = 2 * (4 * 256 + 1024 + 32) + 64 + 16;
    let dec = 2 * (8 * 256 + 1024 + 48) + 64 + 16;
    assert_eq!(total, 2048 + enc + dec);
    assert_eq!(model.param_counts().trainable, total);
    let frozen = load(&device).apply_finetune_mode(FinetuneMode::FrozenBackbone);
    assert_eq!(frozen.param_counts().trainable, dec);
    let head = load(&device)
        .with_dropout(false)
        .apply_finetune_mode(FinetuneMode::HeadOnly);
    assert_eq!(head.param_counts().trainable, 16);

    let input = training_batch(&device);
    let grads = head.loss(&input, LossKind::Native).backward();
    let names: Vec<String> = head.hf_gradients(&grads).into_keys().collect();
    assert_eq!(names, vec!["decoder.final_layer_norm.weight"]);
    let frozen = frozen.with_dropout(false);
    let grads = frozen.loss(&input, LossKind::Native).backward();
    let names: Vec<String> = frozen.hf_gradients(&grads).into_keys().collect();
    assert_eq!(names.len(), 28);
    assert!(names.iter().all(|n| n.starts_with("decoder.")), "{names:?}");
}

/// The fixture's contexts with their last 8 steps as targets.
fn training_batch(device: &Device) -> ForecastInput {
    let rows = contexts();
    let past: Vec<Vec<Vec<f32>>> = rows.iter().map(|r| vec![r[..56].to_vec()]).collect();
    let future: Vec<Vec<Vec<f32>>> = rows.iter().map(|r| vec![r[56..].to_vec()]).collect();
    let mut input = batch_of(&past, device);
    let f = batch_of(&future, device);
    input.future_values = Some(f.past_values);
    input.future_observed_mask = f.past_observed_mask;
    input
}

#[test]
fn save_pretrained_round_trips_weights_config_and_forecasts() {
    let device = Device::flex();
    let model = load(&device);
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("saved");
    model.save_pretrained(&out).unwrap();
    assert_eq!(
        load_checkpoint_tensors(&out).unwrap(),
        load_checkpoint_tensors(&model_dir()).unwrap()
    );
    assert_eq!(
        read_config_json(&out).unwrap(),
        read_config_json(&model_dir()).unwrap()
    );
    let (reloaded, warnings) = ChronosModel::from_pretrained(&out, &device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let input = batch_of(
        &contexts().into_iter().map(|r| vec![r]).collect::<Vec<_>>(),
        &device,
    );
    assert_eq!(
        greedy_point(&reloaded, &input, 8),
        greedy_point(&model, &input, 8)
    );
}

#[test]
fn unknown_keys_warn_and_impossible_chronos_configs_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(model_dir().join(f), tmp.path().join(f)).unwrap();
    }
    let edit = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut cfg = read_config_json(&model_dir()).unwrap();
        f(&mut cfg);
        std::fs::write(
            tmp.path().join("config.json"),
            serde_json::to_string(&cfg).unwrap(),
        )
        .unwrap();
        ChronosModel::from_pretrained(tmp.path(), &Device::flex()).map(|(_, w)| w)
    };
    let w = edit(&|c| {
        c.insert("my_key".into(), serde_json::json!(1));
        c["chronos_config"]["extra"] = serde_json::json!(true);
    })
    .unwrap();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("unknown config key `my_key` = 1"), "{w:?}");
    assert!(
        w[1].contains("unknown config key `chronos_config.extra` = true"),
        "{w:?}"
    );
    let e = edit(&|c| c["chronos_config"]["model_type"] = serde_json::json!("causal")).unwrap_err();
    assert!(
        e.to_string()
            .contains("`chronos_config.model_type`: `causal` is not supported"),
        "{e}"
    );
    let e = edit(&|c| c["chronos_config"]["n_tokens"] = serde_json::json!(4096)).unwrap_err();
    assert!(
        e.to_string().contains("4096 exceeds the T5 vocab_size 128"),
        "{e}"
    );
    let e = edit(&|c| {
        c["chronos_config"].as_object_mut().unwrap().remove("top_p");
    })
    .unwrap_err();
    assert!(e.to_string().contains("missing field `top_p`"), "{e}");
    let e = edit(&|c| c["d_ff"] = serde_json::json!(64)).unwrap_err();
    assert!(
        e.to_string()
            .contains("DenseReluDense.wi.weight` has shape [32, 16], config.json implies [64, 16]"),
        "{e}"
    );
}

/// PyTorch's Adam (no weight decay) over every parameter that has a gradient.
struct Adam<'a> {
    grads: &'a Gradients,
    state: &'a mut BTreeMap<String, (Tensor<1>, Tensor<1>)>,
    path: Vec<String>,
    step: i32,
    lr: f64,
}

impl ModuleMapper for Adam<'_> {
    fn enter_module(&mut self, name: &str, _: &str) {
        self.path.push(name.to_string());
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.pop();
    }
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(grad) = param.val().grad(self.grads) else {
            return param;
        };
        let (id, tensor, mapper) = param.consume();
        let dims = tensor.dims();
        let n = tensor.shape().num_elements();
        let g: Tensor<1> = grad.reshape([n]);
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let key = self.path.join(".");
        let (m, v) = self
            .state
            .remove(&key)
            .unwrap_or_else(|| (g.zeros_like(), g.zeros_like()));
        let m = m * b1 + g.clone() * (1.0 - b1);
        let v = v * b2 + g.square() * (1.0 - b2);
        let m_hat = m.clone() / (1.0 - b1.powi(self.step));
        let v_hat = v.clone() / (1.0 - b2.powi(self.step));
        let update = m_hat / (v_hat.sqrt() + eps) * self.lr;
        self.state.insert(key, (m, v));
        let p: Tensor<D> = (tensor.inner().reshape([n]) - update).reshape(dims);
        Param::from_mapped_value(id, p.autodiff().require_grad(), mapper)
    }
}

#[test]
fn a_few_adam_steps_lower_the_native_loss() {
    let device = Device::flex().autodiff();
    let mut model = load(&device).with_dropout(false);
    let input = training_batch(&device);
    let mut state = BTreeMap::new();
    let mut losses = Vec::new();
    for step in 1..=5 {
        let loss = model.loss(&input, LossKind::Native);
        losses.push(to_host(loss.clone()).data[0]);
        let grads = loss.backward();
        model = model.map(&mut Adam {
            grads: &grads,
            state: &mut state,
            path: Vec::new(),
            step,
            lr: 1e-2,
        });
    }
    let last = to_host(model.loss(&input, LossKind::Native)).data[0];
    assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
    assert!(last < 0.8 * losses[0], "{losses:?} then {last}");
}

#[test]
fn stored_copies_of_the_tied_embedding_are_consumed_and_a_different_head_unties() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        model_dir().join("config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    let mut tensors = load_checkpoint_tensors(&model_dir()).unwrap();
    let shared = tensors["shared.weight"].clone();
    // Older saves: the embedding under the encoder/decoder and the head, all equal to it.
    tensors.remove("shared.weight");
    for name in [
        "encoder.embed_tokens.weight",
        "decoder.embed_tokens.weight",
        "lm_head.weight",
    ] {
        tensors.insert(name.into(), shared.clone());
    }
    let weights = tmp.path().join("model.safetensors");
    tsfm_models::checkpoint::save_safetensors(&weights, &tensors).unwrap();
    let (model, warnings) = ChronosModel::from_pretrained(tmp.path(), &device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(model.lm_head.is_none());
    let input = batch_of(
        &contexts().into_iter().map(|r| vec![r]).collect::<Vec<_>>(),
        &device,
    );
    let tied = greedy_point(&model, &input, 8);
    assert_eq!(tied, greedy_point(&load(&device), &input, 8));

    // A head that differs from the embedding is the model's own (transformers 5 unties it).
    let mut head = shared.clone();
    head.data.iter_mut().for_each(|v| *v = -*v);
    tensors.insert("lm_head.weight".into(), head);
    tsfm_models::checkpoint::save_safetensors(&weights, &tensors).unwrap();
    let (model, _) = ChronosModel::from_pretrained(tmp.path(), &device).unwrap();
    assert!(model.lm_head.is_some());
    assert_ne!(greedy_point(&model, &input, 8), tied);
    let saved = tmp.path().join("saved");
    model.save_pretrained(&saved).unwrap();
    let names: Vec<String> = load_checkpoint_tensors(&saved)
        .unwrap()
        .into_keys()
        .collect();
    assert!(
        names.contains(&"lm_head.weight".to_string())
            && names.contains(&"shared.weight".to_string())
    );
}
