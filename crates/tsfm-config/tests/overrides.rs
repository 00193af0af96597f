//! Every override form: each named flag, and `--set` with every value type.

mod common;

use common::{BASE, Root, base_errors, base_ok, sets};
use tsfm_config::{
    Device, NamedFlag, NamedOverrides, Override, OverrideValue, Resume, SplitMethod,
    collect_overrides,
};
use yaml_serde::Value;

fn with_named(named: NamedOverrides) -> tsfm_config::Resolved {
    let overrides = named.to_overrides().unwrap();
    Root::new(&[("base.yaml", BASE)])
        .load("base.yaml", &overrides)
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn each_named_flag_sets_its_key() {
    let r = with_named(NamedOverrides {
        model_path: Some("ckpt/dir".into()),
        device: Some("cuda:1".into()),
        batch_size: Some("16".into()),
        learning_rate: Some("5e-5".into()),
        num_epochs: Some("3".into()),
        resume: Some("true".into()),
        data_source: Some("my_data".into()),
        data_split: Some("0.8,0.1,0.1".into()),
        debug: true,
    });
    let c = &r.config;
    assert_eq!(c.model.model_path, "ckpt/dir");
    assert_eq!(c.model.device, Device::Cuda(1));
    assert_eq!(c.data.batch_size, 16);
    assert_eq!(c.training.learning_rate, 5e-5);
    assert_eq!(c.training.num_epochs, Some(3));
    assert_eq!(c.training.resume_from_checkpoint, Resume::Latest);
    assert_eq!(c.data.source_name, "my_data");
    assert_eq!(c.data.data_split.method, SplitMethod::Fractions);
    assert_eq!(
        (
            c.data.data_split.train,
            c.data.data_split.val,
            c.data.data_split.test
        ),
        (0.8, 0.1, 0.1)
    );
    assert!(c.logging.debug_mode);
    for (key, origin) in [
        ("model.model_path", "--model-path"),
        ("model.device", "--device"),
        ("data.batch_size", "--batch-size"),
        ("training.learning_rate", "--learning-rate"),
        ("training.num_epochs", "--num-epochs"),
        ("training.resume_from_checkpoint", "--resume"),
        ("data.source_name", "--data-source"),
        ("data.data_split.val", "--data-split"),
        ("logging.debug_mode", "--debug"),
    ] {
        assert_eq!(r.origin(key), origin, "{key}");
    }
}

#[test]
fn named_flags_map_to_documented_keys() {
    let keys: Vec<(&str, &str)> = NamedFlag::ALL.iter().map(|f| (f.flag(), f.key())).collect();
    assert_eq!(
        keys,
        [
            ("--model-path", "model.model_path"),
            ("--device", "model.device"),
            ("--batch-size", "data.batch_size"),
            ("--learning-rate", "training.learning_rate"),
            ("--num-epochs", "training.num_epochs"),
            ("--resume", "training.resume_from_checkpoint"),
            ("--data-source", "data.source_name"),
            ("--data-split", "data.data_split"),
            ("--debug", "logging.debug_mode"),
        ]
    );
}

#[test]
fn resume_takes_false_latest_or_a_path() {
    let resume = |v: &str| {
        with_named(NamedOverrides {
            resume: Some(v.into()),
            ..Default::default()
        })
        .config
        .training
        .resume_from_checkpoint
    };
    assert_eq!(resume("false"), Resume::No);
    assert_eq!(resume("latest"), Resume::Latest);
    assert_eq!(
        resume("runs/x/checkpoints/checkpoint-100"),
        Resume::Path("runs/x/checkpoints/checkpoint-100".into())
    );
}

#[test]
fn data_split_with_two_fractions_has_no_test_share() {
    let r = with_named(NamedOverrides {
        data_split: Some("0.75, 0.25".into()),
        ..Default::default()
    });
    let s = &r.config.data.data_split;
    assert_eq!((s.train, s.val, s.test), (0.75, 0.25, 0.0));
}

#[test]
fn malformed_named_flags_are_all_reported() {
    let e = NamedOverrides {
        data_split: Some("70/15/15".into()),
        ..Default::default()
    }
    .to_overrides()
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--data-split: data.data_split: expected fractions `train,val,test` such as `0.7,0.15,0.15` (or `train,val`), got `70/15/15`"
    );
    let e = collect_overrides(
        &NamedOverrides {
            data_split: Some("0.5".into()),
            ..Default::default()
        },
        &["novalue".into(), "=3".into()],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "--data-split: data.data_split: expected fractions `train,val,test` such as `0.7,0.15,0.15` (or `train,val`), got `0.5`\n\
         --set: `novalue`: no `=`; expected KEY=VALUE, e.g. training.learning_rate=5e-5\n\
         --set: `=3`: empty key; expected KEY=VALUE, e.g. training.learning_rate=5e-5"
    );
}

#[test]
fn named_flag_values_are_typed_by_the_schema() {
    let overrides = NamedOverrides {
        batch_size: Some("lots".into()),
        learning_rate: Some("fast".into()),
        device: Some("gpu".into()),
        ..Default::default()
    }
    .to_overrides()
    .unwrap();
    assert_eq!(
        Root::new(&[("base.yaml", BASE)]).errors("base.yaml", &overrides),
        [
            "--batch-size: data.batch_size: expected a non-negative integer, got `lots`",
            "--learning-rate: training.learning_rate: expected a number, got `fast`",
            "--device: model.device: expected `auto`, `cpu`, `cuda` or `cuda:N`, got the string `gpu`",
        ]
    );
}

