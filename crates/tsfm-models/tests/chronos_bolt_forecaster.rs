//! The `Forecaster` side of Chronos-Bolt: channel folding, masks, horizons and quantile levels,
//! bad input, losses, fine-tune modes, saving and loading.

mod chronos_bolt_common;

use burn::Tensor;
use burn::tensor::{Device, TensorData};
use chronos_bolt_common::*;
use tsfm_models::checkpoint::{HostTensor, load_safetensors, read_config_json};
use tsfm_models::chronos_bolt::ChronosBoltModel;
use tsfm_models::chronos_bolt::scaler::Context;
use tsfm_models::{
    AnyForecaster, Decoding, FinetuneMode, ForecastInput, ForecastOptions, Forecaster, LossKind,
    checkpoint_info_in, load_forecaster_in,
};

fn load(device: &Device) -> ChronosBoltModel {
    ChronosBoltModel::from_pretrained(&model_dir(), device)
        .unwrap()
        .0
}

/// The fixture's four series `[4, 64]` (row 3 starts with 10 NaN) as host rows.
fn series() -> Vec<Vec<f32>> {
    let c = &fixture("inputs.safetensors")["context"];
    c.data.chunks(64).map(<[f32]>::to_vec).collect()
}

/// Windows of `channels` series each, `[windows, t, channels]`, with NaN replaced by 0 and
/// marked missing in the mask (the data pipeline's form).
fn batch(rows: &[Vec<f32>], channels: usize, device: &Device) -> ForecastInput {
    let (t, b) = (rows[0].len(), rows.len() / channels);
    let mut values = vec![0f32; b * t * channels];
    let mut mask = vec![0f32; b * t * channels];
    for (r, row) in rows.iter().enumerate() {
        let (w, c) = (r / channels, r % channels);
        for (i, &v) in row.iter().enumerate() {
            let at = (w * t + i) * channels + c;
            if !v.is_nan() {
                values[at] = v;
                mask[at] = 1.0;
            }
        }
    }
    let shape = [b, t, channels];
    let mut input =
        ForecastInput::context(Tensor::from_data(TensorData::new(values, shape), device));
    input.past_observed_mask = Some(Tensor::from_data(TensorData::new(mask, shape), device));
    input
}

/// `[windows, h, channels, q]` -> the pipeline's `[series, q, h]`.
fn unfold_quantiles(q: Tensor<4>) -> HostTensor {
    let [b, h, c, n] = q.dims();
    to_host(q.permute([0, 2, 3, 1]).reshape([b * c, n, h]))
}

fn scales() -> Vec<f32> {
    fixture("outputs.safetensors")["scale"].data.clone()
}

#[test]
fn forecast_folds_channels_and_matches_the_pipeline() {
    let device = Device::flex();
    let model = load(&device);
    let out = fixture("outputs.safetensors");
    // Two windows of two channels: series 0 and 1, then 2 and 3.
    let f = model.forecast(&batch(&series(), 2, &device)).unwrap();
    assert_eq!(f.point.dims(), [2, 16, 2]);
    assert_eq!(
        f.quantile_levels,
        vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    );
    let q = f.quantiles.unwrap();
    assert_eq!(q.dims(), [2, 16, 2, 9]);
    assert_close_scaled(
        "quantiles",
        &unfold_quantiles(q),
        &out["pipeline_predict"],
        &scales(),
    );
    let point = to_host(f.point.swap_dims(1, 2).reshape([4, 16]));
    assert_close_scaled("point", &point, &out["predict_quantiles_mean"], &scales());
}

#[test]
fn forecast_with_rolls_out_and_selects_levels() {
    let device = Device::flex();
    let model = load(&device);
    let out = fixture("outputs.safetensors");
    let input = batch(&series(), 1, &device);
    let opts = |horizon: Option<usize>, levels: Option<Vec<f32>>| ForecastOptions {
        horizon,
        quantile_levels: levels,
        decoding: None,
    };
    let f = model.forecast_with(&input, &opts(Some(32), None)).unwrap();
    assert_close_scaled(
        "2H rollout",
        &unfold_quantiles(f.quantiles.unwrap()),
        &out["pipeline_predict_2h"],
        &scales(),
    );
    let f = model
        .forecast_with(&input, &opts(None, Some(vec![0.1, 0.5, 0.9])))
        .unwrap();
    let q = f.quantiles.unwrap();
    assert_close_scaled(
        "predict_quantiles",
        &to_host(q.squeeze_dim::<3>(2)),
        &out["predict_quantiles_q"],
        &scales(),
    );
    // A shorter horizon is the start of the full one.
    let short = model.forecast_with(&input, &opts(Some(5), None)).unwrap();
    let full = model.forecast(&input).unwrap();
    assert_eq!(to_host(short.point), to_host(full.point.narrow(1, 0, 5)));
}

