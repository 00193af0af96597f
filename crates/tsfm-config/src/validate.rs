//! Checks across values and keys that types alone cannot express: ranges, required
//! combinations and impossible settings. Each message is pinned by a test.

use crate::config::*;
use crate::error::{ConfigError, ConfigErrors};
use crate::sources::Sources;
use crate::suggest::closest;

/// Metric names the evaluator knows (`evaluation.metrics`).
pub const KNOWN_METRICS: &[&str] = &[
    "rmse",
    "mae",
    "mse",
    "mape",
    "smape",
    "mard",
    "mase",
    "wql",
    "crps",
    "coverage",
    "clarke",
    "parkes",
    "grmse",
    "time_in_range",
    "hypo_events",
    "brier",
    "mace",
    "sharpness",
    "dilate",
];

struct Check<'a> {
    sources: &'a Sources,
    errors: &'a mut ConfigErrors,
    /// Problems found before these checks (types, unknown keys, overrides).
    earlier: usize,
}

impl Check<'_> {
    /// Records a problem unless an earlier (type) problem already covers this key.
    fn err(&mut self, key: &str, message: impl Into<String>) {
        if self.errors.touches_first(self.earlier, key) {
            return;
        }
        let origin = self.sources.origin(key);
        self.errors.push(ConfigError::new(key, origin, message));
    }

    fn positive(&mut self, key: &str, v: u64) {
        if v == 0 {
            self.err(key, "must be > 0");
        }
    }

    fn positive_f(&mut self, key: &str, v: f64) {
        if v <= 0.0 || !v.is_finite() {
            self.err(key, format!("must be > 0, got {v}"));
        }
    }

    fn non_negative_f(&mut self, key: &str, v: f64) {
        if v < 0.0 || !v.is_finite() {
            self.err(key, format!("must be >= 0, got {v}"));
        }
    }

    fn non_empty(&mut self, key: &str, v: &str) {
        if v.trim().is_empty() {
            self.err(key, "must not be empty");
        }
    }
}

/// Runs every cross-field check on a deserialised config.
pub(crate) fn check(c: &Config, sources: &Sources, errors: &mut ConfigErrors) {
    let earlier = errors.len();
    let mut k = Check {
        sources,
        errors,
        earlier,
    };
    model(&mut k, &c.model);
    data(&mut k, &c.data);
    training(&mut k, c);
    evaluation(&mut k, c);
    covariates(&mut k, c);
    not_available(&mut k, c);
    tracking(&mut k, c);
    if c.output.save_dir.trim().is_empty() {
        k.err("output.save_dir", "must not be empty");
    }
}

/// The longest context or horizon, in steps, a config may ask for: a year of
/// 1-minute readings. Beyond it window arithmetic (steps x minutes, windows x
/// length) could overflow, and no model of these families reaches it anyway.
pub const MAX_SEQUENCE_STEPS: u64 = 525_600;

/// More shards than this would be more threads than any one machine has cores.
pub const MAX_BATCH_SHARDS: u64 = 1024;

fn model(k: &mut Check, m: &ModelConfig) {
    k.non_empty("model.model_path", &m.model_path);
    for name in ["context_length", "prediction_length"] {
        let Some(v) = m.params.get(name) else {
            continue;
        };
        let key = format!("model.params.{name}");
        match v.as_u64() {
            Some(n) if n > MAX_SEQUENCE_STEPS => k.err(
                &key,
                format!("{n} steps is more than the {MAX_SEQUENCE_STEPS} a config may ask for"),
            ),
            Some(n) if n > 0 => {}
            _ => k.err(
                &key,
                format!("must be a positive integer, got {}", crate::schema::show(v)),
            ),
        }
    }
}

