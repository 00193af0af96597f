//! Every validation error class with its exact message, unknown-key suggestions, and a file
//! with three mistakes reporting all three.

mod common;

use common::{Root, base_errors, base_ok};

fn one(args: &[&str], expected: &str) {
    assert_eq!(base_errors(args), [expected], "{args:?}");
}

#[test]
fn the_base_config_is_valid() {
    let r = base_ok(&[]);
    assert_eq!(r.config.output.experiment_name, "base");
    assert_eq!(r.config.validate(), Ok(()));
}

// --- types ------------------------------------------------------------------------------------

#[test]
fn bad_types_in_files_name_the_file_and_the_value() {
    let root = Root::new(&[(
        "e.yaml",
        &format!(
            "{}evaluation:\n  quantiles: [0.1, high]\n  nocturnal: yes\nlogging: {{level: loud}}\n",
            common::BASE.replace("source: csv", "source: csv\n  batch_size: \"64\"")
        ),
    )]);
    assert_eq!(
        root.errors("e.yaml", &[]),
        [
            "ROOT/e.yaml: data.batch_size: expected a non-negative integer, got the string `64`",
            "ROOT/e.yaml: evaluation.nocturnal: expected a mapping, got the string `yes`",
            "ROOT/e.yaml: evaluation.quantiles[1]: expected a number, got the string `high`",
            "ROOT/e.yaml: logging.level: expected one of `error`, `warn`, `info`, `debug`, `trace`, got `loud`",
        ]
    );
}

#[test]
fn enum_values_get_suggestions() {
    one(
        &["model.model_type=chronosbolt"],
        "--set: model.model_type: expected one of `ttm`, `chronos`, `chronos_bolt`, `chronos2`, `timesfm`, got `chronosbolt`; did you mean `chronos_bolt`?",
    );
    one(
        &["training.lr_scheduler.type=cosin"],
        "--set: training.lr_scheduler.type: expected one of `constant`, `linear`, `cosine`, `exponential`, `one_cycle`, got `cosin`; did you mean `cosine`?",
    );
}

#[test]
fn device_must_be_auto_cpu_or_cuda() {
    one(
        &["model.device=cuda:x"],
        "--set: model.device: expected `auto`, `cpu`, `cuda` or `cuda:N`, got the string `cuda:x`",
    );
    assert_eq!(
        base_ok(&["model.device=cuda"]).config.model.device,
        tsfm_config::Device::Cuda(0)
    );
}

#[test]
fn betas_need_exactly_two_items() {
    one(
        &["training.optimizer.betas=[0.9]"],
        "--set: training.optimizer.betas: expected a list of 2 items, each a number, got 1 items",
    );
}

#[test]
fn resume_rejects_other_types() {
    let root = Root::new(&[(
        "e.yaml",
        &format!("{}  resume_from_checkpoint: [1]\n", common::BASE),
    )]);
    assert_eq!(
        root.errors("e.yaml", &[]),
        [
            "ROOT/e.yaml: training.resume_from_checkpoint: expected `true` (latest checkpoint), `false` or a checkpoint path, got a list"
        ]
    );
}

#[test]
fn required_keys_are_reported_where_their_section_is() {
    let root = Root::new(&[(
        "e.yaml",
        "model: {model_type: ttm}\ndata: {source: aleppo, raw_path: x}\ntraining: {max_steps: 1}\n",
    )]);
    assert_eq!(
        root.errors("e.yaml", &[]),
        [
            "ROOT/e.yaml: model.model_path: required key is missing",
            "ROOT/e.yaml: data.source_name: required key is missing",
        ]
    );
    let root = Root::new(&[("e.yaml", "training: {max_steps: 1}\n")]);
    assert_eq!(
        root.errors("e.yaml", &[]),
        [
            "default: model: required key is missing",
            "default: data: required key is missing",
        ]
    );
}

// --- unknown keys -----------------------------------------------------------------------------

