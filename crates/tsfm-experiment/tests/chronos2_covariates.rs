//! Chronos-2 with a past-only and a known-future covariate on the bundled demo patients: the
//! channels reach the model in the official order (target, past-only, known-future), and no
//! future but a known-future covariate's can move a forecast.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::tensor::Device;
use tsfm_config::{Config, DataSource, ModelType};
use tsfm_data::split::Role;
use tsfm_data::{ProcessedSeries, WindowSet};
use tsfm_experiment::batches::{TensorWindows, to_vec};
use tsfm_experiment::data::{Split, prepare_data};
use tsfm_experiment::events::Collected;
use tsfm_experiment::model::{load_model, window_lengths};
use tsfm_models::{ForecastOptions, Forecaster};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The demo patients with the demo Chronos-2 (96 -> 12 steps): glucose, IOB (past-only) and
/// insulin declared known ahead.
fn config(cache: &Path) -> Config {
    let mut c = Config::default();
    c.model.model_type = ModelType::Chronos2;
    c.model.model_path = repo()
        .join("data/models/chronos2-demo")
        .display()
        .to_string();
    c.model.params = yaml_serde::from_str("{context_length: 96, prediction_length: 12}").unwrap();
    c.data.source = DataSource::BrisT1d;
    c.data.source_name = "demo".into();
    c.data.raw_path = repo()
        .join("data/demo/brist1d/train.csv.gz")
        .display()
        .to_string();
    c.data.cache_dir = cache.display().to_string();
    c.data.target_columns = vec!["bg".into()];
    c.data.past_covariates = vec!["iob".into()];
    c.data.future_covariates = vec!["insulin".into()];
    c
}

/// The series with `shift` added to channel `channel` over the `horizon` steps after `origin`
/// of series `si`.
fn with_future_changed(
    series: &[ProcessedSeries],
    si: usize,
    origin: usize,
    horizon: usize,
    channel: usize,
    shift: f32,
) -> Arc<[ProcessedSeries]> {
    let mut changed = series.to_vec();
    let s = &mut changed[si];
    let ch = s.n_channels();
    for t in origin..origin + horizon {
        s.values[t * ch + channel] += shift;
    }
    changed.into()
}

#[test]
fn only_a_known_future_covariates_future_moves_the_forecast() {
    let tmp = tempfile::tempdir().unwrap();
    let device = Device::flex();
    let config = config(tmp.path());
    let mut events = Collected::default();
    let model = load_model(&config.model, &device, &mut events).unwrap();
    assert_eq!(window_lengths(&config, &model).unwrap(), (96, 12));
    let data = prepare_data(&config, &model, None, &mut events).unwrap();
    let test = data.windows(Split::Test);
    let series = test.data();
    assert_eq!(series[0].channel_names, ["bg", "iob", "insulin"]);
    let (context, horizon) = (test.context, test.horizon);

    // A test window whose horizon has an insulin dose, so its known future carries something.
    let i = (0..test.len())
        .find(|&i| {
            let (si, start) = test.windows()[i];
            let s = &series[si];
            let o = start + context;
            (o..o + horizon).any(|t| s.raw_target[t].is_finite())
                && s.channel_names.len() == 3
                && (o..o + horizon).any(|t| s.values[t * 3 + 2] > 1.0)
        })
        .expect("a test window with insulin in its horizon");
    let (si, start) = test.windows()[i];
    let origin = start + context;
    let forecast = |data: Arc<[ProcessedSeries]>| -> Vec<f32> {
        let set = WindowSet::for_role(data, Role::Test, context, horizon, 1);
        assert_eq!(set.windows()[i], (si, start));
        let windows = TensorWindows::new(&set, context).with_known_future(1);
        let (input, _) = windows.input(&[i], &device).unwrap();
        assert_eq!(input.past_covariates.as_ref().unwrap().dims(), [1, 96, 2]);
        assert_eq!(input.future_covariates.as_ref().unwrap().dims(), [1, 12, 1]);
        let options = ForecastOptions {
            horizon: Some(horizon),
            ..Default::default()
        };
        to_vec(model.forecast_with(&input, &options).unwrap().point)
    };
    let base = forecast(series.to_vec().into());
    for (channel, what) in [(0, "target"), (1, "past-only iob")] {
        let changed = forecast(with_future_changed(
            series, si, origin, horizon, channel, 3.0,
        ));
        assert_eq!(changed, base, "the {what}'s future moved the forecast");
    }
    let changed = forecast(with_future_changed(series, si, origin, horizon, 2, 3.0));
    let moved = changed
        .iter()
        .zip(&base)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(
        moved > 1e-4,
        "the known-future insulin did not move it: {moved}"
    );
}
