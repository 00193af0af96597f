//! The schema of the YAML tree: which keys exist, their types, which are required.
//!
//! serde's `deny_unknown_fields` stops at the first problem; checking the merged tree against this
//! schema first finds *every* unknown key (with a suggestion) and every bad type, drops the bad
//! parts, and hands serde a tree it can always deserialise. It also types `--set` values: the
//! text `5e-5` becomes a float for a float key and stays text for a string key.

use std::sync::OnceLock;

use yaml_serde::{Mapping, Value};

use crate::config::Device;
use crate::error::{ConfigError, ConfigErrors};
use crate::sources::{Sources, join, key_text};
use crate::suggest::closest;

/// Type of one node.
#[derive(Debug)]
pub(crate) enum Ty {
    Bool,
    /// A non-negative integer.
    UInt,
    /// Any number; integers are converted to floats.
    Float,
    /// Text; numbers are accepted as text (ids such as `559` are often written bare).
    Str,
    Enum(&'static [&'static str]),
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    Device,
    List(Box<Ty>),
    /// A list of exactly this many items.
    Tuple(usize, Box<Ty>),
    /// One string or a list of strings (PEFT's `target_modules`).
    StrOrList,
    Struct(Vec<Field>),
    /// A mapping with free keys and typed values.
    MapOf(Box<Ty>),
    /// Anything (model-specific blocks, checked by the model).
    Any,
    /// The inner type or null.
    Opt(Box<Ty>),
    /// `false`, `true` or a path.
    Resume,
}

#[derive(Debug)]
pub(crate) struct Field {
    pub name: &'static str,
    pub ty: Ty,
    pub required: bool,
}

fn f(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: false,
    }
}

fn req(name: &'static str, ty: Ty) -> Field {
    Field {
        name,
        ty,
        required: true,
    }
}

fn opt(ty: Ty) -> Ty {
    Ty::Opt(Box::new(ty))
}

fn list(ty: Ty) -> Ty {
    Ty::List(Box::new(ty))
}

pub const MODEL_TYPES: &[&str] = &["ttm", "chronos", "chronos_bolt", "chronos2", "timesfm"];
pub const DATA_SOURCES: &[&str] = &["bris_t1d", "aleppo", "csv", "parquet"];
const PRECISIONS: &[&str] = &["fp32", "bf16", "fp16"];
const UNITS: &[&str] = &["mmol/L", "mg/dL"];
const RESAMPLE: &[&str] = &["resample", "keep", "drop"];
const SPLIT_METHODS: &[&str] = &["fractions", "dates", "patients", "hybrid"];
const SPLIT_UNITS: &[&str] = &["time", "series"];
const IMPUTE: &[&str] = &["linear", "ffill", "zero", "constant", "mean"];
const SCALING: &[&str] = &["standard", "minmax", "none"];
const SCOPES: &[&str] = &["global", "per_series"];
const SCHEDULERS: &[&str] = &["constant", "linear", "cosine", "exponential", "one_cycle"];
const OPTIMIZERS: &[&str] = &["adamw", "adam", "sgd"];
const STRATEGIES: &[&str] = &["no", "steps", "epoch"];
const FINETUNE: &[&str] = &["full", "frozen_backbone", "head_only", "lora"];
const LORA_SAVE: &[&str] = &["merged", "adapter"];
const LOSSES: &[&str] = &["mse", "mae", "huber", "quantile", "native"];
const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
const FORMATS: &[&str] = &["json", "yaml", "csv"];

/// The schema of a whole experiment (the `defaults:` key is consumed by composition first).
pub(crate) fn root() -> &'static Ty {
    static ROOT: OnceLock<Ty> = OnceLock::new();
    ROOT.get_or_init(build)
}

fn build() -> Ty {
    Ty::Struct(vec![
        req("model", model()),
        req("data", data()),
        f("training", training()),
        f("evaluation", evaluation()),
        f("logging", logging()),
        f("output", output()),
    ])
}

fn model() -> Ty {
    use Ty::*;
    Struct(vec![
        req("model_type", Enum(MODEL_TYPES)),
        req("model_path", Str),
        f("revision", opt(Str)),
        f("device", Device),
        f("precision", Enum(PRECISIONS)),
        f("params", MapOf(Box::new(Any))),
    ])
}