#[test]
fn unknown_keys_suggest_a_near_sibling_the_same_key_elsewhere_or_list_the_keys() {
    let root = Root::new(&[(
        "e.yaml",
        &format!(
            "{}  learnig_rate: 0.1\n  batch_size: 3\n  colour: red\nmodle: {{}}\n",
            common::BASE
        ),
    )]);
    assert_eq!(
        root.errors("e.yaml", &[]),
        [
            "ROOT/e.yaml: training.learnig_rate: unknown key; did you mean `learning_rate`?",
            "ROOT/e.yaml: training.batch_size: unknown key here; did you mean `data.batch_size`?",
            "ROOT/e.yaml: training.colour: unknown key; expected one of `num_epochs`, `max_steps`, `learning_rate`, `weight_decay`, `warmup_steps`, `warmup_ratio`, `lr_scheduler`, `optimizer`, `max_grad_norm`, `gradient_accumulation_steps`, `batch_shards`, `save_strategy`, `save_steps`, `eval_strategy`, `eval_steps`, `logging_steps`, `save_total_limit`, `load_best_model_at_end`, `metric_for_best_model`, `greater_is_better`, `early_stopping`, `finetune_mode`, `lora`, `loss`, `huber_delta`, `seed`, `resume_from_checkpoint`, `gradient_checkpointing`",
            "ROOT/e.yaml: modle: unknown key; did you mean `model`?",
        ]
    );
}

#[test]
fn unknown_metric_names_get_suggestions() {
    one(
        &["evaluation.metrics=[rmse, rmes]"],
        "--set: evaluation.metrics[1]: unknown metric `rmes`; did you mean `rmse`?",
    );
}

// --- impossible values ------------------------------------------------------------------------

#[test]
fn learning_rate_must_be_positive() {
    one(
        &["training.learning_rate=-0.001"],
        "--set: training.learning_rate: must be > 0, got -0.001",
    );
    one(
        &["training.learning_rate=0"],
        "--set: training.learning_rate: must be > 0, got 0",
    );
}

#[test]
fn split_fractions_must_be_in_range_and_sum_to_one() {
    one(
        &["data.data_split.val=0.2"],
        "--set: data.data_split: train + val + test must sum to 1, got 0.7 + 0.2 + 0.15 = 1.05",
    );
    one(
        &["data.data_split.train=1.5"],
        "--set: data.data_split.train: must be between 0 and 1, got 1.5",
    );
    one(
        &[
            "data.data_split.train=0",
            "data.data_split.val=0.5",
            "data.data_split.test=0.5",
        ],
        "--set: data.data_split.train: must be > 0: training needs data",
    );
}

#[test]
fn warmup_ratio_must_be_in_zero_one_and_exclusive_with_steps() {
    one(
        &["training.warmup_ratio=1"],
        "--set: training.warmup_ratio: must be in [0, 1), got 1",
    );
    one(
        &["training.warmup_ratio=-0.1"],
        "--set: training.warmup_ratio: must be in [0, 1), got -0.1",
    );
    one(
        &["training.warmup_ratio=0.1", "training.warmup_steps=10"],
        "--set: training.warmup_ratio: set only one of training.warmup_steps and training.warmup_ratio",
    );
}

#[test]
fn context_and_prediction_lengths_must_be_positive() {
    one(
        &["model.params.context_length=0"],
        "--set: model.params.context_length: must be a positive integer, got `0`",
    );
    one(
        &["model.params.prediction_length=-4"],
        "--set: model.params.prediction_length: must be a positive integer, got `-4`",
    );
    one(
        &["model.params.context_length=abc"],
        "--set: model.params.context_length: must be a positive integer, got the string `abc`",
    );
    one(
        &["data.context_length=0"],
        "--set: data.context_length: must be a positive integer, got `0`",
    );
}

#[test]
fn absurd_lengths_are_refused_before_any_arithmetic() {
    one(
        &["model.params.prediction_length=9223372036854775807"],
        "--set: model.params.prediction_length: 9223372036854775807 steps is more than the 525600 a config may ask for",
    );
    one(
        &["data.context_length=525601"],
        "--set: data.context_length: 525601 steps is more than the 525600 a config may ask for",
    );
    one(
        &["model.params.context_length=18446744073709551615"],
        "--set: model.params.context_length: 18446744073709551615 steps is more than the 525600 a config may ask for",
    );
}

