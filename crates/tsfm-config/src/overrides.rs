//! Command-line overrides: `--set a.b.c=value` and the named flags (`--batch-size 64`, ...).
//! Text values are typed by the schema when applied, so `5e-5` becomes a float for
//! `training.learning_rate` and `[30,60]` a list of integers for `evaluation.horizons_min`.

use yaml_serde::{Mapping, Value};

use crate::error::{ConfigError, ConfigErrors};
use crate::schema;
use crate::sources::Sources;

/// One change to the merged tree, applied after all files, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Override {
    /// Dotted key path, e.g. `training.learning_rate`.
    pub key: String,
    pub value: OverrideValue,
    /// Reported as the origin of the key: `--set` or the flag, e.g. `--batch-size`.
    pub origin: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OverrideValue {
    /// Command-line text, typed by the schema type at `key`.
    Text(String),
    /// An already typed value.
    Yaml(Value),
}

impl Override {
    /// An override of `key` with command-line text, reported as coming from `--set`.
    pub fn set(key: impl Into<String>, text: impl Into<String>) -> Override {
        Override {
            key: key.into(),
            value: OverrideValue::Text(text.into()),
            origin: "--set".into(),
        }
    }

    /// Parses the argument of `--set`: `a.b.c=value` (the value may contain `=`; an empty value
    /// is the empty string).
    pub fn parse_set(arg: &str) -> Result<Override, ConfigError> {
        let bad = |why: &str| {
            ConfigError::new(
                "",
                "--set",
                format!("`{arg}`: {why}; expected KEY=VALUE, e.g. training.learning_rate=5e-5"),
            )
        };
        let (key, value) = arg.split_once('=').ok_or_else(|| bad("no `=`"))?;
        let key = key.trim();
        if key.is_empty() || key.split('.').any(str::is_empty) {
            return Err(bad("empty key"));
        }
        Ok(Override::set(key, value))
    }

    /// The overrides a named flag stands for (`--data-split` sets several keys).
    pub fn named(flag: NamedFlag, value: &str) -> Result<Vec<Override>, ConfigError> {
        let one = |v: OverrideValue| {
            vec![Override {
                key: flag.key().to_string(),
                value: v,
                origin: flag.flag().to_string(),
            }]
        };
        match flag {
            NamedFlag::DataSplit => data_split(value),
            NamedFlag::Debug => Ok(one(OverrideValue::Yaml(Value::Bool(true)))),
            _ => Ok(one(OverrideValue::Text(value.to_string()))),
        }
    }
}

/// `--data-split 0.7,0.15,0.15` (train,val,test) or `0.8,0.2` (train,val; no test):
/// switches the split to fractions.
fn data_split(text: &str) -> Result<Vec<Override>, ConfigError> {
    let origin = NamedFlag::DataSplit.flag();
    let bad = || {
        ConfigError::new(
            "data.data_split",
            origin,
            format!(
                "expected fractions `train,val,test` such as `0.7,0.15,0.15` (or `train,val`), got `{text}`"
            ),
        )
    };
    let parts: Vec<f64> = text
        .split(',')
        .map(|p| p.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let (train, val, test) = match parts[..] {
        [a, b, c] => (a, b, c),
        [a, b] => (a, b, 0.0),
        _ => return Err(bad()),
    };
    let ov = |k: &str, v: Value| Override {
        key: format!("data.data_split.{k}"),
        value: OverrideValue::Yaml(v),
        origin: origin.to_string(),
    };
    Ok(vec![
        ov("method", Value::String("fractions".into())),
        ov("train", Value::Number(train.into())),
        ov("val", Value::Number(val.into())),
        ov("test", Value::Number(test.into())),
    ])
}

/// The command-line flags that stand for a config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamedFlag {
    ModelPath,
    Device,
    BatchSize,
    LearningRate,
    NumEpochs,
    /// Value `true`/`latest` (the latest checkpoint), `false`, or a checkpoint path.
    Resume,
    DataSource,
    /// `train,val,test` fractions.
    DataSplit,
    /// Takes no value; sets `logging.debug_mode: true`.
    Debug,
}

impl NamedFlag {
    pub const ALL: [NamedFlag; 9] = [
        NamedFlag::ModelPath,
        NamedFlag::Device,
        NamedFlag::BatchSize,
        NamedFlag::LearningRate,
        NamedFlag::NumEpochs,
        NamedFlag::Resume,
        NamedFlag::DataSource,
        NamedFlag::DataSplit,
        NamedFlag::Debug,
    ];