fn data(k: &mut Check, d: &DataConfig) {
    k.non_empty("data.source_name", &d.source_name);
    k.non_empty("data.raw_path", &d.raw_path);
    k.non_empty("data.cache_dir", &d.cache_dir);
    k.positive("data.resolution_min", d.resolution_min.into());
    if d.target_columns.is_empty() {
        k.err("data.target_columns", "needs at least one column");
    }
    if matches!(d.source, DataSource::Csv | DataSource::Parquet) && d.timestamp_column.is_none() {
        k.err(
            "data.timestamp_column",
            format!("required when data.source is `{}`", d.source.as_str()),
        );
    }
    k.positive("data.batch_size", d.batch_size);
    k.positive("data.stride", d.stride);
    match d.context_length {
        Some(0) => k.err("data.context_length", "must be a positive integer, got `0`"),
        Some(n) if n > MAX_SEQUENCE_STEPS => k.err(
            "data.context_length",
            format!("{n} steps is more than the {MAX_SEQUENCE_STEPS} a config may ask for"),
        ),
        _ => {}
    }
    split(k, &d.data_split);
    let imp = &d.imputation;
    k.non_negative_f("data.imputation.max_gap_minutes", imp.max_gap_minutes);
    let uses_constant = imp.strategy == ImputeStrategy::Constant
        || imp.columns.values().any(|s| *s == ImputeStrategy::Constant);
    if uses_constant && imp.fill_value.is_none() {
        k.err(
            "data.imputation.fill_value",
            "required when a column uses the `constant` strategy",
        );
    }
    if d.features.iob {
        k.positive_f(
            "data.features.insulin_action_hours",
            d.features.insulin_action_hours,
        );
    }
    if d.features.cob {
        k.positive_f(
            "data.features.carb_absorption_hours",
            d.features.carb_absorption_hours,
        );
    }
    if d.features.day_of_week {
        if !d.features.calendar {
            k.err(
                "data.features.day_of_week",
                "is an addition to the hour-of-day features; set data.features.calendar: true too",
            );
        }
        // These sources have no real dates: days are counted from an arbitrary base day.
        if matches!(d.source, DataSource::BrisT1d | DataSource::Aleppo) {
            k.err(
                "data.features.day_of_week",
                format!(
                    "the `{}` source has no real dates (days are synthesised from a base day), so the day of week carries no information; turn it off",
                    d.source.as_str()
                ),
            );
        }
    }
}

fn split(k: &mut Check, s: &DataSplit) {
    let method = match s.method {
        SplitMethod::Fractions => "fractions",
        SplitMethod::Dates => "dates",
        SplitMethod::Patients => "patients",
        SplitMethod::Hybrid => "hybrid",
    };
    match s.method {
        SplitMethod::Fractions | SplitMethod::Hybrid => {
            let mut in_range = true;
            for (name, v) in [("train", s.train), ("val", s.val), ("test", s.test)] {
                if !(0.0..=1.0).contains(&v) {
                    k.err(
                        &format!("data.data_split.{name}"),
                        format!("must be between 0 and 1, got {v}"),
                    );
                    in_range = false;
                }
            }
            let sum = s.train + s.val + s.test;
            if in_range && (sum - 1.0).abs() > 1e-6 {
                k.err(
                    "data.data_split",
                    format!(
                        "train + val + test must sum to 1, got {} + {} + {} = {}",
                        s.train,
                        s.val,
                        s.test,
                        round6(sum)
                    ),
                );
            } else if in_range && s.train == 0.0 {
                k.err("data.data_split.train", "must be > 0: training needs data");
            }
        }
        SplitMethod::Dates => match (&s.train_end, &s.val_end) {
            (None, _) => k.err(
                "data.data_split.train_end",
                "required when data.data_split.method is `dates`",
            ),
            (Some(t), v) => {
                let t_ok = parse_datetime(t).is_some();
                if !t_ok {
                    k.err("data.data_split.train_end", date_message(t));
                }
                if let Some(v) = v {
                    match parse_datetime(v) {
                        None => k.err("data.data_split.val_end", date_message(v)),
                        Some(vv) if t_ok && Some(vv) <= parse_datetime(t) => k.err(
                            "data.data_split.val_end",
                            format!("must be after data.data_split.train_end (`{t}`), got `{v}`"),
                        ),
                        Some(_) => {}
                    }
                }
            }
        },
        SplitMethod::Patients => {}
    }
    if matches!(s.method, SplitMethod::Patients | SplitMethod::Hybrid) && s.test_ids.is_empty() {
        k.err(
            "data.data_split.test_ids",
            format!("needs at least one series id when data.data_split.method is `{method}`"),
        );
    }
    if let Some(id) = s.val_ids.iter().find(|id| s.test_ids.contains(id)) {
        k.err(
            "data.data_split.val_ids",
            format!("`{id}` is in both val_ids and test_ids"),
        );
    }
}

