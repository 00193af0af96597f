//! Command-line definition: the `--help` a user reads.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "tsfm",
    version,
    about = "Fine-tune, evaluate and compare time-series foundation models (TTM, Chronos, Chronos-Bolt, Chronos-2, TimesFM)",
    long_about = None
)]
pub struct Cli {
    /// Debug output: full error chains and debug logging.
    #[arg(long, global = true)]
    pub debug: bool,
    /// More output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fine-tune a model as a config describes (default: the embedded TTM demo experiment).
    Train(TrainArgs),
    /// Evaluate a trained run, a config's model or a checkpoint, in the data's units.
    Evaluate(EvaluateArgs),
    /// Forecast series from a CSV/Parquet file with a checkpoint or a trained run.
    Predict(Box<PredictArgs>),
    /// Compare runs and models side by side, with baselines.
    Compare(CompareArgs),
    /// Prepare and inspect datasets.
    #[command(subcommand)]
    Data(DataCommand),
    /// Show or validate a resolved configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List, show and promote training runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Grid or list of `--set` overrides as one Slurm job array; its status; resubmission.
    Sweep(SweepArgs),
    /// Serve forecasts over HTTP: POST /v1/forecast, GET /healthz, /readyz, /metrics.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A promoted model (`ttm/production_v1`, `production_v1`, or its folder), a run folder, or
    /// a checkpoint folder.
    #[arg(long)]
    pub model: String,
    /// Address to listen on (port 0: any free port, printed at start).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Results root where production names are looked up (output.save_dir).
    #[arg(long, default_value = "tsfm_results")]
    pub save_dir: PathBuf,
    /// Series per model call at most (concurrent requests are batched up to it).
    #[arg(long, default_value_t = 64)]
    pub max_batch: usize,
    /// How long (ms) a request waits for others to share its model call.
    #[arg(long, default_value_t = 2)]
    pub max_wait_ms: u64,
    /// Requests waiting at most; more are answered 503.
    #[arg(long, default_value_t = 1024)]
    pub queue: usize,
    /// Series per request at most (more: 413).
    #[arg(long, default_value_t = 256)]
    pub max_series: usize,
    /// Rows per series at most (more: 413).
    #[arg(long, default_value_t = 4096)]
    pub max_length: usize,
    /// Request body size at most, in bytes (more: 413).
    #[arg(long, default_value_t = 4 << 20)]
    pub max_body_bytes: usize,
}

/// How a config is chosen and changed: shared by every command that reads one.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// Experiment YAML (default: the embedded demo experiment `experiments/ttm_demo`).
    #[arg(long, short = 'c')]
    pub config: Option<PathBuf>,
    /// Directory that `defaults:` entries are resolved against (default: `configs/` next to the
    /// config file's parent folders, else the embedded configs).
    #[arg(long)]
    pub config_root: Option<PathBuf>,
    /// Set any config key: `--set training.learning_rate=5e-5` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Model checkpoint directory or hub id (model.model_path).
    #[arg(long)]
    pub model_path: Option<String>,
    /// auto, cpu, cuda or cuda:N (model.device).
    #[arg(long)]
    pub device: Option<String>,
    /// data.batch_size.
    #[arg(long)]
    pub batch_size: Option<String>,
    /// training.learning_rate.
    #[arg(long)]
    pub learning_rate: Option<String>,
    /// training.num_epochs.
    #[arg(long)]
    pub num_epochs: Option<String>,
    /// Resume: `true` for the latest checkpoint, or a checkpoint path
    /// (training.resume_from_checkpoint).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    pub resume: Option<String>,
    /// data.source_name.
    #[arg(long)]
    pub data_source: Option<String>,
    /// data.data_split (e.g. `0.7,0.15,0.15`).
    #[arg(long)]
    pub data_split: Option<String>,
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Write the run here instead of a new timestamped directory.
    #[arg(long)]
    pub run_dir: Option<PathBuf>,
    /// Validate the config and stop.
    #[arg(long)]
    pub validate_config: bool,
    /// Resolve config and data, report what would be trained, train nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct EvaluateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// A trained run directory (or `model/experiment/run_id`, or a run id).
    #[arg(long)]
    pub run: Option<String>,
    /// Which split to evaluate: test (default), val or train.
    #[arg(long, default_value = "test")]
    pub split: String,
}