/// Rows forecast on several threads (as a large batch is) equal the one-thread forecast, with
/// a horizon that rolls out past the model's own and chosen quantile levels.
#[test]
fn row_shards_on_threads_forecast_what_one_thread_does() {
    let device = Device::flex();
    let model = load(&device);
    let rows: Vec<Vec<f32>> = (0..7)
        .map(|i| series()[i % 4].iter().map(|v| v + i as f32 * 0.5).collect())
        .collect();
    let input = batch(&rows, 1, &device);
    let options = ForecastOptions {
        horizon: Some(model.prediction_length() + 3),
        quantile_levels: Some(vec![0.1, 0.5, 0.9]),
        ..Default::default()
    };
    let forecast = |threads| {
        let f = tsfm_models::parallel::forecast_rows(&model, &input, threads, |m, part| {
            m.forecast_with(part, &options)
        })
        .unwrap();
        (f.point.into_data(), f.quantiles.unwrap().into_data())
    };
    let one = forecast(1);
    assert!(
        one.0
            .as_slice::<f32>()
            .unwrap()
            .iter()
            .all(|v| v.is_finite())
    );
    for threads in [2, 3, 7] {
        assert_eq!(forecast(threads), one, "{threads} threads");
    }
    // The model's own entry point (which shards large batches itself) gives the same.
    let direct = model.forecast_with(&input, &options).unwrap();
    assert_eq!(
        (
            direct.point.into_data(),
            direct.quantiles.unwrap().into_data()
        ),
        one
    );
}

#[test]
fn bad_options_are_clear_errors() {
    let device = Device::flex();
    let model = load(&device);
    let input = batch(&series(), 1, &device);
    let err = |o: ForecastOptions| model.forecast_with(&input, &o).unwrap_err().to_string();
    assert_eq!(model.max_horizon(), Some(64));
    let e = err(ForecastOptions {
        horizon: Some(65),
        ..Default::default()
    });
    assert!(
        e.contains("a chronos_bolt checkpoint forecasts at most 64 steps; 65 were asked for"),
        "{e}"
    );
    let e = err(ForecastOptions {
        horizon: Some(0),
        ..Default::default()
    });
    assert!(e.contains("at least 1 step"), "{e}");
    let e = err(ForecastOptions {
        quantile_levels: Some(vec![0.5, 1.5]),
        ..Default::default()
    });
    assert!(e.contains("quantile level 1.5 is outside (0, 1)"), "{e}");
    let e = err(ForecastOptions {
        decoding: Some(Decoding::Greedy),
        ..Default::default()
    });
    assert!(
        e.contains("decoding options (greedy/sampling) do not apply"),
        "{e}"
    );
}

#[test]
fn covariates_and_empty_contexts_are_refused() {
    let device = Device::flex();
    let model = load(&device);
    let mut input = batch(&series(), 1, &device);
    input.past_covariates = Some(Tensor::zeros([4, 64, 2], &device));
    input.future_covariates = Some(Tensor::zeros([4, 16, 1], &device));
    let e = model.forecast(&input).unwrap_err().to_string();
    assert!(
        e.contains("past_covariates (2 channels) and future_covariates (1 channels)"),
        "{e}"
    );
    assert_eq!(model.check_input(&input).unwrap_err().to_string(), e);
    let empty = ForecastInput::context(Tensor::zeros([2, 0, 1], &device));
    let e = model.forecast(&empty).unwrap_err().to_string();
    assert!(e.contains("no steps or no channels"), "{e}");
}

#[test]
fn short_long_and_empty_series_follow_the_package() {
    let device = Device::flex();
    let model = load(&device);
    let rows = series();
    let point =
        |rows: &[Vec<f32>]| to_host(model.forecast(&batch(rows, 1, &device)).unwrap().point);
    // Shorter than one patch: the same forecast as the 3 values left-padded with missing steps.
    let short: Vec<Vec<f32>> = rows.iter().map(|r| r[61..].to_vec()).collect();
    let padded: Vec<Vec<f32>> = short
        .iter()
        .map(|r| [vec![f32::NAN; 61], r.clone()].concat())
        .collect();
    let (a, b) = (point(&short), point(&padded));
    assert_close_scaled("short context", &a, &b, &[1.0]);
    // Longer than context_length: only the last 64 steps count.
    let long: Vec<Vec<f32>> = rows
        .iter()
        .map(|r| [vec![1e3; 7], r.clone()].concat())
        .collect();
    assert_eq!(point(&long), point(&rows));
    // Nothing observed: loc 0 and scale 1, whatever the masked values are.
    let none = Context::from_nan(Tensor::from_data([[f32::NAN; 10]], &device), None);
    let out = model.forward(none);
    assert_eq!(to_host(out.loc_scale.loc).data, vec![0.0]);
    assert_eq!(to_host(out.loc_scale.scale).data, vec![1.0]);
    let missing = |fill: f32| {
        let mut input = ForecastInput::context(Tensor::full([1, 10, 1], fill, &device));
        input.past_observed_mask = Some(Tensor::zeros([1, 10, 1], &device));
        to_host(model.forecast(&input).unwrap().point)
    };
    let p = missing(0.0);
    assert!(p.data.iter().all(|v| v.is_finite()));
    assert_eq!(p, missing(1e6));
}