/// Rounds a computed sum for display (0.7 + 0.2 + 0.2 prints 1.1, not 1.0999999999999999).
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn date_message(v: &str) -> String {
    format!("expected a date `YYYY-MM-DD` or `YYYY-MM-DD HH:MM[:SS]`, got `{v}`")
}

/// `YYYY-MM-DD[( |T)HH:MM[:SS]]` as a sortable tuple; checks ranges, not the calendar.
fn parse_datetime(s: &str) -> Option<(u32, u32, u32, u32, u32, u32)> {
    let s = s.trim();
    let (date, time) = match s.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let nums = |text: &str, sep: char, n: usize| -> Option<Vec<u32>> {
        let parts: Vec<&str> = text.split(sep).collect();
        if parts.len() < n.min(2) || parts.len() > n {
            return None;
        }
        parts.iter().map(|p| p.parse().ok()).collect()
    };
    let d = nums(date, '-', 3)?;
    if d.len() != 3 || !(1..=12).contains(&d[1]) || !(1..=31).contains(&d[2]) {
        return None;
    }
    let t = match time {
        Some(t) => nums(t, ':', 3)?,
        None => vec![0, 0],
    };
    let sec = t.get(2).copied().unwrap_or(0);
    if t[0] > 23 || t[1] > 59 || sec > 59 {
        return None;
    }
    Some((d[0], d[1], d[2], t[0], t[1], sec))
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::No => "no",
        Strategy::Steps => "steps",
        Strategy::Epoch => "epoch",
    }
}

fn training(k: &mut Check, c: &Config) {
    let t = &c.training;
    run_length(k, t);
    learning_rate(k, t);
    optimizer(k, t);
    intervals(k, t);
    best_model(k, c);
    loss_and_adapters(k, c);
}

/// `num_epochs` / `max_steps`: one of them, and above zero.
fn run_length(k: &mut Check, t: &TrainingConfig) {
    match (t.num_epochs, t.max_steps) {
        (None, None) => k.err(
            "training.num_epochs",
            "set training.num_epochs or training.max_steps",
        ),
        (e, s) => {
            if e == Some(0) {
                k.err("training.num_epochs", "must be > 0");
            }
            if s == Some(0) {
                k.err("training.max_steps", "must be > 0");
            }
        }
    }
}