fn data_split() -> Ty {
    use Ty::*;
    Struct(vec![
        f("method", Enum(SPLIT_METHODS)),
        f("unit", Enum(SPLIT_UNITS)),
        f("train", Float),
        f("val", Float),
        f("test", Float),
        f("train_end", opt(Str)),
        f("val_end", opt(Str)),
        f("val_ids", list(Str)),
        f("test_ids", list(Str)),
        f("seed", UInt),
    ])
}

fn imputation() -> Ty {
    use Ty::*;
    Struct(vec![
        f("strategy", Enum(IMPUTE)),
        f("columns", MapOf(Box::new(Enum(IMPUTE)))),
        f("fill_value", opt(Float)),
        f("max_gap_minutes", Float),
    ])
}

fn features() -> Ty {
    use Ty::*;
    Struct(vec![
        f("iob", Bool),
        f("cob", Bool),
        f("insulin_action_hours", Float),
        f("carb_absorption_hours", Float),
        f("calendar", Bool),
        f("day_of_week", Bool),
    ])
}

fn data() -> Ty {
    use Ty::*;
    Struct(vec![
        req("source_name", Str),
        req("source", Enum(DATA_SOURCES)),
        req("raw_path", Str),
        f("cache_dir", Str),
        f("resolution_min", UInt),
        f("resample", Enum(RESAMPLE)),
        f("unit", opt(Enum(UNITS))),
        f("target_columns", list(Str)),
        f("past_covariates", list(Str)),
        f("future_covariates", list(Str)),
        f("id_column", opt(Str)),
        f("timestamp_column", opt(Str)),
        f("batch_size", UInt),
        f("num_workers", UInt),
        f("context_length", opt(UInt)),
        f("stride", UInt),
        f("data_split", data_split()),
        f("imputation", imputation()),
        f("scaling", scaling()),
        f("features", features()),
    ])
}

fn scaling() -> Ty {
    use Ty::*;
    Struct(vec![f("method", Enum(SCALING)), f("scope", Enum(SCOPES))])
}

fn lr_scheduler() -> Ty {
    use Ty::*;
    Struct(vec![
        f("type", Enum(SCHEDULERS)),
        f("gamma", Float),
        f("num_cycles", Float),
        f("pct_start", Float),
        f("min_lr_ratio", Float),
    ])
}

fn optimizer() -> Ty {
    use Ty::*;
    Struct(vec![
        f("type", Enum(OPTIMIZERS)),
        f("betas", Tuple(2, Box::new(Float))),
        f("eps", Float),
        f("momentum", Float),
    ])
}

fn early_stopping() -> Ty {
    use Ty::*;
    Struct(vec![
        f("enabled", Bool),
        f("patience", UInt),
        f("threshold", Float),
    ])
}

fn lora() -> Ty {
    use Ty::*;
    Struct(vec![
        f("rank", UInt),
        f("alpha", Float),
        f("dropout", Float),
        f("target_modules", StrOrList),
        f("use_rslora", Bool),
        f("save", Enum(LORA_SAVE)),
    ])
}

fn training() -> Ty {
    use Ty::*;
    Struct(vec![
        f("num_epochs", opt(UInt)),
        f("max_steps", opt(UInt)),
        f("learning_rate", Float),
        f("weight_decay", Float),
        f("warmup_steps", UInt),
        f("warmup_ratio", Float),
        f("lr_scheduler", lr_scheduler()),
        f("optimizer", optimizer()),
        f("max_grad_norm", Float),
        f("gradient_accumulation_steps", UInt),
        f("batch_shards", UInt),
        f("save_strategy", Enum(STRATEGIES)),
        f("save_steps", UInt),
        f("eval_strategy", Enum(STRATEGIES)),
        f("eval_steps", opt(UInt)),
        f("logging_steps", UInt),
        f("save_total_limit", opt(UInt)),
        f("load_best_model_at_end", Bool),
        f("metric_for_best_model", Str),
        f("greater_is_better", opt(Bool)),
        f("early_stopping", early_stopping()),
        f("finetune_mode", Enum(FINETUNE)),
        f("lora", lora()),
        f("loss", Enum(LOSSES)),
        f("huber_delta", Float),
        f("seed", UInt),
        f("resume_from_checkpoint", Resume),
        f("gradient_checkpointing", Bool),
    ])
}

fn nocturnal() -> Ty {
    use Ty::*;
    Struct(vec![
        f("enabled", Bool),
        f("context_end", Str),
        f("horizon_hours", Float),
    ])
}

