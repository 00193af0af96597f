//! The typed configuration: one struct per section, as the rest of tsfm reads it.
//!
//! Every field has a default (`Default` impls below), so a partially written YAML file still
//! deserialises; which keys are *required* is decided by the schema (`schema.rs`), which checks
//! the merged YAML tree before it reaches serde. Defaults follow HuggingFace `TrainingArguments`
//! where an equivalent exists (learning rate 5e-5, AdamW betas 0.9/0.999, eps 1e-8, weight decay
//! 0, max_grad_norm 1.0, logging/save steps 500, seed 42, linear schedule).
//!
//! Keep the field names here, the schema in `schema.rs` and the shipped YAML files in step: the
//! crate's tests serialise a default `Config` and check it against the schema.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A fully resolved experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Config {
    pub model: ModelConfig,
    pub data: DataConfig,
    pub training: TrainingConfig,
    pub evaluation: EvaluationConfig,
    pub logging: LoggingConfig,
    pub output: OutputConfig,
}

impl Config {
    /// Context window length in time steps: `data.context_length` when set, else the model's
    /// `model.params.context_length`.
    pub fn context_length(&self) -> Option<u64> {
        self.data
            .context_length
            .or_else(|| self.model.param_u64("context_length"))
    }

    /// Forecast horizon in time steps, from `model.params.prediction_length`.
    pub fn prediction_length(&self) -> Option<u64> {
        self.model.param_u64("prediction_length")
    }
}

// ---------------------------------------------------------------------------------------------
// model

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ModelType {
    #[default]
    Ttm,
    Chronos,
    ChronosBolt,
    Chronos2,
    Timesfm,
}