/// Learning rate, weight decay, warmup and the schedule.
fn learning_rate(k: &mut Check, t: &TrainingConfig) {
    k.positive_f("training.learning_rate", t.learning_rate);
    k.non_negative_f("training.weight_decay", t.weight_decay);
    if !(0.0..1.0).contains(&t.warmup_ratio) {
        k.err(
            "training.warmup_ratio",
            format!("must be in [0, 1), got {}", t.warmup_ratio),
        );
    } else if t.warmup_ratio > 0.0 && t.warmup_steps > 0 {
        k.err(
            "training.warmup_ratio",
            "set only one of training.warmup_steps and training.warmup_ratio",
        );
    }
    let s = &t.lr_scheduler;
    match s.kind {
        SchedulerType::Exponential if !(s.gamma > 0.0 && s.gamma <= 1.0) => k.err(
            "training.lr_scheduler.gamma",
            format!("must be in (0, 1], got {}", s.gamma),
        ),
        SchedulerType::Cosine => k.positive_f("training.lr_scheduler.num_cycles", s.num_cycles),
        SchedulerType::OneCycle if !(s.pct_start > 0.0 && s.pct_start < 1.0) => k.err(
            "training.lr_scheduler.pct_start",
            format!("must be in (0, 1), got {}", s.pct_start),
        ),
        _ => {}
    }
    if !(0.0..=1.0).contains(&s.min_lr_ratio) {
        k.err(
            "training.lr_scheduler.min_lr_ratio",
            format!("must be in [0, 1], got {}", s.min_lr_ratio),
        );
    }
}

/// Optimizer constants and gradient clipping.
fn optimizer(k: &mut Check, t: &TrainingConfig) {
    let o = &t.optimizer;
    if o.betas.iter().any(|b| !(0.0..1.0).contains(b)) {
        k.err(
            "training.optimizer.betas",
            format!(
                "each beta must be in [0, 1), got [{}, {}]",
                o.betas[0], o.betas[1]
            ),
        );
    }
    k.positive_f("training.optimizer.eps", o.eps);
    if o.kind == OptimizerType::Sgd && !(0.0..1.0).contains(&o.momentum) {
        k.err(
            "training.optimizer.momentum",
            format!("must be in [0, 1), got {}", o.momentum),
        );
    }
    if t.max_grad_norm < 0.0 {
        k.err(
            "training.max_grad_norm",
            format!(
                "must be >= 0 (0 disables clipping), got {}",
                t.max_grad_norm
            ),
        );
    }
}

/// Accumulation, logging, checkpoint and evaluation intervals.
fn intervals(k: &mut Check, t: &TrainingConfig) {
    k.positive(
        "training.gradient_accumulation_steps",
        t.gradient_accumulation_steps,
    );
    k.positive("training.batch_shards", t.batch_shards);
    if t.batch_shards > MAX_BATCH_SHARDS {
        k.err(
            "training.batch_shards",
            format!(
                "{} is more than {MAX_BATCH_SHARDS}; use at most one shard per core",
                t.batch_shards
            ),
        );
    }
    k.positive("training.logging_steps", t.logging_steps);
    if t.save_strategy == Strategy::Steps && t.save_steps == 0 {
        k.err(
            "training.save_steps",
            "must be > 0 when training.save_strategy is `steps`",
        );
    }
    if t.eval_strategy == Strategy::Steps && t.eval_steps == Some(0) {
        k.err(
            "training.eval_steps",
            "must be > 0 when training.eval_strategy is `steps`",
        );
    }
    if t.save_total_limit == Some(0) {
        k.err(
            "training.save_total_limit",
            "must be > 0 (leave it unset to keep every checkpoint)",
        );
    }
}

/// Fine-tune mode, LoRA, loss and resume.
fn loss_and_adapters(k: &mut Check, c: &Config) {
    let t = &c.training;
    if t.finetune_mode == FinetuneMode::Lora {
        k.positive("training.lora.rank", t.lora.rank);
        k.positive_f("training.lora.alpha", t.lora.alpha);
    }
    if !(0.0..1.0).contains(&t.lora.dropout) {
        k.err(
            "training.lora.dropout",
            format!("must be in [0, 1), got {}", t.lora.dropout),
        );
    }
    lora_targets(k, &t.lora.target_modules);
    if t.loss == Loss::Huber {
        k.positive_f("training.huber_delta", t.huber_delta);
    }
    if t.loss == Loss::Quantile && c.evaluation.quantiles.is_empty() {
        k.err(
            "training.loss",
            "`quantile` needs quantile levels in evaluation.quantiles",
        );
    }
    if t.resume_from_checkpoint == Resume::Path(String::new()) {
        k.err(
            "training.resume_from_checkpoint",
            "expected `true` (latest checkpoint), `false` or a checkpoint path, got an empty string",
        );
    }
}

