//! The shipped configs (built in, and on disk under the repository's `configs/`) all resolve
//! and validate, and the resolved YAML loads back to the same config.

mod common;

use std::path::{Path, PathBuf};

use common::Root;
use tsfm_config::{DEFAULT_EXPERIMENT, Device, ModelType, Resolved, SHIPPED, SchedulerType, load};

fn repo_configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

fn built_in(name: &str) -> Resolved {
    let empty = Root::new(&[]);
    load(Some(empty.path()), Some(Path::new(name)), &[]).unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

fn experiments() -> Vec<&'static str> {
    SHIPPED
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.starts_with("experiments/"))
        .collect()
}

#[test]
fn every_shipped_file_is_built_in_and_identical_on_disk() {
    let names: Vec<&str> = SHIPPED.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "models/ttm_default.yaml",
            "models/chronos_default.yaml",
            "models/chronos_bolt_default.yaml",
            "models/chronos2_default.yaml",
            "models/timesfm_default.yaml",
            "data/demo.yaml",
            "data/bris_t1d.yaml",
            "data/aleppo.yaml",
            "experiments/ttm_demo.yaml",
            "experiments/chronos_bolt_demo.yaml",
            "experiments/timesfm_demo.yaml",
            "experiments/chronos2_demo.yaml",
            "experiments/bris_t1d_ttm.yaml",
            "experiments/bris_t1d_chronos2.yaml",
            "experiments/aleppo_ttm.yaml",
        ]
    );
    for (name, text) in SHIPPED {
        assert_eq!(
            std::fs::read_to_string(repo_configs().join(name)).unwrap(),
            *text,
            "{name}"
        );
    }
}

#[test]
fn every_shipped_experiment_resolves_built_in_and_from_disk() {
    for name in experiments() {
        let a = built_in(name);
        let b = load(Some(&repo_configs()), Some(&repo_configs().join(name)), &[])
            .unwrap_or_else(|e| panic!("{name}:\n{e}"));
        assert_eq!(a.config, b.config, "{name}");
        assert!(
            a.files.iter().all(|f| f.starts_with("<built-in>/")),
            "{:?}",
            a.files
        );
        assert!(
            b.files.iter().all(|f| !f.starts_with("<built-in>/")),
            "{:?}",
            b.files
        );
    }
}

#[test]
fn every_model_default_combines_with_every_data_file() {
    for model in ["ttm", "chronos", "chronos_bolt", "chronos2", "timesfm"] {
        for data in ["demo", "bris_t1d", "aleppo"] {
            let root = Root::new(&[(
                "e.yaml",
                &format!("defaults: [models/{model}_default, data/{data}]\n"),
            )]);
            let r = root
                .load("e.yaml", &[])
                .unwrap_or_else(|e| panic!("{model} + {data}:\n{}", root.lines(&e).join("\n")));
            assert_eq!(r.config.model.model_type.as_str(), model);
            assert_eq!(
                r.config.data.source_name,
                if data == "demo" { "demo_brist1d" } else { data }
            );
        }
    }
}

#[test]
fn the_default_experiment_is_the_quick_ttm_demo() {
    let empty = Root::new(&[]);
    let r = load(Some(empty.path()), None, &[]).unwrap();
    assert_eq!(r, built_in(DEFAULT_EXPERIMENT));
    let c = &r.config;
    assert_eq!(c.model.model_type, ModelType::Ttm);
    assert_eq!(c.model.model_path, "data/models/ttm-demo");
    assert_eq!(c.model.device, Device::Auto);
    assert_eq!(
        (c.context_length(), c.prediction_length()),
        (Some(96), Some(12))
    );
    assert_eq!(c.data.raw_path, "data/demo/brist1d/train.csv.gz");
    assert_eq!(c.data.source.as_str(), "bris_t1d");
    assert_eq!((c.data.resolution_min, c.data.batch_size), (5, 64));
    assert_eq!(
        (c.training.max_steps, c.training.num_epochs),
        (Some(1500), None)
    );
    assert_eq!(c.training.lr_scheduler.kind, SchedulerType::OneCycle);
    assert_eq!(c.training.optimizer.betas, [0.9, 0.999]);
    assert_eq!(c.training.optimizer.eps, 1e-8);
    assert!(c.training.load_best_model_at_end && c.training.early_stopping.enabled);
    assert_eq!(c.evaluation.horizons_min, vec![30, 60]);
    assert_eq!(c.output.experiment_name, "ttm_demo");
    assert_eq!(c.output.save_dir, "tsfm_results");
}

#[test]
fn upstream_experiments_use_ttm_r2_512_96_with_nocturnal_evaluation() {
    for (name, source) in [
        ("experiments/bris_t1d_ttm", "bris_t1d"),
        ("experiments/aleppo_ttm", "aleppo"),
    ] {
        let c = built_in(name).config;
        assert_eq!(
            c.model.model_path, "ibm-granite/granite-timeseries-ttm-r2",
            "{name}"
        );
        assert_eq!(
            (c.context_length(), c.prediction_length()),
            (Some(512), Some(96))
        );
        assert_eq!(c.data.source.as_str(), source);
        assert!(c.evaluation.nocturnal.enabled);
        assert_eq!(c.evaluation.nocturnal.context_end, "00:00");
        assert_eq!(c.evaluation.nocturnal.horizon_hours, 8.0);
        assert_eq!(c.training.num_epochs, Some(20));
    }
    assert_eq!(
        built_in("experiments/aleppo_ttm").config.data.raw_path,
        "data/aleppo/Data Tables"
    );
}

#[test]
fn upstream_chronos2_is_lora_on_glucose_and_insulin_with_nocturnal_evaluation() {
    let c = built_in("experiments/bris_t1d_chronos2").config;
    assert_eq!(c.model.model_type, ModelType::Chronos2);
    assert_eq!(c.model.model_path, "amazon/chronos-2");
    assert_eq!(
        (c.context_length(), c.prediction_length()),
        (Some(512), Some(96))
    );
    assert_eq!(c.data.source.as_str(), "bris_t1d");
    assert_eq!(c.data.target_columns, ["bg"]);
    assert_eq!(c.data.past_covariates, ["iob", "insulin_availability"]);
    assert_eq!(c.training.finetune_mode, tsfm_config::FinetuneMode::Lora);
    assert_eq!((c.training.lora.rank, c.training.lora.alpha), (8, 16.0));
    assert_eq!(c.training.learning_rate, 1e-5);
    assert_eq!(
        (c.training.num_epochs, c.training.max_steps),
        (Some(20), None)
    );
    assert!(c.evaluation.nocturnal.enabled);
    assert_eq!(c.evaluation.nocturnal.context_end, "00:00");
    assert_eq!(c.evaluation.nocturnal.horizon_hours, 8.0);
    assert_eq!(c.validate(), Ok(()));
}

#[test]
fn resolved_yaml_loads_back_to_the_same_config() {
    for name in experiments() {
        let r = built_in(name);
        let root = Root::new(&[("resolved.yaml", &r.to_yaml())]);
        let again = root
            .load("resolved.yaml", &[])
            .unwrap_or_else(|e| panic!("{name}:\n{}\n{}", root.lines(&e).join("\n"), r.to_yaml()));
        assert_eq!(again.config, r.config, "{name}");
    }
}
