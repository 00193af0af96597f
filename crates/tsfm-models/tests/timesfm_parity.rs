//! TimesFM 2.5 against the official `timesfm` package (tests/data/timesfm/reference: the shared
//! reference fixture made by make_reference.py): running statistics, normalised patches, every
//! intermediate of one forward pass, `decode` with its autoregressive step, and `forecast()`
//! on variable-length series with the manifest's ForecastConfig.

mod timesfm_common;

use burn::Tensor;
use burn::tensor::{Device, TensorData};
use timesfm_common::*;
use tsfm_models::timesfm::attention::AttentionContext;
use tsfm_models::timesfm::stats::{RunningStats, normalise_patches};
use tsfm_models::timesfm::{DecodeInput, ForecastConfig};

fn reference(file: &str) -> tsfm_models::checkpoint::TensorMap {
    fixture("reference", file)
}

fn decode_input() -> DecodeInput {
    let inputs = reference("inputs.safetensors");
    timesfm_common::decode_input(&inputs["decode_inputs"], &inputs["decode_masks"])
}

#[test]
fn running_statistics_and_normalised_patches_match() {
    let input = decode_input();
    let out = reference("outputs.safetensors");
    let (mut mu, mut sigma, mut normed) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..input.rows {
        let span = r * input.len..(r + 1) * input.len;
        let p = normalise_patches(
            &input.values[span.clone()],
            &input.masked[span],
            8,
            RunningStats::default(),
        );
        mu.extend(p.stats.iter().map(|s| s.mu));
        sigma.extend(p.stats.iter().map(|s| s.sigma));
        normed.extend(p.values);
    }
    let scales = row_scales(&rows(&reference("inputs.safetensors")["decode_inputs"]));
    assert_close_scaled(
        "patch_running_mu",
        &host(vec![4, 8], mu),
        &out["patch_running_mu"],
        &scales,
    );
    assert_close_scaled(
        "patch_running_sigma",
        &host(vec![4, 8], sigma),
        &out["patch_running_sigma"],
        &scales,
    );
    assert_close(
        "normed_patches",
        &host(vec![4, 8, 8], normed),
        &out["normed_patches"],
    );
}

#[test]
fn one_forward_pass_matches_every_intermediate() {
    let device = Device::flex();
    let model = model(&device);
    let out = reference("outputs.safetensors");
    let masks = &reference("inputs.safetensors")["decode_masks"];
    let normed: Tensor<3> = to_tensor(&out["normed_patches"], &device);
    let mask = Tensor::<3>::from_data(TensorData::new(masks.data.clone(), [4, 8, 8]), &device);
    let masked_patches: Vec<usize> = (0..4)
        .map(|r| {
            (0..8)
                .filter(|i| masks.data[r * 64 + i * 8 + 7] != 0.0)
                .count()
        })
        .collect();
    let ctx = AttentionContext::new(&masked_patches, 0, 8, model.definition.head_dim(), &device);
    let net = model.forward(normed, mask, &ctx, None);
    assert_close(
        "input_embeddings",
        &to_host(net.input_embeddings),
        &out["input_embeddings"],
    );
    assert_close(
        "output_embeddings",
        &to_host(net.output_embeddings.clone()),
        &out["output_embeddings"],
    );
    assert_close(
        "output_ts",
        &to_host(model.point_head(net.output_embeddings.clone())),
        &out["output_ts"],
    );
    assert_close(
        "output_quantile_spread",
        &to_host(model.quantile_head(net.output_embeddings)),
        &out["output_quantile_spread"],
    );
}

#[test]
fn decode_matches_prefill_and_autoregressive_outputs() {
    let model = model(&Device::flex());
    let out = reference("outputs.safetensors");
    let input = decode_input();
    let scales = row_scales(&rows(&reference("inputs.safetensors")["decode_inputs"]));
    let decoded = model.decode(32, &input, true);
    assert_eq!((decoded.point_patches, decoded.steps), (8, 1));
    let keys = [
        "decode_point_outputs",
        "decode_quantile_spread",
        "decode_ar_outputs",
    ];
    assert_decoded(decoded, &out, keys, &scales);
}

#[test]
fn forecast_matches_the_official_api_on_variable_length_series() {
    let model = model(&Device::flex());
    let inputs = reference("inputs.safetensors");
    let out = reference("outputs.safetensors");
    let series: Vec<Vec<f32>> = (0..4)
        .map(|i| inputs[&format!("forecast_input_{i}")].data.clone())
        .collect();
    // The manifest's ForecastConfig.
    let fc = ForecastConfig {
        max_context: 64,
        max_horizon: 32,
        normalize_inputs: true,
        use_continuous_quantile_head: true,
        force_flip_invariance: true,
        infer_is_positive: true,
        fix_quantile_crossing: true,
    }
    .compiled(&model)
    .unwrap();
    let forecasts = model.forecast_rows(&series, 24, &fc).unwrap();
    let scales = row_scales(&series);
    let point: Vec<f32> = forecasts.point.concat();
    assert_close_scaled(
        "forecast_point",
        &host(vec![4, 24], point),
        &out["forecast_point"],
        &scales,
    );
    // The package's channels are [mean, q0.1..q0.9]; tsfm returns the quantile channels.
    let expected = &out["forecast_quantiles"];
    let quantiles: Vec<f32> = expected
        .data
        .chunks(10)
        .flat_map(|c| c[1..].to_vec())
        .collect();
    let actual: Vec<f32> = forecasts.quantiles.concat().concat();
    assert_close_scaled(
        "forecast_quantiles",
        &host(vec![4, 24, 9], actual),
        &host(vec![4, 24, 9], quantiles),
        &scales,
    );
}
