//! TimesFM 2.5 `forecast()` under every `ForecastConfig` option against the official package
//! (tests/data/timesfm/forecast-options, made by tools/reference/make_timesfm_fixtures.py):
//! the README example's flags, the dataclass defaults, each flag off alone, autoregressive
//! horizons beyond the quantile head, truncation, a horizon that is not a whole patch; six
//! series with leading, interior and trailing NaNs, one shorter than a patch. Also `decode`
//! over three autoregressive steps with padded patches, the transformers port's checkpoint
//! layout, and the bare official layout (no config.json).

mod timesfm_common;

use burn::tensor::Device;
use serde_json::Value;
use timesfm_common::*;
use tsfm_models::timesfm::{ForecastConfig, TimesFmModel};
use tsfm_models::{Forecaster, LoadOptions, ModelError};

fn manifest(set: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir(set).join("manifest.json")).unwrap()).unwrap()
}

fn series() -> Vec<Vec<f32>> {
    let inputs = fixture("forecast-options", "inputs.safetensors");
    (0..6)
        .map(|i| inputs[&format!("input_{i}")].data.clone())
        .collect()
}

/// The case's ForecastConfig as the package held it after `compile`, and its horizon.
fn case(name: &str) -> (ForecastConfig, usize) {
    let m = manifest("forecast-options");
    let c = &m["cases"][name];
    let f = &c["forecast_config_after_compile"];
    let flag = |k: &str| f[k].as_bool().unwrap();
    let size = |k: &str| f[k].as_u64().unwrap() as usize;
    let fc = ForecastConfig {
        max_context: size("max_context"),
        max_horizon: size("max_horizon"),
        normalize_inputs: flag("normalize_inputs"),
        use_continuous_quantile_head: flag("use_continuous_quantile_head"),
        force_flip_invariance: flag("force_flip_invariance"),
        infer_is_positive: flag("infer_is_positive"),
        fix_quantile_crossing: flag("fix_quantile_crossing"),
    };
    (fc, c["horizon"].as_u64().unwrap() as usize)
}

/// Point and quantile forecasts of one case against the package's (quantile channels only:
/// the package's channel 0 is the mean head, which `forecast()` returns and tsfm does not).
fn check_case(model: &TimesFmModel, name: &str) {
    let (fc, horizon) = case(name);
    let compiled = fc.compiled(model).unwrap();
    assert_eq!(
        compiled, fc,
        "{name}: the package's compiled config is already rounded"
    );
    let series = series();
    let out = model.forecast_rows(&series, horizon, &fc).unwrap();
    let expected = fixture("forecast-options", "outputs.safetensors");
    let scales = row_scales(&series);
    let b = series.len();
    let e_point = &expected[&format!("point_{name}")];
    assert_close_scaled(
        &format!("{name} point"),
        &host(vec![b, horizon], out.point.concat()),
        e_point,
        &scales,
    );
    let e_q = &expected[&format!("quantiles_{name}")];
    let e_q: Vec<f32> = e_q.data.chunks(10).flat_map(|c| c[1..].to_vec()).collect();
    assert_close_scaled(
        &format!("{name} quantiles"),
        &host(vec![b, horizon, 9], out.quantiles.concat().concat()),
        &host(vec![b, horizon, 9], e_q),
        &scales,
    );
}

