//! Checkpoint handling: HF cache resolution (offline, fake cache), pickle refusal, model type
//! detection, `save_pretrained` round trip.

mod ttm_common;

use std::fs;
use std::path::{Path, PathBuf};

use burn::tensor::Device;
use tsfm_models::checkpoint::{load_checkpoint_tensors, read_config_json};
use tsfm_models::ttm::{TtmInput, TtmModel};
use tsfm_models::{
    Forecaster, ModelError, detect_model_type, load_forecaster_ttm, resolve_checkpoint_in,
};
use ttm_common::*;

const SHA_MAIN: &str = "1111111111111111111111111111111111111111";
const SHA_BRANCH: &str = "2222222222222222222222222222222222222222";

fn copy_model(to: &Path) {
    fs::create_dir_all(to).unwrap();
    for f in ["config.json", "model.safetensors"] {
        fs::copy(model_dir().join(f), to.join(f)).unwrap();
    }
}

/// A hub cache laid out like huggingface_hub's: refs/<rev> -> snapshots/<sha>/.
fn fake_cache() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp
        .path()
        .join("models--ibm-granite--granite-timeseries-ttm-r2");
    fs::create_dir_all(repo.join("refs")).unwrap();
    fs::write(repo.join("refs/main"), SHA_MAIN).unwrap();
    fs::write(repo.join("refs/512-96-r2"), format!("{SHA_BRANCH}\n")).unwrap();
    copy_model(&repo.join("snapshots").join(SHA_MAIN));
    copy_model(&repo.join("snapshots").join(SHA_BRANCH));
    let cache = tmp.path().to_path_buf();
    (tmp, cache)
}

#[test]
fn hub_ids_resolve_through_refs_to_snapshots() {
    let (_tmp, cache) = fake_cache();
    let id = "ibm-granite/granite-timeseries-ttm-r2";
    let snap = |sha: &str| {
        cache
            .join("models--ibm-granite--granite-timeseries-ttm-r2/snapshots")
            .join(sha)
    };
    assert_eq!(
        resolve_checkpoint_in(id, None, Some(&cache)).unwrap(),
        snap(SHA_MAIN)
    );
    assert_eq!(
        resolve_checkpoint_in(&format!("{id}@512-96-r2"), None, Some(&cache)).unwrap(),
        snap(SHA_BRANCH)
    );
    assert_eq!(
        resolve_checkpoint_in(id, Some("512-96-r2"), Some(&cache)).unwrap(),
        snap(SHA_BRANCH)
    );
    assert_eq!(
        resolve_checkpoint_in(&format!("{id}@{SHA_BRANCH}"), None, Some(&cache)).unwrap(),
        snap(SHA_BRANCH)
    );
}

#[test]
fn missing_revision_or_repo_says_how_to_download() {
    let (_tmp, cache) = fake_cache();
    let e = resolve_checkpoint_in(
        "ibm-granite/granite-timeseries-ttm-r2@1024-96-r2",
        None,
        Some(&cache),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("revision `1024-96-r2`"), "{e}");
    assert!(
        e.contains(
            "huggingface-cli download ibm-granite/granite-timeseries-ttm-r2 --revision 1024-96-r2"
        ),
        "{e}"
    );
    let e = resolve_checkpoint_in("ibm-granite/other", None, Some(&cache))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("ibm-granite/other is not in the local HuggingFace cache"),
        "{e}"
    );
    let e = resolve_checkpoint_in("no/such/thing", None, Some(&cache))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a directory and not a hub id"), "{e}");
}

#[test]
fn a_local_directory_loads_directly() {
    let device = Device::flex();
    let model = load_forecaster_ttm(model_dir().to_str().unwrap(), &device).unwrap();
    assert_eq!(model.context_length(), 32);
    assert_eq!(model.prediction_length(), 16);
    assert_eq!(model.param_counts().total, 11_230);
}