/// `training.lora.target_modules`: names that can match a layer, or a regular expression that
/// compiles (whether they match a layer of the model is checked when it loads).
fn lora_targets(k: &mut Check, targets: &LoraTargets) {
    const KEY: &str = "training.lora.target_modules";
    match targets {
        LoraTargets::Names(names) => {
            if let Some(i) = names.iter().position(|n| n.trim().is_empty()) {
                k.err(&format!("{KEY}[{i}]"), "must not be empty");
            }
        }
        LoraTargets::Pattern(p) if p.trim().is_empty() => k.err(
            KEY,
            "must not be empty (leave it out for the model's default layers)",
        ),
        LoraTargets::Pattern(p) => {
            // Python's `re.fullmatch`, as PEFT applies it.
            if let Err(e) = regex::Regex::new(&format!("^(?:{p})$")) {
                let reason = e.to_string();
                let reason = reason.lines().last().unwrap_or_default();
                let reason = reason.strip_prefix("error: ").unwrap_or(reason);
                k.err(
                    KEY,
                    format!("`{p}` is not a valid regular expression: {reason}"),
                );
            }
        }
    }
}

fn best_model(k: &mut Check, c: &Config) {
    let t = &c.training;
    let needs_eval = [
        ("training.load_best_model_at_end", t.load_best_model_at_end),
        ("training.early_stopping.enabled", t.early_stopping.enabled),
    ];
    for (key, on) in needs_eval {
        if on && t.eval_strategy == Strategy::No {
            k.err(
                key,
                "needs evaluation during training: set training.eval_strategy to `steps` or `epoch`",
            );
        }
    }
    let mut needing: Vec<&str> = needs_eval
        .iter()
        .filter(|(_, on)| *on)
        .map(|(key, _)| *key)
        .collect();
    if t.eval_strategy != Strategy::No {
        needing.push("training.eval_strategy");
    }
    let split = &c.data.data_split;
    if !needing.is_empty() && !split.has_validation() {
        let (key, what) = match split.method {
            SplitMethod::Fractions | SplitMethod::Hybrid => {
                ("data.data_split.val", "validation share is empty (val = 0)")
            }
            SplitMethod::Dates => (
                "data.data_split.val_end",
                "no validation period (val_end unset)",
            ),
            SplitMethod::Patients => (
                "data.data_split.val_ids",
                "no validation series (val_ids empty)",
            ),
        };
        k.err(
            key,
            format!("{what} but {} need validation data", needing.join(", ")),
        );
    }
    if t.load_best_model_at_end && t.eval_strategy != Strategy::No {
        if t.save_strategy != t.eval_strategy {
            k.err(
                "training.save_strategy",
                format!(
                    "must match training.eval_strategy (`{}`) when training.load_best_model_at_end is true, got `{}`",
                    strategy_name(t.eval_strategy),
                    strategy_name(t.save_strategy)
                ),
            );
        } else if t.save_strategy == Strategy::Steps {
            let every = t.effective_eval_steps();
            if every > 0 && !t.save_steps.is_multiple_of(every) {
                k.err(
                    "training.save_steps",
                    format!(
                        "must be a multiple of the evaluation interval ({every}) when training.load_best_model_at_end is true, got {}",
                        t.save_steps
                    ),
                );
            }
        }
    }
    if t.load_best_model_at_end || t.early_stopping.enabled {
        let m = t.metric_for_best_model.as_str();
        let name = m.strip_prefix("eval_").unwrap_or(m);
        // The trainer evaluates the validation loss only: any other name would pass here and
        // then stop `tsfm train`.
        if name != "loss" {
            k.err(
                "training.metric_for_best_model",
                format!(
                    "`{m}` is not available: the trainer selects the best checkpoint and stops \
                     early on the validation loss; set `loss`"
                ),
            );
        }
    }
    if t.early_stopping.enabled {
        k.positive(
            "training.early_stopping.patience",
            t.early_stopping.patience,
        );
        k.non_negative_f(
            "training.early_stopping.threshold",
            t.early_stopping.threshold,
        );
    }
}