#[test]
fn steps_strategies_need_positive_intervals() {
    one(
        &["training.save_steps=0"],
        "--set: training.save_steps: must be > 0 when training.save_strategy is `steps`",
    );
    one(
        &["training.eval_strategy=steps", "training.eval_steps=0"],
        "--set: training.eval_steps: must be > 0 when training.eval_strategy is `steps`",
    );
    // with save_strategy `no`, save_steps is unused
    base_ok(&["training.save_strategy=no", "training.save_steps=0"]);
}

#[test]
fn best_model_and_early_stopping_need_evaluation() {
    one(
        &["training.load_best_model_at_end=true"],
        "--set: training.load_best_model_at_end: needs evaluation during training: set training.eval_strategy to `steps` or `epoch`",
    );
    one(
        &["training.early_stopping.enabled=true"],
        "--set: training.early_stopping.enabled: needs evaluation during training: set training.eval_strategy to `steps` or `epoch`",
    );
}

#[test]
fn an_empty_validation_share_is_an_error_when_something_needs_it() {
    one(
        &[
            "data.data_split.val=0",
            "data.data_split.test=0.3",
            "training.eval_strategy=epoch",
            "training.save_strategy=epoch",
            "training.early_stopping.enabled=true",
        ],
        "--set: data.data_split.val: validation share is empty (val = 0) but training.early_stopping.enabled, training.eval_strategy need validation data",
    );
    one(
        &[
            "data.data_split.method=patients",
            "data.data_split.test_ids=[p01]",
            "training.eval_strategy=epoch",
            "training.save_strategy=epoch",
            "training.load_best_model_at_end=true",
        ],
        "default: data.data_split.val_ids: no validation series (val_ids empty) but training.load_best_model_at_end, training.eval_strategy need validation data",
    );
    // nothing needs validation data: an empty share is fine
    base_ok(&["data.data_split.val=0", "data.data_split.test=0.3"]);
}

#[test]
fn best_model_needs_matching_checkpoint_schedule_and_a_computed_metric() {
    one(
        &[
            "training.eval_strategy=epoch",
            "training.load_best_model_at_end=true",
        ],
        "default: training.save_strategy: must match training.eval_strategy (`epoch`) when training.load_best_model_at_end is true, got `steps`",
    );
    one(
        &[
            "training.eval_strategy=steps",
            "training.eval_steps=300",
            "training.load_best_model_at_end=true",
        ],
        "default: training.save_steps: must be a multiple of the evaluation interval (300) when training.load_best_model_at_end is true, got 500",
    );
    one(
        &[
            "training.eval_strategy=epoch",
            "training.save_strategy=epoch",
            "training.load_best_model_at_end=true",
            "training.metric_for_best_model=mase",
        ],
        "--set: training.metric_for_best_model: `mase` is not available: the trainer selects the best checkpoint and stops early on the validation loss; set `loss`",
    );
    // A metric `evaluate` reports is still not what the trainer selects on: refused here
    // rather than by `tsfm train` after the data is read.
    one(
        &[
            "training.eval_strategy=epoch",
            "training.save_strategy=epoch",
            "training.load_best_model_at_end=true",
            "training.metric_for_best_model=eval_rmse",
        ],
        "--set: training.metric_for_best_model: `eval_rmse` is not available: the trainer selects the best checkpoint and stops early on the validation loss; set `loss`",
    );
    base_ok(&[
        "training.eval_strategy=epoch",
        "training.save_strategy=epoch",
        "training.load_best_model_at_end=true",
        "training.metric_for_best_model=eval_loss",
    ]);
}

#[test]
fn keys_this_version_cannot_honour_are_refused_by_name() {
    for (set, message) in [
        (
            "model.precision=bf16",
            "--set: model.precision: only `fp32` is available: tsfm computes in 32-bit floats; set model.precision: fp32",
        ),
        (
            "data.num_workers=4",
            "--set: data.num_workers: tsfm prepares windows in-process from its cache (no loader workers); set 0 or remove the key",
        ),
        (
            "training.gradient_checkpointing=true",
            "--set: training.gradient_checkpointing: is not available yet (activations are kept for the backward pass); set false",
        ),
        (
            "logging.mlflow_experiment=glucose",
            "--set: logging.mlflow_experiment: is replaced by logging.mlflow.experiment; write `logging: {mlflow: {experiment: glucose}}` (and tracking_uri, or set MLFLOW_TRACKING_URI)",
        ),
        (
            "logging.log_file=tsfm.log",
            "--set: logging.log_file: is not available yet: logs go to stderr (`-v`, `--debug`) and each run keeps logs/train.jsonl; remove the key",
        ),
        (
            "output.metrics_format=yaml",
            "--set: output.metrics_format: only `json` is written (metrics.json); set json or remove the key",
        ),
    ] {
        one(&[set], message);
    }
    base_ok(&[
        "model.precision=fp32",
        "data.num_workers=0",
        "logging.tensorboard=false",
        "logging.tensorboard=true",
    ]);
}