#[test]
fn set_after_named_flags_wins() {
    let overrides = collect_overrides(
        &NamedOverrides {
            batch_size: Some("16".into()),
            ..Default::default()
        },
        &["data.batch_size=32".into()],
    )
    .unwrap();
    let r = Root::new(&[("base.yaml", BASE)])
        .load("base.yaml", &overrides)
        .unwrap();
    assert_eq!(r.config.data.batch_size, 32);
    assert_eq!(r.origin("data.batch_size"), "--set");
}

#[test]
fn set_parses_key_and_value() {
    assert_eq!(
        Override::parse_set("model.model_path=a=b").unwrap(),
        Override {
            key: "model.model_path".into(),
            value: OverrideValue::Text("a=b".into()),
            origin: "--set".into(),
        }
    );
    let e = Override::parse_set("a..b=1").unwrap_err();
    assert_eq!(
        e.to_string(),
        "--set: `a..b=1`: empty key; expected KEY=VALUE, e.g. training.learning_rate=5e-5"
    );
}

#[test]
fn set_types_ints_floats_bools_strings_lists_and_null() {
    let r = base_ok(&[
        "data.stride=4",                        // int
        "training.learning_rate=5e-5",          // float in exponent form
        "training.weight_decay=1",              // an integer for a float key
        "training.load_best_model_at_end=no",   // bool
        "evaluation.save_predictions=no",       // bool, YAML 1.1 spelling
        "output.experiment_name=42",            // a string key keeps digits as text
        "model.revision='main'",                // quotes are dropped
        "evaluation.horizons_min=[30,60]",      // list
        "evaluation.quantiles=0.05, 0.5 ,0.95", // list without brackets
        "data.past_covariates=[]",              // empty list
        "data.timestamp_column=time",
        "data.id_column=null", // null for an optional key
        "training.save_total_limit=~",
        "model.params={context_length: 64, prediction_length: 12}", // YAML mapping
        "model.params.extra.depth=3",                               // new keys inside a free block
    ]);
    let c = &r.config;
    assert_eq!(c.data.stride, 4);
    assert_eq!(c.training.learning_rate, 5e-5);
    assert_eq!(c.training.weight_decay, 1.0);
    assert!(!c.training.load_best_model_at_end);
    assert!(!c.evaluation.save_predictions);
    assert_eq!(c.output.experiment_name, "42");
    assert_eq!(c.model.revision.as_deref(), Some("main"));
    assert_eq!(c.evaluation.horizons_min, vec![30, 60]);
    assert_eq!(c.evaluation.quantiles, vec![0.05, 0.5, 0.95]);
    assert!(c.data.past_covariates.is_empty());
    assert_eq!(c.data.timestamp_column.as_deref(), Some("time"));
    assert_eq!(c.data.id_column, None);
    assert_eq!(c.training.save_total_limit, None);
    assert_eq!(c.model.param_u64("context_length"), Some(64));
    assert_eq!(c.prediction_length(), Some(12));
    assert_eq!(
        c.model.params.get("extra").and_then(|e| e.get("depth")),
        Some(&Value::Number(3.into()))
    );
    assert_eq!(
        r.value["training"]["learning_rate"],
        Value::Number(5e-5.into())
    );
}

#[test]
fn set_type_errors_name_the_key_and_the_text() {
    assert_eq!(
        base_errors(&[
            "training.seed=-1",
            "training.load_best_model_at_end=maybe",
            "evaluation.horizons_min=[30,x]",
            "training.learning_rate=inf",
            "model.model_path.sub=1",
        ]),
        [
            "--set: training.seed: expected a non-negative integer, got `-1`",
            "--set: training.load_best_model_at_end: expected a boolean (true or false), got `maybe`",
            "--set: evaluation.horizons_min: expected a non-negative integer, got `x`",
            "--set: training.learning_rate: expected a number, got `inf`",
            "--set: model.model_path.sub: cannot set a key below `model.model_path`: it is not a mapping",
        ]
    );
}

#[test]
fn set_of_an_unknown_key_is_reported_with_a_suggestion() {
    assert_eq!(
        base_errors(&["training.num_epoch=3", "trainig.seed=1"]),
        [
            "--set: training.num_epoch: unknown key; did you mean `num_epochs`?",
            "--set: trainig: unknown key; did you mean `training`?",
        ]
    );
}

#[test]
fn overrides_apply_in_order() {
    let r = base_ok(&["data.batch_size=3", "data.batch_size=5"]);
    assert_eq!(r.config.data.batch_size, 5);
    let parsed = sets(&["training.max_steps=null", "training.num_epochs=2"]);
    let r = Root::new(&[("base.yaml", BASE)])
        .load("base.yaml", &parsed)
        .unwrap();
    assert_eq!(
        (r.config.training.max_steps, r.config.training.num_epochs),
        (None, Some(2))
    );
}