fn evaluation(k: &mut Check, c: &Config) {
    let e = &c.evaluation;
    if e.metrics.is_empty() {
        k.err("evaluation.metrics", "needs at least one metric");
    }
    for (i, m) in e.metrics.iter().enumerate() {
        if !KNOWN_METRICS.contains(&m.as_str()) {
            let hint = match closest(m, KNOWN_METRICS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known: {}", KNOWN_METRICS.join(", ")),
            };
            k.err(
                &format!("evaluation.metrics[{i}]"),
                format!("unknown metric `{m}`; {hint}"),
            );
        }
    }
    k.positive("evaluation.eval_batch_size", e.eval_batch_size);
    let n = &e.nocturnal;
    if !is_time_of_day(&n.context_end) {
        k.err(
            "evaluation.nocturnal.context_end",
            format!("expected a time of day `HH:MM`, got `{}`", n.context_end),
        );
    }
    k.positive_f("evaluation.nocturnal.horizon_hours", n.horizon_hours);
    let res = u64::from(c.data.resolution_min);
    let reach = c.prediction_length().map(|p| p.saturating_mul(res));
    for (i, &h) in e.horizons_min.iter().enumerate() {
        let key = format!("evaluation.horizons_min[{i}]");
        if h == 0 {
            k.err(&key, "must be > 0");
        } else if res > 0 && !h.is_multiple_of(res) {
            k.err(
                &key,
                format!("{h} is not a multiple of data.resolution_min ({res})"),
            );
        } else if let Some(reach) = reach.filter(|&r| h > r) {
            k.err(
                &key,
                format!(
                    "{h} min is beyond the forecast horizon ({} steps x {res} min = {reach} min)",
                    reach / res.max(1)
                ),
            );
        }
    }
    for (i, &q) in e.quantiles.iter().enumerate() {
        if !(q > 0.0 && q < 1.0) {
            k.err(
                &format!("evaluation.quantiles[{i}]"),
                format!("must be in (0, 1), got {q}"),
            );
        }
    }
    if e.quantiles.windows(2).any(|w| w[0] >= w[1]) {
        k.err(
            "evaluation.quantiles",
            format!("must be strictly increasing, got {:?}", e.quantiles),
        );
    }
}

/// Keys whose other values this version cannot honour: refused by name rather than validated
/// and ignored.
fn not_available(k: &mut Check, c: &Config) {
    if c.model.precision != Precision::Fp32 {
        k.err(
            "model.precision",
            "only `fp32` is available: tsfm computes in 32-bit floats; set model.precision: fp32",
        );
    }
    if c.data.num_workers != 0 {
        k.err(
            "data.num_workers",
            "tsfm prepares windows in-process from its cache (no loader workers); set 0 or remove the key",
        );
    }
    if c.training.gradient_checkpointing {
        k.err(
            "training.gradient_checkpointing",
            "is not available yet (activations are kept for the backward pass); set false",
        );
    }
    if let Some(name) = &c.logging.mlflow_experiment {
        k.err(
            "logging.mlflow_experiment",
            format!(
                "is replaced by logging.mlflow.experiment; write `logging: {{mlflow: {{experiment: {name}}}}}` \
                 (and tracking_uri, or set MLFLOW_TRACKING_URI)"
            ),
        );
    }
    if c.logging.log_file.is_some() {
        k.err(
            "logging.log_file",
            "is not available yet: logs go to stderr (`-v`, `--debug`) and each run keeps logs/train.jsonl; remove the key",
        );
    }
    if c.output.metrics_format != MetricsFormat::Json {
        k.err(
            "output.metrics_format",
            "only `json` is written (metrics.json); set json or remove the key",
        );
    }
}