#[test]
fn mlflow_tracking_takes_an_http_server_and_refuses_stores_it_cannot_reach() {
    base_ok(&[
        "logging.mlflow.tracking_uri=http://login-node:5000",
        "logging.mlflow.experiment=glucose",
        "logging.mlflow.run_name=ttm-lr1e-4",
        "logging.mlflow.tags.team=t1d",
        "logging.mlflow.log_model=true",
    ]);
    one(
        &["logging.mlflow.tracking_uri=https://mlflow.example.org"],
        "--set: logging.mlflow.tracking_uri: `https://mlflow.example.org`: this build of tsfm has \
         no TLS; reach the server over http, e.g. through an SSH tunnel (`ssh -L \
         5000:localhost:5000 login-node`, then http://localhost:5000)",
    );
    one(
        &["logging.mlflow.tracking_uri=sqlite:///mlflow.db"],
        "--set: logging.mlflow.tracking_uri: `sqlite:///mlflow.db` is not an http:// address: tsfm \
         logs through an MLflow server's REST API (start one with `mlflow server --port 5000` and \
         give http://HOST:5000), not into a file store or database directly",
    );
    one(
        &["logging.mlflow.experiment= "],
        "--set: logging.mlflow.experiment: must not be empty",
    );
    one(
        &["logging.mlflow.log_model=maybe"],
        "--set: logging.mlflow.log_model: expected a boolean (true or false), got `maybe`",
    );
}

#[test]
fn known_future_covariates_are_chronos2_only_and_never_also_past() {
    for family in ["ttm", "chronos", "chronos_bolt", "timesfm"] {
        one(
            &[
                &format!("model.model_type={family}"),
                "data.future_covariates=[temp]",
            ],
            &format!(
                "--set: data.future_covariates: {family} cannot use known-future covariates; \
                 move them to data.past_covariates"
            ),
        );
    }
    let r = base_ok(&["model.model_type=chronos2", "data.future_covariates=[temp]"]);
    assert_eq!(r.config.data.future_covariates, ["temp"]);
    one(
        &[
            "model.model_type=chronos2",
            "data.past_covariates=[iob, temp]",
            "data.future_covariates=[temp]",
        ],
        "--set: data.future_covariates[0]: `temp` is in data.past_covariates too; a column is \
         either past-only or known-future: keep it in one list",
    );
    one(
        &["model.model_type=chronos2", "data.future_covariates=[bg]"],
        "--set: data.future_covariates[0]: `bg` is the forecast target; a target's future is \
         never known",
    );
    one(
        &["model.model_type=chronos2", "data.features.calendar=true"],
        "--set: data.features.calendar: chronos2 has its own time encoding and reads no \
         calendar channels; set data.features.calendar: false (a time-of-day column can go in \
         data.future_covariates)",
    );
    base_ok(&["model.model_type=ttm", "data.features.calendar=true"]);
}

#[test]
fn num_epochs_or_max_steps_must_be_set_and_positive() {
    one(
        &["training.max_steps=null"],
        "default: training.num_epochs: set training.num_epochs or training.max_steps",
    );
    one(
        &["training.max_steps=0"],
        "--set: training.max_steps: must be > 0",
    );
    one(
        &["training.num_epochs=0"],
        "--set: training.num_epochs: must be > 0",
    );
}