impl ModelType {
    pub fn as_str(self) -> &'static str {
        match self {
            ModelType::Ttm => "ttm",
            ModelType::Chronos => "chronos",
            ModelType::ChronosBolt => "chronos_bolt",
            ModelType::Chronos2 => "chronos2",
            ModelType::Timesfm => "timesfm",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
    Fp16,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ModelConfig {
    pub model_type: ModelType,
    /// A local checkpoint directory or a HuggingFace hub id (`ibm-granite/granite-timeseries-ttm-r2`).
    pub model_path: String,
    /// Hub revision (branch, tag or commit) when `model_path` is a hub id.
    pub revision: Option<String>,
    /// `auto`, `cpu`, `cuda` or `cuda:N`.
    pub device: Device,
    pub precision: Precision,
    /// Model-specific settings (e.g. `context_length`, `prediction_length`), validated by the
    /// model itself; the config crate only checks the generic ones.
    pub params: yaml_serde::Mapping,
}

impl ModelConfig {
    /// A non-negative integer from `params`, if present and of that type.
    pub fn param_u64(&self, key: &str) -> Option<u64> {
        self.params.get(key).and_then(yaml_serde::Value::as_u64)
    }
}

/// Where tensors live. Stored as text in YAML (`auto`, `cpu`, `cuda`, `cuda:1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    #[default]
    Auto,
    Cpu,
    /// `cuda` is `Cuda(0)`.
    Cuda(u32),
}

impl Device {
    /// Parses `auto`, `cpu`, `cuda` or `cuda:N`.
    pub fn parse(text: &str) -> Option<Device> {
        match text {
            "auto" => Some(Device::Auto),
            "cpu" => Some(Device::Cpu),
            "cuda" => Some(Device::Cuda(0)),
            _ => text
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda),
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Auto => f.write_str("auto"),
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(0) => f.write_str("cuda"),
            Device::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl Serialize for Device {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Device {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Device::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "expected `auto`, `cpu`, `cuda` or `cuda:N`, got `{text}`"
            ))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// data

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DataSource {
    #[default]
    BrisT1d,
    Aleppo,
    Csv,
    Parquet,
}

impl DataSource {
    pub fn as_str(self) -> &'static str {
        match self {
            DataSource::BrisT1d => "bris_t1d",
            DataSource::Aleppo => "aleppo",
            DataSource::Csv => "csv",
            DataSource::Parquet => "parquet",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GlucoseUnit {
    #[serde(rename = "mmol/L")]
    MmolL,
    #[serde(rename = "mg/dL")]
    MgDl,
}

/// `data.resample`: a series at another interval than `data.resolution_min` is put on the
/// grid (glucose interpolated between consecutive readings, events summed into their slot,
/// levels carried forward), kept at its own interval, or dropped with a warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ResamplePolicy {
    #[default]
    Resample,
    Keep,
    Drop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataConfig {
    /// Dataset name: the cache folder `{cache_dir}/{source_name}/` and the name in reports.
    pub source_name: String,
    /// Which loader reads `raw_path`.
    pub source: DataSource,
    /// Raw input: a file (BrisT1D `train.csv`, a CSV/Parquet file) or a folder (Aleppo's `Data Tables/`).
    pub raw_path: String,
    pub cache_dir: String,
    /// Sampling interval of the regular grid, in minutes.
    pub resolution_min: u32,
    /// What happens to a series sampled at another interval than `resolution_min`.
    pub resample: ResamplePolicy,
    /// Unit of the raw glucose values when the source's own convention does not apply.
    pub unit: Option<GlucoseUnit>,
    /// Columns to forecast; the first is the main target.
    pub target_columns: Vec<String>,
    /// Known only up to the forecast origin (e.g. insulin, carbs, heart rate).
    pub past_covariates: Vec<String>,
    /// Known over the forecast horizon too (e.g. calendar features).
    pub future_covariates: Vec<String>,
    /// Series id column, for `csv`/`parquet` (absent: one series).
    pub id_column: Option<String>,
    /// Timestamp column, for `csv`/`parquet`.
    pub timestamp_column: Option<String>,
    pub batch_size: u64,
    pub num_workers: u64,
    /// Context window length in steps; absent: the model's `params.context_length`.
    pub context_length: Option<u64>,
    /// Steps between consecutive training windows.
    pub stride: u64,
    pub data_split: DataSplit,
    pub imputation: Imputation,
    pub scaling: Scaling,
    pub features: Features,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            source_name: String::new(),
            source: DataSource::default(),
            raw_path: String::new(),
            cache_dir: "cache/data".into(),
            resolution_min: 5,
            resample: ResamplePolicy::default(),
            unit: None,
            target_columns: vec!["bg".into()],
            past_covariates: Vec::new(),
            future_covariates: Vec::new(),
            id_column: None,
            timestamp_column: None,
            batch_size: 8,
            num_workers: 0,
            context_length: None,
            stride: 1,
            data_split: DataSplit::default(),
            imputation: Imputation::default(),
            scaling: Scaling::default(),
            features: Features::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SplitMethod {
    /// `train`/`val`/`test` fractions (of each series' time span, or of the series).
    #[default]
    Fractions,
    /// Calendar cut points `train_end` and `val_end`.
    Dates,
    /// Whole series held out: `val_ids` and `test_ids`, the rest train.
    Patients,
    /// `test_ids` held out whole; the other series split over time by `train`/`val`/`test`.
    Hybrid,
}

/// What the fractions divide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SplitUnit {
    /// Each series' time axis, chronologically (no leakage from the future).
    #[default]
    Time,
    /// Whole series, shuffled with `seed`.
    Series,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DataSplit {
    pub method: SplitMethod,
    pub unit: SplitUnit,
    pub train: f64,
    pub val: f64,
    pub test: f64,
    /// `dates`: end of the training period (exclusive), `YYYY-MM-DD[ HH:MM[:SS]]`.
    pub train_end: Option<String>,
    /// `dates`: end of the validation period (exclusive); the test period follows.
    pub val_end: Option<String>,
    pub val_ids: Vec<String>,
    pub test_ids: Vec<String>,
    pub seed: u64,
}

impl Default for DataSplit {
    fn default() -> Self {
        DataSplit {
            method: SplitMethod::Fractions,
            unit: SplitUnit::Time,
            train: 0.7,
            val: 0.15,
            test: 0.15,
            train_end: None,
            val_end: None,
            val_ids: Vec::new(),
            test_ids: Vec::new(),
            seed: 42,
        }
    }
}

impl DataSplit {
    /// Whether this split can produce validation windows at all.
    pub fn has_validation(&self) -> bool {
        match self.method {
            SplitMethod::Fractions | SplitMethod::Hybrid => self.val > 0.0,
            SplitMethod::Dates => self.val_end.is_some(),
            SplitMethod::Patients => !self.val_ids.is_empty(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ImputeStrategy {
    #[default]
    Linear,
    Ffill,
    Zero,
    Constant,
    Mean,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Imputation {
    /// Strategy for columns not listed in `columns` and without a built-in channel default
    /// (insulin, carbs, steps: zero; hr, cals: ffill; activity: -1; see
    /// `tsfm_data::impute::default_for_channel`). The target is interpolated over gaps up to
    /// `max_gap_minutes` whatever this says.
    pub strategy: ImputeStrategy,
    /// Per-column strategies, e.g. `{insulin: zero, carbs: zero}`.
    pub columns: std::collections::BTreeMap<String, ImputeStrategy>,
    /// Value used by the `constant` strategy.
    pub fill_value: Option<f64>,
    /// Longer gaps are not filled: windows overlapping them are dropped.
    pub max_gap_minutes: f64,
}

impl Default for Imputation {
    fn default() -> Self {
        Imputation {
            strategy: ImputeStrategy::Linear,
            columns: Default::default(),
            fill_value: None,
            max_gap_minutes: 45.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScalingMethod {
    #[default]
    Standard,
    Minmax,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ScalingScope {
    #[default]
    Global,
    PerSeries,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Scaling {
    pub method: ScalingMethod,
    pub scope: ScalingScope,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Features {
    /// Insulin on board from the insulin channel.
    pub iob: bool,
    /// Carbohydrates on board from the carbs channel.
    pub cob: bool,
    /// Duration of insulin action for IOB, in hours.
    pub insulin_action_hours: f64,
    /// Carbohydrate absorption time for COB, in hours.
    pub carb_absorption_hours: f64,
    /// Hour-of-day sin/cos features; known in the future.
    pub calendar: bool,
    /// Day-of-week sin/cos (period 7 days) after the hour-of-day pair; needs `calendar` and
    /// data with real dates (csv/parquet; the bris_t1d and aleppo sources synthesise dates).
    pub day_of_week: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            iob: false,
            cob: false,
            insulin_action_hours: 5.0,
            carb_absorption_hours: 3.0,
            calendar: false,
            day_of_week: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// training

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SchedulerType {
    Constant,
    #[default]
    Linear,
    Cosine,
    Exponential,
    OneCycle,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LrScheduler {
    #[serde(rename = "type")]
    pub kind: SchedulerType,
    /// `exponential`: factor per epoch.
    pub gamma: f64,
    /// `cosine`: number of cosine waves over the decay (HF default 0.5: down to zero once).
    pub num_cycles: f64,
    /// `one_cycle`: fraction of the steps spent increasing the learning rate.
    pub pct_start: f64,
    /// Lowest learning rate as a fraction of `learning_rate` (cosine, linear, one_cycle).
    pub min_lr_ratio: f64,
}

impl Default for LrScheduler {
    fn default() -> Self {
        LrScheduler {
            kind: SchedulerType::Linear,
            gamma: 0.95,
            num_cycles: 0.5,
            pct_start: 0.3,
            min_lr_ratio: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerType {
    #[default]
    Adamw,
    Adam,
    Sgd,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Optimizer {
    #[serde(rename = "type")]
    pub kind: OptimizerType,
    pub betas: [f64; 2],
    pub eps: f64,
    /// `sgd` only.
    pub momentum: f64,
}

impl Default for Optimizer {
    fn default() -> Self {
        Optimizer {
            kind: OptimizerType::Adamw,
            betas: [0.9, 0.999],
            eps: 1e-8,
            momentum: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    No,
    #[default]
    Steps,
    Epoch,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EarlyStopping {
    pub enabled: bool,
    /// Evaluations without improvement before stopping.
    pub patience: u64,
    /// Minimum improvement of the metric that counts.
    pub threshold: f64,
}

impl Default for EarlyStopping {
    fn default() -> Self {
        // HF EarlyStoppingCallback defaults.
        EarlyStopping {
            enabled: false,
            patience: 1,
            threshold: 0.0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FinetuneMode {
    #[default]
    Full,
    FrozenBackbone,
    HeadOnly,
    Lora,
}

/// `training.lora`: used when `finetune_mode` is `lora` (PEFT's `LoraConfig` semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lora {
    pub rank: u64,
    pub alpha: f64,
    /// Dropout on each adapter's input.
    pub dropout: f64,
    /// Which linear layers get adapters; empty: the model's default.
    pub target_modules: LoraTargets,
    /// Scale by `alpha / sqrt(rank)` instead of `alpha / rank`.
    pub use_rslora: bool,
    /// How the trained model is written into the run's `model/` folder.
    pub save: LoraSave,
}

impl Default for Lora {
    fn default() -> Self {
        Lora {
            rank: 8,
            alpha: 16.0,
            dropout: 0.0,
            target_modules: LoraTargets::default(),
            use_rslora: false,
            save: LoraSave::Merged,
        }
    }
}

/// `training.lora.target_modules`, as PEFT takes it: a list of layer names (a layer matches
/// when its name is one of them or ends with `.` + one of them), or one regular expression
/// that must match a layer's whole name (`all-linear`: every linear layer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LoraTargets {
    Names(Vec<String>),
    Pattern(String),
}

impl Default for LoraTargets {
    /// No names: the model's own default targets.
    fn default() -> Self {
        LoraTargets::Names(Vec::new())
    }
}

/// `training.lora.save`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraSave {
    /// Adapters merged into the weights: an ordinary checkpoint of the family.
    #[default]
    Merged,
    /// A PEFT adapter folder (`adapter_config.json`, `adapter_model.safetensors`) over the
    /// base checkpoint.
    Adapter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    Mse,
    Mae,
    Huber,
    Quantile,
    /// The model's own training loss (TTM: mse; Chronos: cross-entropy; Bolt/TimesFM: quantile).
    #[default]
    Native,
}

/// `resume_from_checkpoint`: `false`, `true` (the latest checkpoint of this experiment) or a path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Resume {
    #[default]
    No,
    Latest,
    Path(String),
}

impl Serialize for Resume {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Resume::No => s.serialize_bool(false),
            Resume::Latest => s.serialize_bool(true),
            Resume::Path(p) => s.serialize_str(p),
        }
    }
}

impl<'de> Deserialize<'de> for Resume {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Flag(bool),
            Path(String),
        }
        Ok(match Option::<Raw>::deserialize(d)? {
            None | Some(Raw::Flag(false)) => Resume::No,
            Some(Raw::Flag(true)) => Resume::Latest,
            Some(Raw::Path(p)) => Resume::Path(p),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainingConfig {
    pub num_epochs: Option<u64>,
    /// Total optimizer steps; when set it wins over `num_epochs` (as in HF).
    pub max_steps: Option<u64>,
    pub learning_rate: f64,
    pub weight_decay: f64,
    pub warmup_steps: u64,
    pub warmup_ratio: f64,
    pub lr_scheduler: LrScheduler,
    pub optimizer: Optimizer,
    /// Global gradient-norm clip; 0 disables clipping.
    pub max_grad_norm: f64,
    pub gradient_accumulation_steps: u64,
    /// Shards every batch is split into; their forward and backward passes run in parallel
    /// (one thread per core, up to this many), the gradients summed in shard order. Like
    /// PyTorch's DDP, each shard's mean loss counts by its share of the series. Results depend
    /// on this number, never on the machine's core count.
    pub batch_shards: u64,
    pub save_strategy: Strategy,
    pub save_steps: u64,
    pub eval_strategy: Strategy,
    /// Absent: `logging_steps` (as in HF).
    pub eval_steps: Option<u64>,
    pub logging_steps: u64,
    /// Checkpoints kept (oldest deleted first; the best one is always kept). Absent: all.
    pub save_total_limit: Option<u64>,
    pub load_best_model_at_end: bool,
    /// `loss` is the validation loss; otherwise a metric name from `evaluation.metrics`.
    pub metric_for_best_model: String,
    /// Absent: `false` for `loss`, and for error metrics.
    pub greater_is_better: Option<bool>,
    pub early_stopping: EarlyStopping,
    pub finetune_mode: FinetuneMode,
    pub lora: Lora,
    pub loss: Loss,
    /// `huber` loss only.
    pub huber_delta: f64,
    pub seed: u64,
    pub resume_from_checkpoint: Resume,
    pub gradient_checkpointing: bool,
}

impl Default for TrainingConfig {
    fn default() -> Self {
        TrainingConfig {
            num_epochs: None,
            max_steps: None,
            learning_rate: 5e-5,
            weight_decay: 0.0,
            warmup_steps: 0,
            warmup_ratio: 0.0,
            lr_scheduler: LrScheduler::default(),
            optimizer: Optimizer::default(),
            max_grad_norm: 1.0,
            gradient_accumulation_steps: 1,
            batch_shards: 1,
            save_strategy: Strategy::Steps,
            save_steps: 500,
            eval_strategy: Strategy::No,
            eval_steps: None,
            logging_steps: 500,
            save_total_limit: None,
            load_best_model_at_end: false,
            metric_for_best_model: "loss".into(),
            greater_is_better: None,
            early_stopping: EarlyStopping::default(),
            finetune_mode: FinetuneMode::Full,
            lora: Lora::default(),
            loss: Loss::Native,
            huber_delta: 1.0,
            seed: 42,
            resume_from_checkpoint: Resume::No,
            gradient_checkpointing: false,
        }
    }
}

impl TrainingConfig {
    /// Steps between evaluations when `eval_strategy` is `steps`.
    pub fn effective_eval_steps(&self) -> u64 {
        self.eval_steps.unwrap_or(self.logging_steps)
    }
}

// ---------------------------------------------------------------------------------------------
// evaluation, logging, output

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nocturnal {
    pub enabled: bool,
    /// Local time at which each context window ends, `HH:MM`.
    pub context_end: String,
    /// Forecast length after `context_end`, in hours.
    pub horizon_hours: f64,
}

impl Default for Nocturnal {
    fn default() -> Self {
        Nocturnal {
            enabled: false,
            context_end: "00:00".into(),
            horizon_hours: 8.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvaluationConfig {
    pub metrics: Vec<String>,
    pub eval_batch_size: u64,
    pub save_predictions: bool,
    pub nocturnal: Nocturnal,
    /// Horizons reported separately, in minutes.
    pub horizons_min: Vec<u64>,
    pub quantiles: Vec<f64>,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            metrics: vec!["rmse".into(), "mae".into(), "mard".into()],
            eval_batch_size: 64,
            save_predictions: false,
            nocturnal: Nocturnal::default(),
            horizons_min: vec![30, 60],
            quantiles: vec![0.1, 0.5, 0.9],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct LoggingConfig {
    pub level: LogLevel,
    pub debug_mode: bool,
    pub log_file: Option<String>,
    /// Replaced by `mlflow.experiment`; kept in the schema only to refuse it with that pointer.
    pub mlflow_experiment: Option<String>,
    /// Present (even empty): the run is tracked in MLflow.
    pub mlflow: Option<MlflowConfig>,
    /// TensorBoard event files under the run's `logs/`.
    pub tensorboard: bool,
}

/// `logging.mlflow`: where a run is tracked. Every event is first written to the run's
/// `logs/tracking.jsonl`; the server being down never stops training (`tsfm runs sync` sends
/// what it missed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MlflowConfig {
    /// Absent: the `MLFLOW_TRACKING_URI` environment variable, as MLflow's own clients read it.
    pub tracking_uri: Option<String>,
    /// Absent: `output.experiment_name`.
    pub experiment: Option<String>,
    /// Absent: the run's id (its folder name).
    pub run_name: Option<String>,
    pub tags: std::collections::BTreeMap<String, String>,
    /// Upload the run's `model/` folder as artifacts too.
    pub log_model: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum MetricsFormat {
    #[default]
    Json,
    Yaml,
    Csv,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputConfig {
    pub save_dir: String,
    /// Absent in the files: the experiment file's name without `.yaml`.
    pub experiment_name: String,
    pub save_metrics: bool,
    pub save_model: bool,
    pub metrics_format: MetricsFormat,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            save_dir: "tsfm_results".into(),
            experiment_name: String::new(),
            save_metrics: true,
            save_model: true,
            metrics_format: MetricsFormat::Json,
        }
    }
}