/// `logging.mlflow`: tsfm speaks MLflow's REST API over plain HTTP (no TLS in this build), so
/// a file store, a database URI or `https://` is refused with what to do instead.
fn tracking(k: &mut Check, c: &Config) {
    let Some(m) = &c.logging.mlflow else {
        return;
    };
    if let Some(uri) = &m.tracking_uri
        && let Err(message) = check_tracking_uri(uri)
    {
        k.err("logging.mlflow.tracking_uri", message);
    }
    for (key, value) in [("experiment", &m.experiment), ("run_name", &m.run_name)] {
        if let Some(v) = value {
            k.non_empty(&format!("logging.mlflow.{key}"), v);
        }
    }
    for name in m.tags.keys() {
        if name.trim().is_empty() {
            k.err("logging.mlflow.tags", "a tag name must not be empty");
        }
    }
}

/// An MLflow tracking URI tsfm can reach: `http://host[:port][/prefix]`. Also used for the
/// `MLFLOW_TRACKING_URI` environment variable.
pub fn check_tracking_uri(uri: &str) -> Result<(), String> {
    let uri = uri.trim();
    if let Some(rest) = uri.strip_prefix("http://") {
        if rest.trim_matches('/').is_empty() {
            return Err(format!("`{uri}` names no host; write http://HOST:PORT"));
        }
        return Ok(());
    }
    if uri.starts_with("https://") {
        return Err(format!(
            "`{uri}`: this build of tsfm has no TLS; reach the server over http, e.g. through an \
             SSH tunnel (`ssh -L 5000:localhost:5000 login-node`, then http://localhost:5000)"
        ));
    }
    Err(format!(
        "`{uri}` is not an http:// address: tsfm logs through an MLflow server's REST API \
         (start one with `mlflow server --port 5000` and give http://HOST:5000), not into a \
         file store or database directly"
    ))
}

/// Known-future covariates: only Chronos-2 reads a covariate's future (its group attention
/// mixes the target with covariate rows whose future is given); every other family would
/// silently use them as past-only, so they are refused by name. A column is either past-only
/// or known-future, never both. Chronos-2 encodes time itself and reads no calendar channels.
fn covariates(k: &mut Check, c: &Config) {
    let d = &c.data;
    let family = c.model.model_type;
    if !d.future_covariates.is_empty() && family != ModelType::Chronos2 {
        k.err(
            "data.future_covariates",
            format!(
                "{} cannot use known-future covariates; move them to data.past_covariates",
                family.as_str()
            ),
        );
    }
    for (i, name) in d.future_covariates.iter().enumerate() {
        if d.past_covariates.contains(name) {
            k.err(
                &format!("data.future_covariates[{i}]"),
                format!(
                    "`{name}` is in data.past_covariates too; a column is either past-only or \
                     known-future: keep it in one list"
                ),
            );
        }
        if d.target_columns.contains(name) {
            k.err(
                &format!("data.future_covariates[{i}]"),
                format!("`{name}` is the forecast target; a target's future is never known"),
            );
        }
    }
    if family == ModelType::Chronos2 && d.features.calendar {
        k.err(
            "data.features.calendar",
            "chronos2 has its own time encoding and reads no calendar channels; set \
             data.features.calendar: false (a time-of-day column can go in \
             data.future_covariates)",
        );
    }
}

fn is_time_of_day(s: &str) -> bool {
    let Some((h, m)) = s.split_once(':') else {
        return false;
    };
    h.len() == 2
        && m.len() == 2
        && h.parse::<u32>().is_ok_and(|h| h < 24)
        && m.parse::<u32>().is_ok_and(|m| m < 60)
}