#[test]
fn optimizer_and_schedule_ranges() {
    one(
        &["training.weight_decay=-0.1"],
        "--set: training.weight_decay: must be >= 0, got -0.1",
    );
    one(
        &["training.optimizer.betas=[0.9, 1.0]"],
        "--set: training.optimizer.betas: each beta must be in [0, 1), got [0.9, 1]",
    );
    one(
        &["training.optimizer.eps=0"],
        "--set: training.optimizer.eps: must be > 0, got 0",
    );
    one(
        &["training.max_grad_norm=-1"],
        "--set: training.max_grad_norm: must be >= 0 (0 disables clipping), got -1",
    );
    one(
        &["training.gradient_accumulation_steps=0"],
        "--set: training.gradient_accumulation_steps: must be > 0",
    );
    one(
        &["training.batch_shards=0"],
        "--set: training.batch_shards: must be > 0",
    );
    one(
        &["training.batch_shards=1025"],
        "--set: training.batch_shards: 1025 is more than 1024; use at most one shard per core",
    );
    one(
        &["training.logging_steps=0"],
        "--set: training.logging_steps: must be > 0",
    );
    one(
        &["training.save_total_limit=0"],
        "--set: training.save_total_limit: must be > 0 (leave it unset to keep every checkpoint)",
    );
    one(
        &[
            "training.lr_scheduler.type=exponential",
            "training.lr_scheduler.gamma=1.5",
        ],
        "--set: training.lr_scheduler.gamma: must be in (0, 1], got 1.5",
    );
    one(
        &[
            "training.lr_scheduler.type=one_cycle",
            "training.lr_scheduler.pct_start=1",
        ],
        "--set: training.lr_scheduler.pct_start: must be in (0, 1), got 1",
    );
    one(
        &[
            "training.lr_scheduler.type=cosine",
            "training.lr_scheduler.num_cycles=0",
        ],
        "--set: training.lr_scheduler.num_cycles: must be > 0, got 0",
    );
    one(
        &["training.lr_scheduler.min_lr_ratio=2"],
        "--set: training.lr_scheduler.min_lr_ratio: must be in [0, 1], got 2",
    );
    one(
        &[
            "training.optimizer.type=sgd",
            "training.optimizer.momentum=1",
        ],
        "--set: training.optimizer.momentum: must be in [0, 1), got 1",
    );
    one(
        &[
            "training.early_stopping.enabled=true",
            "training.eval_strategy=epoch",
            "training.save_strategy=epoch",
            "training.early_stopping.patience=0",
        ],
        "--set: training.early_stopping.patience: must be > 0",
    );
    one(
        &["training.finetune_mode=lora", "training.lora.rank=0"],
        "--set: training.lora.rank: must be > 0",
    );
    one(
        &["training.loss=huber", "training.huber_delta=0"],
        "--set: training.huber_delta: must be > 0, got 0",
    );
    one(
        &["training.loss=quantile", "evaluation.quantiles=[]"],
        "--set: training.loss: `quantile` needs quantile levels in evaluation.quantiles",
    );
    one(
        &["training.resume_from_checkpoint=''"],
        "--set: training.resume_from_checkpoint: expected `true` (latest checkpoint), `false` or a checkpoint path, got an empty string",
    );
}