    /// The flag as typed, e.g. `--batch-size`.
    pub fn flag(self) -> &'static str {
        match self {
            NamedFlag::ModelPath => "--model-path",
            NamedFlag::Device => "--device",
            NamedFlag::BatchSize => "--batch-size",
            NamedFlag::LearningRate => "--learning-rate",
            NamedFlag::NumEpochs => "--num-epochs",
            NamedFlag::Resume => "--resume",
            NamedFlag::DataSource => "--data-source",
            NamedFlag::DataSplit => "--data-split",
            NamedFlag::Debug => "--debug",
        }
    }

    /// The key it sets (`--data-split` sets the keys below this one).
    pub fn key(self) -> &'static str {
        match self {
            NamedFlag::ModelPath => "model.model_path",
            NamedFlag::Device => "model.device",
            NamedFlag::BatchSize => "data.batch_size",
            NamedFlag::LearningRate => "training.learning_rate",
            NamedFlag::NumEpochs => "training.num_epochs",
            NamedFlag::Resume => "training.resume_from_checkpoint",
            NamedFlag::DataSource => "data.source_name",
            NamedFlag::DataSplit => "data.data_split",
            NamedFlag::Debug => "logging.debug_mode",
        }
    }
}

/// The named flags as the CLI parsed them (`None`/`false`: not given). Mirrors the CLI's
/// `ConfigArgs` so it can be filled field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamedOverrides {
    pub model_path: Option<String>,
    pub device: Option<String>,
    pub batch_size: Option<String>,
    pub learning_rate: Option<String>,
    pub num_epochs: Option<String>,
    /// `Some("true")` for a bare `--resume`.
    pub resume: Option<String>,
    pub data_source: Option<String>,
    pub data_split: Option<String>,
    pub debug: bool,
}

impl NamedOverrides {
    /// The overrides these flags stand for, in `NamedFlag::ALL` order.
    pub fn to_overrides(&self) -> Result<Vec<Override>, ConfigErrors> {
        let given: [(NamedFlag, Option<&str>); 9] = [
            (NamedFlag::ModelPath, self.model_path.as_deref()),
            (NamedFlag::Device, self.device.as_deref()),
            (NamedFlag::BatchSize, self.batch_size.as_deref()),
            (NamedFlag::LearningRate, self.learning_rate.as_deref()),
            (NamedFlag::NumEpochs, self.num_epochs.as_deref()),
            (NamedFlag::Resume, self.resume.as_deref()),
            (NamedFlag::DataSource, self.data_source.as_deref()),
            (NamedFlag::DataSplit, self.data_split.as_deref()),
            (NamedFlag::Debug, self.debug.then_some("true")),
        ];
        let mut out = Vec::new();
        let mut errors = ConfigErrors::default();
        for (flag, value) in given {
            if let Some(v) = value {
                match Override::named(flag, v) {
                    Ok(mut o) => out.append(&mut o),
                    Err(e) => errors.push(e),
                }
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

/// All overrides of one command line: the named flags first, then every `--set` in order (so a
/// `--set` of the same key wins). Reports every malformed argument at once.
pub fn collect_overrides(
    named: &NamedOverrides,
    sets: &[String],
) -> Result<Vec<Override>, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut out = named.to_overrides().unwrap_or_else(|e| {
        errors.0.extend(e);
        Vec::new()
    });
    for s in sets {
        match Override::parse_set(s) {
            Ok(o) => out.push(o),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Applies `ov` to the merged tree, typing text by the schema.
pub(crate) fn apply(
    tree: &mut Value,
    sources: &mut Sources,
    ov: &Override,
    errors: &mut ConfigErrors,
) {
    let path: Vec<&str> = ov.key.split('.').collect();
    let value = match &ov.value {
        OverrideValue::Yaml(v) => v.clone(),
        OverrideValue::Text(t) => match schema::parse_text(schema::lookup(&path), t) {
            Ok(v) => v,
            Err(message) => {
                errors.push(ConfigError::new(&ov.key, &ov.origin, message));
                return;
            }
        },
    };
    let mut node = tree;
    for (i, seg) in path.iter().enumerate() {
        if node.is_null() {
            *node = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = node else {
            let parent = path[..i].join(".");
            errors.push(ConfigError::new(
                &ov.key,
                &ov.origin,
                format!("cannot set a key below `{parent}`: it is not a mapping"),
            ));
            return;
        };
        node = m
            .entry(Value::String(seg.to_string()))
            .or_insert(Value::Null);
    }
    sources.replace(&ov.key, &value, &ov.origin);
    *node = value;
}