#[test]
fn pickle_only_checkpoints_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    fs::copy(
        model_dir().join("config.json"),
        tmp.path().join("config.json"),
    )
    .unwrap();
    fs::write(tmp.path().join("pytorch_model.bin"), b"not loaded").unwrap();
    let err = load_checkpoint_tensors(tmp.path()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ModelError::Checkpoint { .. }));
    assert!(msg.contains("pytorch_model.bin"), "{msg}");
    assert!(msg.contains("never loaded"), "{msg}");
    assert!(msg.contains("safetensors"), "{msg}");
    let e = TtmModel::from_pretrained(tmp.path(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(e.contains("pickle"), "{e}");
}

#[test]
fn model_types_are_detected_from_config_json() {
    let dir = data_dir().parent().unwrap().join("configs");
    let tmp = tempfile::tempdir().unwrap();
    let expect = [
        ("ttm-tiny", "ttm"),
        ("chronos-t5-fixture", "chronos"),
        ("chronos-bolt-fixture", "chronos_bolt"),
        ("timesfm-2.5-fixture", "timesfm"),
    ];
    for (name, kind) in expect {
        let d = tmp.path().join(name);
        fs::create_dir_all(&d).unwrap();
        fs::copy(dir.join(format!("{name}.json")), d.join("config.json")).unwrap();
        assert_eq!(detect_model_type(&d).unwrap(), kind, "{name}");
    }
    let d = tmp.path().join("bert");
    fs::create_dir_all(&d).unwrap();
    fs::write(d.join("config.json"), r#"{"model_type": "bert"}"#).unwrap();
    let e = detect_model_type(&d).unwrap_err().to_string();
    assert!(e.contains("model_type `bert` is not supported"), "{e}");
}

#[test]
fn unknown_config_keys_are_reported_as_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    copy_model(tmp.path());
    let mut cfg = read_config_json(tmp.path()).unwrap();
    cfg.insert("my_new_key".into(), serde_json::json!(true));
    fs::write(
        tmp.path().join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    let (_, warnings) = TtmModel::from_pretrained(tmp.path(), &Device::flex()).unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains("unknown config key `my_new_key` = true"),
        "{warnings:?}"
    );
}

#[test]
fn save_pretrained_round_trips_names_shapes_values_and_outputs() {
    let device = Device::flex();
    let (model, _) = TtmModel::from_pretrained(&model_dir(), &device).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("saved");
    model.save_pretrained(&out).unwrap();

    let original = load_checkpoint_tensors(&model_dir()).unwrap();
    let saved = load_checkpoint_tensors(&out).unwrap();
    assert_eq!(saved.len(), 134);
    assert_eq!(saved, original, "same names, shapes and values");

    let cfg_in = read_config_json(&model_dir()).unwrap();
    let cfg_out = read_config_json(&out).unwrap();
    assert_eq!(
        cfg_in.keys().collect::<Vec<_>>(),
        cfg_out.keys().collect::<Vec<_>>()
    );
    assert_eq!(cfg_out["d_model"], 20);
    assert_eq!(cfg_out["num_patches"], 4);

    let (reloaded, warnings) = TtmModel::from_pretrained(&out, &device).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let past = to_tensor::<3>(&fixture("inputs.safetensors")["past_values"], &device);
    let a = to_host(
        model
            .forward(&TtmInput::new(past.clone()), false)
            .prediction,
    );
    let b = to_host(reloaded.forward(&TtmInput::new(past), false).prediction);
    assert_eq!(a, b);
}

#[test]
fn mismatched_weights_name_the_tensor() {
    let tmp = tempfile::tempdir().unwrap();
    copy_model(tmp.path());
    let mut cfg = read_config_json(tmp.path()).unwrap();
    cfg.insert("decoder_d_model".into(), serde_json::json!(16));
    fs::write(
        tmp.path().join("config.json"),
        serde_json::to_string(&cfg).unwrap(),
    )
    .unwrap();
    let e = TtmModel::from_pretrained(tmp.path(), &Device::flex())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`decoder.adapter.weight` has shape [8, 20], config.json implies [16, 20]"),
        "{e}"
    );
}

#[test]
fn checkpoint_info_reads_config_json_without_weights() {
    // Only config.json: the weights are not needed to say what the checkpoint is.
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/models/ttm-demo");
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let ck = tsfm_models::checkpoint_info_in(dir.path()).unwrap();
    let info = ck.info;
    assert_eq!(info.model_type, "ttm");
    assert_eq!(info.context_length, 96);
    assert_eq!(info.prediction_length, 12);
    assert_eq!(info.target_channels, 1);
    assert_eq!(info.past_covariates, 2);
    assert!(!info.has_quantiles());

    // The loaded model says the same through AnyForecaster.
    let device = burn::tensor::Device::flex();
    let loaded = tsfm_models::load_forecaster(src.to_str().unwrap(), &device).unwrap();
    use tsfm_models::Forecaster;
    assert_eq!(loaded.model.info(), info);
    assert_eq!(loaded.model.model_type(), "ttm");
}

#[test]
fn chronos2_configs_are_recognised_and_described() {
    // Chronos-2 was the last family detection recognised without a model: it is described
    // from its config.json alone now, like the others.
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/chronos2/model");
    std::fs::copy(src.join("config.json"), dir.path().join("config.json")).unwrap();
    let info = tsfm_models::checkpoint_info_in(dir.path()).unwrap().info;
    assert_eq!(info.model_type, "chronos2");
    assert_eq!(info.context_length, 64);
    assert_eq!(info.prediction_length, 32);
    assert_eq!(info.target_channels, 1);
    assert_eq!(info.quantile_levels.len(), 13);
    assert!(tsfm_models::SUPPORTED.contains(&"chronos2"));
}