#[derive(Debug, Args)]
pub struct PredictArgs {
    /// `--config F` alone forecasts with F's experiment's `best_model` (its preprocessing and
    /// saved scaler); with `--model-path` too, with that checkpoint through F's preprocessing.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// A trained run directory (or `model/experiment/run_id`, or a run id): its model, its
    /// preprocessing and its saved scaler.
    #[arg(long)]
    pub run: Option<String>,
    /// Input CSV or Parquet, long format `id,timestamp,<target>[,<covariates>...]`, regular per
    /// series. Rows after a series' last target reading with the target empty are the forecast
    /// horizon (the fewest any series has; `--horizon` must agree); a covariate filled in
    /// every horizon row is known-future, one left empty there is past-only. Models that cannot
    /// use a covariate refuse it (exit 2). Without `--target` (and `--run`), every value column
    /// is a target.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// The input's target column: the other value columns are covariates (default: a run's
    /// target; for a checkpoint, every column is a target, each forecast on its own, or
    /// together for models that forecast several, e.g. Chronos-2 as one group).
    #[arg(long, value_name = "COLUMN")]
    pub target: Option<String>,
    /// The glucose unit of the input's target, `mg/dL` or `mmol/L`, for a run trained on
    /// glucose (it works in mmol/L): the input is converted on reading and the forecasts are
    /// given back in this unit. Without it, values that look like mg/dL are refused.
    #[arg(long, value_name = "UNIT")]
    pub unit: Option<String>,
    /// Output CSV: `id,timestamp,step,point[,q<level>...]`.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Forecast horizon in steps (default: the model's prediction length). Chronos-Bolt,
    /// Chronos-T5 and TimesFM roll out beyond it as their official pipelines do.
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Quantile levels, comma-separated, e.g. `0.1,0.5,0.9`: the model's own quantiles
    /// (interpolated as its package does), or a trained point model's calibrated ones.
    #[arg(long, value_delimiter = ',')]
    pub quantiles: Vec<f64>,
    /// Chronos-T5 decoding: `sample` (default) or `greedy`.
    #[arg(long)]
    pub decoding: Option<String>,
    /// Chronos-T5: sample paths per series (default: the checkpoint's or the run's).
    #[arg(long)]
    pub num_samples: Option<usize>,
    /// Chronos-T5: sampling temperature (above 0).
    #[arg(long)]
    pub temperature: Option<f64>,
    /// Chronos-T5: keep the k most likely tokens per step (0: no top-k filtering).
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Chronos-T5: nucleus sampling mass, in (0, 1].
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Chronos-T5: seed of the sample draws (default: the run's training.seed, or 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// TimesFM: the context it reads (longer series keep their last values, shorter ones are
    /// padded); default: the run's model.params, else 1024 (the official README example).
    #[arg(long, value_name = "STEPS")]
    pub max_context: Option<usize>,
    /// TimesFM: the longest horizon compiled (default: --horizon).
    #[arg(long, value_name = "STEPS")]
    pub max_horizon: Option<usize>,
    /// TimesFM: normalise each series before the model (default true).
    #[arg(long, value_name = "BOOL")]
    pub normalize_inputs: Option<bool>,
    /// TimesFM: quantiles from the continuous quantile head (default true; horizons up to its
    /// length).
    #[arg(long, value_name = "BOOL")]
    pub use_continuous_quantile_head: Option<bool>,
    /// TimesFM: average the forecasts of x and -x (default true).
    #[arg(long, value_name = "BOOL")]
    pub force_flip_invariance: Option<bool>,
    /// TimesFM: no negative forecasts for series that are never negative (default true).
    #[arg(long, value_name = "BOOL")]
    pub infer_is_positive: Option<bool>,
    /// TimesFM: make quantiles monotone outward from the median (default true).
    #[arg(long, value_name = "BOOL")]
    pub fix_quantile_crossing: Option<bool>,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub experiment: Option<String>,
    /// Runs to compare (directories or ids); default: every run matching the filters.
    pub runs: Vec<String>,
    /// Results root (output.save_dir).
    #[arg(long, default_value = "tsfm_results")]
    pub save_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Turn raw files into the processed per-series cache and print a summary.
    Prepare(Box<DataPrepareArgs>),
    /// Show the cached summary of a prepared dataset.
    Inspect(DataInspectArgs),
}

#[derive(Debug, Args)]
pub struct DataPrepareArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Dataset name (the cache folder), default data.source_name.
    #[arg(long)]
    pub dataset: Option<String>,
    /// bris_t1d, aleppo, csv or parquet (default data.source).
    #[arg(long)]
    pub source: Option<String>,
    /// Raw file or folder (default data.raw_path).
    #[arg(long)]
    pub raw: Option<PathBuf>,
    /// Cache root (default data.cache_dir).
    #[arg(long)]
    pub cache_dir: Option<PathBuf>,
    /// Unit of the raw target when the file's own unit check would refuse it: mmol/L or mg/dL.
    #[arg(long)]
    pub unit: Option<String>,
}