fn evaluation() -> Ty {
    use Ty::*;
    Struct(vec![
        f("metrics", list(Str)),
        f("eval_batch_size", UInt),
        f("save_predictions", Bool),
        f("nocturnal", nocturnal()),
        f("horizons_min", list(UInt)),
        f("quantiles", list(Float)),
    ])
}

fn logging() -> Ty {
    use Ty::*;
    Struct(vec![
        f("level", Enum(LEVELS)),
        f("debug_mode", Bool),
        f("log_file", opt(Str)),
        f("mlflow_experiment", opt(Str)),
        f("mlflow", opt(mlflow())),
        f("tensorboard", Bool),
    ])
}

fn mlflow() -> Ty {
    use Ty::*;
    Struct(vec![
        f("tracking_uri", opt(Str)),
        f("experiment", opt(Str)),
        f("run_name", opt(Str)),
        f("tags", MapOf(Box::new(Str))),
        f("log_model", Bool),
    ])
}

fn output() -> Ty {
    use Ty::*;
    Struct(vec![
        f("save_dir", Str),
        f("experiment_name", opt(Str)),
        f("save_metrics", Bool),
        f("save_model", Bool),
        f("metrics_format", Enum(FORMATS)),
    ])
}

/// The type at a dotted path, if the schema has one there.
pub(crate) fn lookup(path: &[&str]) -> Option<&'static Ty> {
    let mut ty = root();
    for seg in path {
        ty = match strip_opt(ty) {
            Ty::Struct(fields) => &fields.iter().find(|f| f.name == *seg)?.ty,
            Ty::MapOf(inner) => inner,
            Ty::Any => return Some(ty),
            _ => return None,
        };
    }
    Some(ty)
}

fn strip_opt(ty: &Ty) -> &Ty {
    match ty {
        Ty::Opt(inner) => strip_opt(inner),
        other => other,
    }
}