#[test]
fn losses_follow_their_definitions() {
    let device = Device::flex();
    let model = load(&device);
    let rows = series();
    let mut input = batch(&rows, 1, &device);
    let f = model.forecast(&input).unwrap();
    // Target: the median shifted by 1 at every step but the first (missing) one.
    let mut mask = vec![1f32; 64];
    for s in 0..4 {
        mask[s * 16] = 0.0;
    }
    input.future_values = Some(f.point.clone() + 1.0);
    input.future_observed_mask = Some(Tensor::from_data(
        TensorData::new(mask, [4, 16, 1]),
        &device,
    ));
    // Every observed error is -1: MSE and MAE 1, Huber(2) 0.5 * 1^2.
    let huber = LossKind::Huber { delta: 2.0 };
    for (kind, expected) in [(LossKind::Mse, 1.0), (LossKind::Mae, 1.0), (huber, 0.5)] {
        assert!(model.supports_loss(kind));
        let v = to_host(model.loss(&input, kind)).data[0];
        assert!((v - expected).abs() < 1e-4, "{kind:?}: {v}");
    }
    let native = to_host(model.loss(&input, LossKind::Native)).data[0];
    let quantile = to_host(model.loss(&input, LossKind::Quantile)).data[0];
    assert_eq!(native, quantile);
    assert!(native.is_finite() && native > 0.0);
}

#[test]
fn finetune_modes_freeze_the_encoder_side_then_the_decoder() {
    let device = Device::flex().autodiff();
    let full = load(&device);
    assert_eq!(full.param_counts().total, 19_680);
    assert_eq!(full.param_counts().trainable, 19_680);
    let frozen = load(&device).apply_finetune_mode(FinetuneMode::FrozenBackbone);
    assert_eq!(frozen.param_counts().trainable, 6_320 + 7_744);
    let head = load(&device)
        .apply_finetune_mode(FinetuneMode::HeadOnly)
        .with_dropout(false);
    assert_eq!(head.param_counts().trainable, 7_744);
    let mut input = batch(&series(), 1, &device);
    input.future_values = Some(Tensor::ones([4, 16, 1], &device));
    let grads = head.loss(&input, LossKind::Native).backward();
    let names: Vec<String> = head.hf_gradients(&grads).into_keys().collect();
    assert!(
        names
            .iter()
            .all(|n| n.starts_with("output_patch_embedding.")),
        "{names:?}"
    );
    assert_eq!(names.len(), 6);
}

#[test]
fn save_pretrained_round_trips_with_the_hf_names() {
    let device = Device::flex();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut cfg = read_config_json(&model_dir()).unwrap();
    cfg.insert("my_key".into(), serde_json::json!([1, 2]));
    std::fs::write(
        src.join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    std::fs::copy(
        model_dir().join("model.safetensors"),
        src.join("model.safetensors"),
    )
    .unwrap();
    let (model, warnings) = ChronosBoltModel::from_pretrained(&src, &device).unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("unknown config key `my_key`"),
        "{warnings:?}"
    );

    let out = tmp.path().join("saved");
    model.save_pretrained(&out).unwrap();
    let original = load_safetensors(&model_dir().join("model.safetensors")).unwrap();
    let saved = load_safetensors(&out.join("model.safetensors")).unwrap();
    assert_eq!(saved, original);
    assert_eq!(read_config_json(&out).unwrap(), cfg);
    let (again, _) = ChronosBoltModel::from_pretrained(&out, &device).unwrap();
    let input = batch(&series(), 1, &device);
    assert_eq!(
        to_host(again.forecast(&input).unwrap().point),
        to_host(model.forecast(&input).unwrap().point)
    );
}

#[test]
fn any_forecaster_and_checkpoint_info_name_the_family() {
    let device = Device::flex();
    let info = checkpoint_info_in(&model_dir()).unwrap().info;
    assert_eq!(info.model_type, "chronos_bolt");
    assert_eq!((info.context_length, info.prediction_length), (64, 16));
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
    let loaded = load_forecaster_in(&model_dir(), &device).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert!(matches!(loaded.model, AnyForecaster::ChronosBolt(_)));
    assert_eq!(loaded.model.info(), info);
    assert_eq!(loaded.model.max_horizon(), Some(64));
}