#[derive(Debug, Args)]
pub struct DataInspectArgs {
    #[arg(long)]
    pub dataset: String,
    #[arg(long, default_value = "cache/data")]
    pub cache_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the resolved YAML after composition and overrides.
    Show(ConfigArgs),
    /// Check a config; list every problem; exit 2 if any.
    Validate(ConfigArgs),
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// One line per run.
    List(RunsListArgs),
    /// A run's manifest and metrics.
    Show(RunsShowArgs),
    /// Send to MLflow what tracked runs could not send while training (server down):
    /// idempotent, a second sync sends nothing.
    Sync(RunsSyncArgs),
    /// Freeze a run as `models/{model}/production_vN/` (model, scaler, calibration, config,
    /// manifest, checksums and MODEL_CARD.md); a promoted version is never replaced.
    Promote(RunsPromoteArgs),
}

#[derive(Debug, Args)]
pub struct RunsSyncArgs {
    /// Runs (directories or ids, as `runs show` takes them); default: every tracked run.
    pub runs: Vec<String>,
    /// Send to this server instead of the one each run was tracked to (e.g. a moved server:
    /// the runs are created there afresh).
    #[arg(long)]
    pub tracking_uri: Option<String>,
    #[arg(long, default_value = "tsfm_results")]
    pub save_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunsPromoteArgs {
    /// Run directory, `model/experiment/run_id`, a run id (prefix), or
    /// `model/experiment/best_model`.
    pub run: String,
    /// The version to write, `production_vN` (default: one more than the highest there).
    #[arg(long = "as", value_name = "production_vN")]
    pub as_version: Option<String>,
    #[arg(long, default_value = "tsfm_results")]
    pub save_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunsListArgs {
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub experiment: Option<String>,
    #[arg(long, default_value = "tsfm_results")]
    pub save_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct RunsShowArgs {
    /// Run directory, `model/experiment/run_id`, a run id (prefix), or
    /// `model/experiment/best_model`.
    pub run: String,
    #[arg(long, default_value = "tsfm_results")]
    pub save_dir: PathBuf,
}

/// `tsfm sweep EXPERIMENT --spec SWEEP.yaml [--dry-run | --submit]`, `tsfm sweep status DIR`,
/// `tsfm sweep resume DIR`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct SweepArgs {
    #[command(subcommand)]
    pub command: Option<SweepCommand>,
    #[command(flatten)]
    pub create: SweepCreateArgs,
}

#[derive(Debug, Args)]
pub struct SweepCreateArgs {
    /// Experiment YAML (or a name under the config root, e.g. `experiments/ttm_demo`).
    #[arg(required = true)]
    pub experiment: Option<PathBuf>,
    /// Sweep spec: `grid:` / `list:` of `--set` keys, `set:` for every task, `slurm:` resources.
    #[arg(long, required = true)]
    pub spec: Option<PathBuf>,
    /// Directory that `defaults:` entries are resolved against.
    #[arg(long)]
    pub config_root: Option<PathBuf>,
    /// Set a config key for every task (before the spec's overrides; repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Check every task and print the sbatch script; write and submit nothing.
    #[arg(long, conflicts_with = "submit")]
    pub dry_run: bool,
    /// Submit the job array with `sbatch` after writing the sweep folder.
    #[arg(long)]
    pub submit: bool,
    /// The `tsfm` binary the tasks run (default: this one).
    #[arg(long, value_name = "PATH")]
    pub tsfm: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum SweepCommand {
    /// One line per task: pending, running, completed, failed, cancelled, timeout.
    Status(SweepDirArgs),
    /// Submit every task that is not pending, running or completed; each continues from its
    /// run's newest checkpoint.
    Resume(SweepDirArgs),
}

#[derive(Debug, Args)]
pub struct SweepDirArgs {
    /// The sweep folder (`tsfm_results/sweeps/{name}/{timestamp}`).
    pub dir: PathBuf,
}