/// Every key path of the schema (mapping entries only), for "did you mean `data.batch_size`".
pub(crate) fn all_paths() -> &'static [(String, &'static str)] {
    static PATHS: OnceLock<Vec<(String, &'static str)>> = OnceLock::new();
    PATHS.get_or_init(|| {
        let mut out = Vec::new();
        fn walk(ty: &Ty, prefix: &str, out: &mut Vec<(String, &'static str)>) {
            if let Ty::Struct(fields) = strip_opt(ty) {
                for f in fields {
                    let p = join(prefix, f.name);
                    out.push((p.clone(), f.name));
                    walk(&f.ty, &p, out);
                }
            }
        }
        walk(root(), "", &mut out);
        out
    })
}

impl Ty {
    /// "expected ..." wording.
    fn describe(&self) -> String {
        match self {
            Ty::Bool => "a boolean (true or false)".into(),
            Ty::UInt => "a non-negative integer".into(),
            Ty::Float => "a number".into(),
            Ty::Str => "a string".into(),
            Ty::Enum(options) => format!("one of {}", quote_list(options)),
            Ty::Device => "`auto`, `cpu`, `cuda` or `cuda:N`".into(),
            Ty::List(_) => "a list".into(),
            Ty::Tuple(n, inner) => format!("a list of {n} items, each {}", inner.describe()),
            Ty::StrOrList => "a string or a list of strings".into(),
            Ty::Struct(_) | Ty::MapOf(_) => "a mapping".into(),
            Ty::Any => "any value".into(),
            Ty::Opt(inner) => format!("{} or null", inner.describe()),
            Ty::Resume => "`true` (latest checkpoint), `false` or a checkpoint path".into(),
        }
    }
}

pub(crate) fn quote_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|o| format!("`{o}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A value as a message shows it.
pub(crate) fn show(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("`{n}`"),
        Value::String(s) => format!("the string `{s}`"),
        Value::Sequence(_) => "a list".into(),
        Value::Mapping(_) => "a mapping".into(),
        Value::Tagged(t) => format!("a value tagged `{}`", t.tag),
    }
}

/// Walks a tree against the schema, collecting every problem.
pub(crate) struct Checker<'a> {
    pub sources: &'a Sources,
    pub errors: &'a mut ConfigErrors,
    /// Off when composition already failed: missing keys would only echo a missing file.
    pub check_required: bool,
}

impl Checker<'_> {
    fn error(&mut self, key: &str, message: String) {
        let origin = self.sources.origin(key);
        self.errors.push(ConfigError::new(key, origin, message));
    }

    /// Checks `value` at `key` against `ty`; returns the value to deserialise (converted where
    /// the schema allows, e.g. an integer for a float key), or `None` to drop it.
    pub fn check(&mut self, ty: &Ty, key: &str, value: Value) -> Option<Value> {
        let mismatch = |this: &mut Self, v: &Value| {
            this.error(key, format!("expected {}, got {}", ty.describe(), show(v)));
            None
        };
        match (ty, value) {
            (Ty::Opt(_), Value::Null) => Some(Value::Null),
            (Ty::Opt(inner), v) => self.check(inner, key, v),
            (Ty::Any, v) => Some(v),
            (Ty::Bool, v @ Value::Bool(_)) => Some(v),
            (Ty::UInt, Value::Number(n)) if n.is_u64() => Some(Value::Number(n)),
            (Ty::Float, Value::Number(n)) => match n.as_f64() {
                Some(x) if x.is_finite() => Some(Value::Number(x.into())),
                _ => mismatch(self, &Value::Number(n)),
            },
            (Ty::Str, v @ Value::String(_)) => Some(v),
            (Ty::Str, Value::Number(n)) => Some(Value::String(n.to_string())),
            (Ty::Enum(options), Value::String(s)) => {
                if options.contains(&s.as_str()) {
                    Some(Value::String(s))
                } else {
                    let hint = match closest(&s, options.iter().copied()) {
                        Some(c) => format!("; did you mean `{c}`?"),
                        None => String::new(),
                    };
                    self.error(
                        key,
                        format!("expected one of {}, got `{s}`{hint}", quote_list(options)),
                    );
                    None
                }
            }
            (Ty::Device, Value::String(s)) if Device::parse(&s).is_some() => Some(Value::String(s)),
            (Ty::Resume, v @ (Value::Bool(_) | Value::String(_))) => Some(v),
            (Ty::Resume, Value::Null) => Some(Value::Bool(false)),
            (Ty::List(inner), Value::Sequence(items)) => self.check_items(inner, key, items),
            (Ty::StrOrList, v @ Value::String(_)) => Some(v),
            (Ty::StrOrList, Value::Sequence(items)) => self.check_items(&Ty::Str, key, items),
            (Ty::Tuple(n, inner), Value::Sequence(items)) => {
                if items.len() != *n {
                    self.error(
                        key,
                        format!("expected {}, got {} items", ty.describe(), items.len()),
                    );
                    return None;
                }
                self.check_items(inner, key, items)
            }
            (Ty::Struct(fields), Value::Null) => self.check_struct(fields, key, Mapping::new()),
            (Ty::Struct(fields), Value::Mapping(m)) => self.check_struct(fields, key, m),
            (Ty::MapOf(_), Value::Null) => Some(Value::Mapping(Mapping::new())),
            (Ty::MapOf(inner), Value::Mapping(m)) => {
                let mut out = Mapping::new();
                for (k, v) in m {
                    let Some(name) = k.as_str().map(str::to_string) else {
                        self.error(
                            &join(key, &key_text(&k)),
                            "keys must be strings".to_string(),
                        );
                        continue;
                    };
                    if let Some(v) = self.check(inner, &join(key, &name), v) {
                        out.insert(Value::String(name), v);
                    }
                }
                Some(Value::Mapping(out))
            }
            (_, v) => mismatch(self, &v),
        }
    }

    /// Checks every item; the list is dropped if any item is bad.
    fn check_items(&mut self, inner: &Ty, key: &str, items: Vec<Value>) -> Option<Value> {
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.into_iter().enumerate() {
            match self.check(inner, &format!("{key}[{i}]"), item) {
                Some(v) => out.push(v),
                None => ok = false,
            }
        }
        ok.then_some(Value::Sequence(out))
    }

    fn check_struct(&mut self, fields: &[Field], key: &str, m: Mapping) -> Option<Value> {
        // Schema order, unknown keys last: problems are listed section by section.
        let rank = |k: &Value| {
            fields
                .iter()
                .position(|f| Some(f.name) == k.as_str())
                .unwrap_or(fields.len())
        };
        let mut entries: Vec<(Value, Value)> = m.into_iter().collect();
        entries.sort_by_key(|(k, _)| rank(k));
        let mut out = Mapping::new();
        for (k, v) in entries {
            let name = key_text(&k);
            let path = join(key, &name);
            match fields.iter().find(|f| Some(f.name) == k.as_str()) {
                Some(field) => {
                    if let Some(v) = self.check(&field.ty, &path, v) {
                        out.insert(Value::String(name), v);
                    }
                }
                None => {
                    let message = unknown_key_message(&name, fields);
                    self.error(&path, message);
                }
            }
        }
        for field in fields.iter().filter(|f| f.required && self.check_required) {
            if !out.contains_key(field.name) && !self.errors.touches(&join(key, field.name)) {
                let path = join(key, field.name);
                self.errors.push(ConfigError::new(
                    path,
                    self.sources.origin(key),
                    "required key is missing",
                ));
            }
        }
        Some(Value::Mapping(out))
    }
}