#[test]
fn every_forecast_config_case_matches_the_package() {
    let model = model(&Device::flex());
    let m = manifest("forecast-options");
    let cases: Vec<String> = m["cases"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(cases.len(), 11);
    for name in &cases {
        check_case(&model, name);
    }
}

#[test]
fn the_cases_differ_where_the_flags_matter() {
    // Guards the test above against options that silently do nothing: each flag moves the
    // package's own output, so matching every case means honouring every flag.
    let expected = fixture("forecast-options", "outputs.safetensors");
    let differs = |a: &str, b: &str| {
        let (x, y) = (
            &expected[&format!("quantiles_{a}")],
            &expected[&format!("quantiles_{b}")],
        );
        x.data
            .iter()
            .zip(&y.data)
            .any(|(p, q)| (p - q).abs() > 1e-3)
    };
    for other in [
        "dataclass",
        "no_continuous",
        "no_flip",
        "no_positive",
        "no_crossing",
    ] {
        assert!(differs("readme", other), "{other}");
    }
}

#[test]
fn decode_with_padded_patches_and_three_autoregressive_steps_matches() {
    let model = model(&Device::flex());
    let inputs = fixture("decode", "inputs.safetensors");
    let out = fixture("decode", "outputs.safetensors");
    let (values, masks) = (&inputs["inputs"], &inputs["masks"]);
    let decoded = model.decode(50, &decode_input(values, masks), true);
    assert_eq!(decoded.steps, 3);
    let keys = ["decode_point", "decode_quantile_spread", "decode_ar"];
    assert_decoded(decoded, &out, keys, &row_scales(&rows(values)));
}

#[test]
fn the_transformers_port_layout_loads_as_the_same_model() {
    let device = Device::flex();
    let (port, warnings) =
        TimesFmModel::from_pretrained_with(&dir("port"), &device, &LoadOptions::default()).unwrap();
    assert_eq!(warnings, Vec::<String>::new());
    let official = model(&device);
    assert_eq!(port.definition, official.definition);
    assert_eq!(port.hf_state_dict(), official.hf_state_dict());
}

#[test]
fn a_bare_official_weights_file_loads_with_the_definition_from_its_shapes() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        model_dir().join("model.safetensors"),
        tmp.path().join("model.safetensors"),
    )
    .unwrap();
    let device = Device::flex();
    let loaded = tsfm_models::load_forecaster_in(tmp.path(), &device).unwrap();
    assert_eq!(loaded.model.model_type(), "timesfm");
    let tsfm_models::AnyForecaster::TimesFm(bare) = loaded.model else {
        panic!("timesfm")
    };
    assert_eq!(bare.definition, model(&device).definition);
    let info = tsfm_models::checkpoint_info_in(tmp.path()).unwrap().info;
    assert_eq!(
        (info.prediction_length, info.quantile_levels.len()),
        (16, 9)
    );
}

#[test]
fn bad_requests_are_errors_that_say_what_to_change() {
    let model = model(&Device::flex());
    let (fc, _) = case("readme");
    let err = |e: ModelError| e.to_string();
    assert_eq!(
        err(model.forecast_rows(&series(), 33, &fc).unwrap_err()),
        "the horizon 33 is outside 1..=32 (TimesFM max_horizon): raise max_horizon"
    );
    assert_eq!(
        err(model
            .forecast_rows(&[vec![1.0; 20], vec![f32::NAN; 20]], 8, &fc)
            .unwrap_err()),
        "series 1 has no observed value to forecast from (all 20 readings missing)"
    );
    let long = ForecastConfig {
        max_horizon: 40,
        ..fc
    };
    assert_eq!(
        err(long.compiled(&model).unwrap_err()),
        "the continuous quantile head covers 32 steps, max_horizon is 48 (rounded to whole output \
         patches): switch use_continuous_quantile_head off or lower the horizon"
    );
    let huge = ForecastConfig {
        max_context: 16000,
        use_continuous_quantile_head: false,
        max_horizon: 400,
        ..fc
    };
    assert_eq!(
        err(huge.compiled(&model).unwrap_err()),
        "TimesFM max_context 16000 + max_horizon 400 (rounded to whole patches) exceed the model's \
         context limit 16384: lower one of them"
    );
    // A context shorter than one patch is zero-padded and masked, as the package does (input 4
    // of the fixture has 5 readings and matches above).
    assert!(model.forecast_rows(&[vec![3.0, 4.0]], 8, &fc).is_ok());
}