#[test]
fn lora_targets_take_a_list_or_a_regex_and_save_is_merged_or_adapter() {
    use tsfm_config::{LoraSave, LoraTargets};
    let lora = |args: &[&str]| base_ok(args).config.training.lora;
    let default = lora(&["training.finetune_mode=lora"]);
    assert_eq!(default.target_modules, LoraTargets::Names(vec![]));
    assert_eq!(default.save, LoraSave::Merged);
    assert!(!default.use_rslora);
    let set = lora(&[
        "training.lora.target_modules=[fc1, attn_layer]",
        "training.lora.save=adapter",
        "training.lora.use_rslora=true",
    ]);
    assert_eq!(
        set.target_modules,
        LoraTargets::Names(vec!["fc1".into(), "attn_layer".into()])
    );
    assert_eq!(set.save, LoraSave::Adapter);
    assert!(set.use_rslora);
    assert_eq!(
        lora(&[r"training.lora.target_modules=.*\.(fc1|fc2)"]).target_modules,
        LoraTargets::Pattern(r".*\.(fc1|fc2)".into())
    );

    let root = Root::new(&[(
        "e.yaml",
        &format!("{}  lora:\n    target_modules: [fc1, 3]\n", common::BASE),
    )]);
    let yaml = root.load("e.yaml", &[]).unwrap().config.training.lora;
    assert_eq!(
        yaml.target_modules,
        LoraTargets::Names(vec!["fc1".into(), "3".into()]),
        "names written bare as numbers stay names"
    );

    one(
        &["training.lora.target_modules=fc("],
        "--set: training.lora.target_modules: `fc(` is not a valid regular expression: unclosed group",
    );
    one(
        &["training.lora.target_modules=[fc1, '']"],
        "--set: training.lora.target_modules[1]: must not be empty",
    );
    one(
        &["training.lora.target_modules=''"],
        "--set: training.lora.target_modules: must not be empty (leave it out for the model's default layers)",
    );
    one(
        &["training.lora.save=both"],
        "--set: training.lora.save: expected one of `merged`, `adapter`, got `both`",
    );
    let root = Root::new(&[(
        "e.yaml",
        &format!(
            "{}  lora:\n    target_modules: {{fc1: true}}\n",
            common::BASE
        ),
    )]);
    assert_eq!(
        root.errors("e.yaml", &[]),
        [
            "ROOT/e.yaml: training.lora.target_modules: expected a string or a list of strings, got a mapping"
        ]
    );
}

#[test]
fn data_section_checks() {
    one(
        &["data.batch_size=0"],
        "--set: data.batch_size: must be > 0",
    );
    one(&["data.stride=0"], "--set: data.stride: must be > 0");
    one(
        &["data.resolution_min=0"],
        "--set: data.resolution_min: must be > 0",
    );
    one(
        &["data.raw_path="],
        "--set: data.raw_path: must not be empty",
    );
    one(
        &["data.target_columns=[]"],
        "--set: data.target_columns: needs at least one column",
    );
    one(
        &["data.timestamp_column=null"],
        "--set: data.timestamp_column: required when data.source is `csv`",
    );
    base_ok(&["data.source=bris_t1d", "data.timestamp_column=null"]);
    one(
        &["data.imputation.columns={carbs: constant}"],
        "default: data.imputation.fill_value: required when a column uses the `constant` strategy",
    );
    base_ok(&[
        "data.imputation.columns={carbs: constant}",
        "data.imputation.fill_value=0",
    ]);
    one(
        &["data.imputation.max_gap_minutes=-5"],
        "--set: data.imputation.max_gap_minutes: must be >= 0, got -5",
    );
    one(
        &[
            "data.features.iob=true",
            "data.features.insulin_action_hours=0",
        ],
        "--set: data.features.insulin_action_hours: must be > 0, got 0",
    );
}

#[test]
fn day_of_week_needs_hour_of_day_and_real_dates() {
    base_ok(&[
        "data.features.calendar=true",
        "data.features.day_of_week=true",
    ]);
    one(
        &["data.features.day_of_week=true"],
        "--set: data.features.day_of_week: is an addition to the hour-of-day features; set \
         data.features.calendar: true too",
    );
    assert_eq!(
        base_errors(&[
            "data.source=aleppo",
            "data.features.calendar=true",
            "data.features.day_of_week=true",
        ]),
        [
            "--set: data.features.day_of_week: the `aleppo` source has no real dates (days are \
          synthesised from a base day), so the day of week carries no information; turn it off"
        ]
    );
    let r = base_ok(&[]);
    assert!(!r.config.data.features.day_of_week);
}

#[test]
fn date_and_patient_splits() {
    one(
        &["data.data_split.method=dates"],
        "default: data.data_split.train_end: required when data.data_split.method is `dates`",
    );
    one(
        &[
            "data.data_split.method=dates",
            "data.data_split.train_end=2024-13-01",
        ],
        "--set: data.data_split.train_end: expected a date `YYYY-MM-DD` or `YYYY-MM-DD HH:MM[:SS]`, got `2024-13-01`",
    );
    one(
        &[
            "data.data_split.method=dates",
            "data.data_split.train_end=2024-03-01 12:00",
            "data.data_split.val_end=2024-03-01",
        ],
        "--set: data.data_split.val_end: must be after data.data_split.train_end (`2024-03-01 12:00`), got `2024-03-01`",
    );
    let r = base_ok(&[
        "data.data_split.method=dates",
        "data.data_split.train_end=2024-03-01",
        "data.data_split.val_end=2024-03-08T06:30:00",
    ]);
    assert!(r.config.data.data_split.has_validation());
    one(
        &["data.data_split.method=hybrid"],
        "default: data.data_split.test_ids: needs at least one series id when data.data_split.method is `hybrid`",
    );
    one(
        &[
            "data.data_split.method=patients",
            "data.data_split.val_ids=[p01, 559]",
            "data.data_split.test_ids=[559]",
        ],
        "--set: data.data_split.val_ids: `559` is in both val_ids and test_ids",
    );
}