/// "unknown key" with the most helpful hint: a near miss among the siblings, else the same name
/// elsewhere in the schema, else the list of keys allowed here.
fn unknown_key_message(name: &str, fields: &[Field]) -> String {
    if let Some(c) = closest(name, fields.iter().map(|f| f.name)) {
        return format!("unknown key; did you mean `{c}`?");
    }
    if let Some((path, _)) = all_paths().iter().find(|(_, n)| *n == name) {
        return format!("unknown key here; did you mean `{path}`?");
    }
    let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
    format!("unknown key; expected one of {}", quote_list(&names))
}

/// Types the text of a `--set` value by the schema type at its key (`None`: not in the schema,
/// parsed as YAML so the schema check can report the unknown key).
pub(crate) fn parse_text(ty: Option<&Ty>, text: &str) -> Result<Value, String> {
    let t = text.trim();
    let Some(ty) = ty else {
        return Ok(parse_yaml_scalar(t));
    };
    let expected = || format!("expected {}, got `{t}`", ty.describe());
    match ty {
        Ty::Opt(inner) => {
            if is_null(t) {
                Ok(Value::Null)
            } else {
                parse_text(Some(inner), t).map_err(|_| expected())
            }
        }
        Ty::Bool => parse_bool(t).map(Value::Bool).ok_or_else(expected),
        Ty::UInt => t
            .parse::<u64>()
            .map(|n| Value::Number(n.into()))
            .map_err(|_| expected()),
        Ty::Float => match t.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Value::Number(x.into())),
            _ => Err(expected()),
        },
        Ty::Str | Ty::Enum(_) | Ty::Device => Ok(Value::String(unquote(t).to_string())),
        Ty::Resume => Ok(match parse_bool(t) {
            Some(b) => Value::Bool(b),
            None if t.eq_ignore_ascii_case("latest") => Value::Bool(true),
            None => Value::String(unquote(t).to_string()),
        }),
        // `[a, b]` is a list; anything else one string.
        Ty::StrOrList if t.starts_with('[') => parse_text(Some(&Ty::List(Box::new(Ty::Str))), t),
        Ty::StrOrList => Ok(Value::String(unquote(t).to_string())),
        Ty::List(inner) | Ty::Tuple(_, inner) => {
            let body = t
                .strip_prefix('[')
                .and_then(|b| b.strip_suffix(']'))
                .unwrap_or(t)
                .trim();
            if body.is_empty() {
                return Ok(Value::Sequence(Vec::new()));
            }
            body.split(',')
                .map(|item| parse_text(Some(inner), item))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Sequence)
        }
        Ty::Struct(_) | Ty::MapOf(_) | Ty::Any => {
            yaml_serde::from_str(t).map_err(|e| format!("invalid YAML value `{t}`: {e}"))
        }
    }
}

fn is_null(t: &str) -> bool {
    t == "~" || t.eq_ignore_ascii_case("null") || t.eq_ignore_ascii_case("none")
}

fn parse_bool(t: &str) -> Option<bool> {
    match t.to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Some(true),
        "false" | "no" | "off" | "0" => Some(false),
        _ => None,
    }
}

fn unquote(t: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = t.strip_prefix(q).and_then(|s| s.strip_suffix(q)) {
            return inner;
        }
    }
    t
}

fn parse_yaml_scalar(t: &str) -> Value {
    yaml_serde::from_str(t).unwrap_or_else(|_| Value::String(t.to_string()))
}