#[test]
fn evaluation_checks() {
    one(
        &["evaluation.metrics=[]"],
        "--set: evaluation.metrics: needs at least one metric",
    );
    one(
        &["evaluation.eval_batch_size=0"],
        "--set: evaluation.eval_batch_size: must be > 0",
    );
    one(
        &["evaluation.nocturnal.context_end=24:00"],
        "--set: evaluation.nocturnal.context_end: expected a time of day `HH:MM`, got `24:00`",
    );
    one(
        &["evaluation.nocturnal.horizon_hours=0"],
        "--set: evaluation.nocturnal.horizon_hours: must be > 0, got 0",
    );
    one(
        &["evaluation.horizons_min=[30, 62]"],
        "--set: evaluation.horizons_min[1]: 62 is not a multiple of data.resolution_min (5)",
    );
    one(
        &["evaluation.horizons_min=[0]"],
        "--set: evaluation.horizons_min[0]: must be > 0",
    );
    one(
        &[
            "model.params.prediction_length=6",
            "evaluation.horizons_min=[30, 60]",
        ],
        "--set: evaluation.horizons_min[1]: 60 min is beyond the forecast horizon (6 steps x 5 min = 30 min)",
    );
    assert_eq!(
        base_errors(&["evaluation.quantiles=[0.5, 0.1, 1.0]"]),
        [
            "--set: evaluation.quantiles[2]: must be in (0, 1), got 1",
            "--set: evaluation.quantiles: must be strictly increasing, got [0.5, 0.1, 1.0]",
        ]
    );
    one(
        &["output.save_dir="],
        "--set: output.save_dir: must not be empty",
    );
}

#[test]
fn a_type_error_is_not_repeated_by_later_checks() {
    // The bad value is dropped before the cross-field checks: no "set num_epochs or max_steps".
    one(
        &["training.max_steps=lots"],
        "--set: training.max_steps: expected a non-negative integer or null, got `lots`",
    );
}

#[test]
fn a_config_with_three_mistakes_reports_all_three() {
    let root = Root::new(&[
        (
            "models/m.yaml",
            "model: {model_type: ttm, model_path: m}\ntraining: {max_steps: 100}\n",
        ),
        (
            "experiments/three.yaml",
            "defaults: [models/m]\n\
             data: {source_name: d, source: bris_t1d, raw_path: r, batch_sise: 32}\n\
             training:\n  learning_rate: -0.01\n  warmup_ratio: lots\n",
        ),
    ]);
    let e = root.load("experiments/three.yaml", &[]).unwrap_err();
    assert_eq!(e.len(), 3);
    assert_eq!(
        root.lines(&e).join("\n"),
        "ROOT/experiments/three.yaml: data.batch_sise: unknown key; did you mean `batch_size`?\n\
         ROOT/experiments/three.yaml: training.warmup_ratio: expected a number, got the string `lots`\n\
         ROOT/experiments/three.yaml: training.learning_rate: must be > 0, got -0.01"
    );
    let first = &e.0[0];
    assert_eq!(first.key, "data.batch_sise");
    assert!(first.origin.ends_with("experiments/three.yaml"));
}

#[test]
fn validate_checks_a_config_built_in_code() {
    let mut c = base_ok(&[]).config;
    c.training.learning_rate = -1.0;
    c.data.batch_size = 0;
    assert_eq!(
        c.validate().unwrap_err().to_string(),
        "default: data.batch_size: must be > 0\ndefault: training.learning_rate: must be > 0, got -1"
    );
}
