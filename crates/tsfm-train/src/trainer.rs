//! The generic training loop, with HuggingFace `Trainer` semantics.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::store::ModuleRecord;
use burn::tensor::Device;
use tsfm_models::Forecaster;

use crate::args::{IntervalStrategy, ResumeFrom, SaveStrategy, TrainingArgs};
use crate::callbacks::{Control, EarlyStopping, StepProgress, TrainerCallback};
use crate::checkpoint::{
    self, RNG_FILE, SCHEDULER_FILE, STATE_FILE, WEIGHTS_FILE, checkpoint_name,
    write_file_atomically,
};
use crate::data::{WindowSource, batches_per_epoch, derive_seed, epoch_batches, epoch_order};
use crate::error::TrainError;
use crate::grads::GradStore;
use crate::metrics::TrainMetrics;
use crate::optim::{Optimizer, OptimizerConfig};
use crate::schedule::LrSchedule;
use crate::state::{LogEntry, ResumeState, TrainerState};

/// Sub-stream tag of the dropout seeds.
const DROPOUT_STREAM: u64 = 0x4452_4f50;

/// Where the training log goes inside the run directory.
pub const TRAIN_LOG: &str = "logs/train.jsonl";

/// Seed the device's random generator (model initialisation): call before building a model,
/// as HF's `set_seed` does before `from_pretrained`.
pub fn set_seed(device: &Device, seed: u64) {
    device.seed(seed);
}

/// What a finished run gives back.
pub struct TrainOutput<F> {
    /// The trained model (the best one with `load_best_model_at_end`), in validation state.
    pub model: F,
    pub metrics: TrainMetrics,
    pub state: TrainerState,
}

/// Trains any [`Forecaster`]; writes `logs/train.jsonl` and `checkpoints/` under `run_dir`.
pub struct Trainer {
    args: TrainingArgs,
    run_dir: PathBuf,
    device: Device,
    callbacks: Vec<Box<dyn TrainerCallback>>,
}

/// Step counts of a run, HF `set_initial_training_values`. An epoch's last optimizer step
/// takes whatever micro-batches are left, so an epoch has `ceil(batches / accumulation)` steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunLength {
    pub batches_per_epoch: usize,
    pub updates_per_epoch: u64,
    pub max_steps: u64,
    pub num_epochs: u64,
}

impl RunLength {
    pub fn new(args: &TrainingArgs, windows: usize) -> Result<Self, TrainError> {
        let bs = args.per_device_train_batch_size;
        let batches = batches_per_epoch(windows, bs, args.dataloader_drop_last);
        if batches == 0 {
            return Err(TrainError::EmptyData {
                windows,
                batch_size: bs,
            });
        }
        let updates = batches.div_ceil(args.gradient_accumulation_steps) as u64;
        let (max_steps, num_epochs) = if args.max_steps > 0 {
            let max = args.max_steps as u64;
            (max, max.div_ceil(updates))
        } else {
            (
                (args.num_train_epochs * updates as f64).ceil() as u64,
                args.num_train_epochs.ceil() as u64,
            )
        };
        Ok(Self {
            batches_per_epoch: batches,
            updates_per_epoch: updates,
            max_steps,
            num_epochs,
        })
    }
}

fn interval_due(strategy: IntervalStrategy, every: u64, step: u64, epoch_end: bool) -> bool {
    match strategy {
        IntervalStrategy::No => false,
        IntervalStrategy::Steps => step.is_multiple_of(every),
        IntervalStrategy::Epoch => epoch_end,
    }
}

impl Trainer {
    /// `device` is the plain device (e.g. `Device::flex()`); training runs on its autodiff form.
    pub fn new(
        args: TrainingArgs,
        run_dir: impl Into<PathBuf>,
        device: Device,
    ) -> Result<Self, TrainError> {
        args.validate()?;
        Ok(Self {
            args,
            run_dir: run_dir.into(),
            device: device.without_autodiff(),
            callbacks: Vec::new(),
        })
    }

    pub fn add_callback(&mut self, callback: Box<dyn TrainerCallback>) {
        self.callbacks.push(callback);
    }

    pub fn args(&self) -> &TrainingArgs {
        &self.args
    }

    pub fn run_dir(&self) -> &Path {
        &self.run_dir
    }

    /// Mean loss over `data` (weighted by batch size, as HF's evaluation loop), without grad.
    pub fn evaluate<F: Forecaster>(&self, model: &F, data: &dyn WindowSource) -> f64 {
        let model = model.valid();
        let kind = self.args.loss.kind();
        let indices: Vec<usize> = (0..data.len()).collect();
        let (mut sum, mut count) = (0.0f64, 0usize);
        for chunk in indices.chunks(self.args.per_device_eval_batch_size) {
            let input = data.batch(chunk, &self.device);
            let loss: f32 = model.loss(&input, kind).into_scalar();
            sum += loss as f64 * chunk.len() as f64;
            count += chunk.len();
        }
        if count == 0 {
            f64::NAN
        } else {
            sum / count as f64
        }
    }

    /// The checkpoint `resume_from_checkpoint` points to, if any.
    pub fn resume_checkpoint(&self) -> Result<Option<PathBuf>, TrainError> {
        match &self.args.resume_from_checkpoint {
            None | Some(ResumeFrom::Latest(false)) => Ok(None),
            Some(ResumeFrom::Latest(true)) => match checkpoint::latest_checkpoint(&self.run_dir)? {
                Some(p) => Ok(Some(p)),
                None => Err(TrainError::NoCheckpoint {
                    dir: self.run_dir.join(checkpoint::CHECKPOINTS_DIR),
                }),
            },
            Some(ResumeFrom::Path(p)) => {
                if p.join(STATE_FILE).is_file() {
                    Ok(Some(p.clone()))
                } else {
                    Err(TrainError::checkpoint(
                        p,
                        "not a complete checkpoint (no trainer_state.json)",
                    ))
                }
            }
        }
    }

    /// Train `model` on `train`, evaluating on `eval` when an `eval_strategy` is set.
    pub fn train<F: Forecaster>(
        &mut self,
        model: F,
        train: &dyn WindowSource,
        eval: Option<&dyn WindowSource>,
    ) -> Result<TrainOutput<F>, TrainError> {
        let args = self.args.clone();
        if args.eval_strategy != IntervalStrategy::No && eval.is_none_or(|e| e.is_empty()) {
            return Err(TrainError::InvalidArgs {
                key: "eval_strategy",
                message: "evaluation is requested but there is no evaluation data".into(),
            });
        }
        let kind = args.loss.kind();
        if !model.supports_loss(kind) {
            return Err(TrainError::UnsupportedLoss {
                model: model.model_type(),
                loss: args.loss.name().into(),
            });
        }
        let train_device = self.device.clone().autodiff();
        let mut model = model.apply_finetune_mode(args.finetune_mode.mode()).train();
        // Burn initialises parameters lazily; draw any pending ones now, before the per-step
        // reseeding, so initialisation depends only on the seed set before the model was built.
        initialize_params(&model);
        let counts = model.param_counts();
        let len = RunLength::new(&args, train.len())?;
        let schedule = LrSchedule::from_args(&args, len.max_steps);
        let mut optimizer = Optimizer::new(OptimizerConfig::from_args(&args));
        let seed = args.seed;
        let data_seed = args.data_seed();
        let ga = args.gradient_accumulation_steps;
        let best_name = args.best_metric_name();
        let greater = args.greater_is_better();
        let mut early = args
            .early_stopping_patience
            .map(|p| EarlyStopping::new(p, args.early_stopping_threshold, greater));

        let mut state = TrainerState {
            max_steps: len.max_steps,
            num_train_epochs: len.num_epochs,
            logging_steps: args.logging_steps,
            eval_steps: args.eval_steps(),
            save_steps: args.save_steps,
            train_batch_size: args.per_device_train_batch_size,
            resume: ResumeState {
                seed,
                data_seed,
                train_windows: train.len(),
                batch_size: args.per_device_train_batch_size,
                gradient_accumulation_steps: ga,
                ..Default::default()
            },
            ..Default::default()
        };

        let resumed_from = self.resume_checkpoint()?;
        if let Some(ckpt) = &resumed_from {
            let saved = TrainerState::read(&ckpt.join(STATE_FILE))?;
            check_compatible(ckpt, &saved, &state)?;
            let record = ModuleRecord::load(ckpt.join(WEIGHTS_FILE))
                .map_err(|e| TrainError::checkpoint(ckpt, format!("weights: {e}")))?;
            model = model.try_load_record(record).map_err(|e| {
                TrainError::checkpoint(ckpt, format!("weights do not fit the model: {e}"))
            })?;
            optimizer = Optimizer::load(ckpt, &self.device)?;
            if let Some(e) = early.as_mut() {
                e.counter = saved.resume.early_stopping_counter;
            }
            state = saved;
        }
        let resumed_step = resumed_from.as_ref().map(|_| state.global_step);
        let log_path = self.run_dir.join(TRAIN_LOG);
        self.reset_log(&log_path, &state.log_history)?;

        for cb in &mut self.callbacks {
            cb.on_train_begin(len.max_steps, len.num_epochs);
        }
        let started = Instant::now();
        let steps_at_start = state.global_step;
        let mut samples_this_session = 0u64;
        let mut stopped_early = false;
        let mut stop = state.global_step >= len.max_steps;

        while !stop && state.resume.epoch_index < len.num_epochs {
            let epoch = state.resume.epoch_index;
            let order = epoch_order(data_seed, epoch, train.len());
            let batches = epoch_batches(
                &order,
                args.per_device_train_batch_size,
                args.dataloader_drop_last,
            );
            let groups: Vec<&[&[usize]]> = batches.chunks(ga).collect();
            let first = state.resume.update_in_epoch as usize;
            for (u, group) in groups.iter().enumerate().skip(first) {
                let step = state.global_step + 1;
                let mut grads = GradStore::new();
                let mut step_loss = 0.0f64;
                for (k, indices) in group.iter().enumerate() {
                    // Dropout masks depend only on (seed, step, micro-batch): a resumed run
                    // draws the same ones without any generator state to restore.
                    train_device.seed(derive_seed(seed, &[DROPOUT_STREAM, step, k as u64]));
                    let input = train.batch(indices, &train_device);
                    let loss = model.loss(&input, kind);
                    let value = loss.clone().into_scalar::<f32>() as f64;
                    if !value.is_finite() {
                        return Err(TrainError::NonFiniteLoss { step });
                    }
                    let scaled = loss.div_scalar(ga as f32);
                    grads.accumulate(&model, scaled.backward());
                    step_loss += value / ga as f64;
                    samples_this_session += indices.len() as u64;
                    state.resume.samples_seen += indices.len() as u64;
                }
                let grad_norm = grads.clip_global_norm(args.max_grad_norm);
                if !grad_norm.is_finite() {
                    return Err(TrainError::NonFiniteGradNorm { step });
                }
                let lr = schedule.lr(state.global_step);
                model = optimizer.step(model, &mut grads, lr);
                state.global_step = step;
                state.resume.loss_since_log += step_loss;
                state.resume.steps_since_log += 1;
                state.resume.total_loss += step_loss;
                let last_in_epoch = u + 1 == groups.len();
                state.epoch = epoch as f64 + (u + 1) as f64 / groups.len() as f64;
                if last_in_epoch {
                    state.resume.epoch_index = epoch + 1;
                    state.resume.update_in_epoch = 0;
                } else {
                    state.resume.update_in_epoch = u as u64 + 1;
                }

                let elapsed = started.elapsed().as_secs_f64().max(1e-9);
                let done = step - steps_at_start;
                let progress = StepProgress {
                    global_step: step,
                    max_steps: len.max_steps,
                    epoch: state.epoch,
                    loss: step_loss,
                    learning_rate: lr,
                    grad_norm,
                    samples_per_second: samples_this_session as f64 / elapsed,
                    eta_seconds: elapsed / done as f64 * len.max_steps.saturating_sub(step) as f64,
                };
                for cb in &mut self.callbacks {
                    if cb.on_step_end(&progress) == Control::Stop {
                        stop = true;
                    }
                }
                let reached_end = step >= len.max_steps;
                let epoch_end = last_in_epoch || reached_end;

                // HF order: log, then evaluate (early stopping sees the best before this
                // evaluation), then save.
                let should_log =
                    interval_due(args.logging_strategy, args.logging_steps, step, epoch_end)
                        || (args.logging_first_step && step == 1);
                if should_log {
                    let mut entry = LogEntry {
                        step,
                        epoch: state.epoch,
                        values: Default::default(),
                    };
                    let n = state.resume.steps_since_log.max(1) as f64;
                    entry
                        .values
                        .insert("loss".into(), state.resume.loss_since_log / n);
                    entry.values.insert("grad_norm".into(), grad_norm);
                    // HF logs the rate of the next step (the scheduler has already stepped).
                    entry
                        .values
                        .insert("learning_rate".into(), schedule.lr(step));
                    entry
                        .values
                        .insert("samples_per_second".into(), progress.samples_per_second);
                    state.resume.loss_since_log = 0.0;
                    state.resume.steps_since_log = 0;
                    self.log(&log_path, &mut state, entry)?;
                }

                let mut should_save = match args.save_strategy {
                    SaveStrategy::No | SaveStrategy::Best => false,
                    SaveStrategy::Steps => step.is_multiple_of(args.save_steps) || reached_end,
                    SaveStrategy::Epoch => epoch_end,
                };
                if interval_due(args.eval_strategy, args.eval_steps(), step, epoch_end)
                    && let Some(eval) = eval
                {
                    let t0 = Instant::now();
                    let eval_loss = self.evaluate(&model, eval);
                    let runtime = t0.elapsed().as_secs_f64();
                    let mut entry = LogEntry {
                        step,
                        epoch: state.epoch,
                        values: Default::default(),
                    };
                    entry.values.insert("eval_loss".into(), eval_loss);
                    entry.values.insert("eval_runtime".into(), runtime);
                    entry.values.insert(
                        "eval_samples_per_second".into(),
                        eval.len() as f64 / runtime.max(1e-9),
                    );
                    self.log(&log_path, &mut state, entry)?;
                    let metric = eval_loss;
                    debug_assert_eq!(best_name, "eval_loss");
                    if let Some(e) = early.as_mut() {
                        if e.check(metric, state.best_metric) {
                            stop = true;
                            stopped_early = true;
                        }
                        state.resume.early_stopping_counter = e.counter;
                    }
                    let is_new_best = match state.best_metric {
                        None => true,
                        Some(b) => {
                            if greater {
                                metric > b
                            } else {
                                metric < b
                            }
                        }
                    };
                    if is_new_best {
                        state.best_metric = Some(metric);
                        state.best_global_step = Some(step);
                    }
                    if args.save_strategy == SaveStrategy::Best {
                        should_save = is_new_best;
                    }
                }
                if stop || reached_end {
                    state.should_training_stop = true;
                }
                if should_save {
                    self.save_checkpoint(&model, &optimizer, &schedule, &mut state)?;
                }
                if stop || reached_end {
                    stop = true;
                    break;
                }
            }
            if !stop && state.resume.update_in_epoch != 0 {
                // Only reached when an epoch had no updates left to run (a resumed end point).
                state.resume.epoch_index += 1;
                state.resume.update_in_epoch = 0;
            }
        }

        let runtime = started.elapsed().as_secs_f64().max(1e-9);
        let steps_done = state.global_step - steps_at_start;
        let train_loss = if state.global_step > 0 {
            state.resume.total_loss / state.global_step as f64
        } else {
            0.0
        };
        let mut final_entry = LogEntry {
            step: state.global_step,
            epoch: state.epoch,
            values: Default::default(),
        };
        final_entry.values.insert("train_runtime".into(), runtime);
        final_entry.values.insert(
            "train_samples_per_second".into(),
            samples_this_session as f64 / runtime,
        );
        final_entry
            .values
            .insert("train_steps_per_second".into(), steps_done as f64 / runtime);
        final_entry.values.insert("train_loss".into(), train_loss);
        self.log(&log_path, &mut state, final_entry)?;

        if args.load_best_model_at_end
            && let Some(best) = &state.best_model_checkpoint
        {
            let dir = self.run_dir.join(best);
            let record = ModuleRecord::load(dir.join(WEIGHTS_FILE))
                .map_err(|e| TrainError::checkpoint(&dir, format!("weights: {e}")))?;
            model = model.try_load_record(record).map_err(|e| {
                TrainError::checkpoint(&dir, format!("weights do not fit the model: {e}"))
            })?;
        }
        for cb in &mut self.callbacks {
            cb.on_train_end();
        }

        let train_losses: Vec<f64> = state
            .log_history
            .iter()
            .filter_map(|e| e.get("loss"))
            .collect();
        let eval_losses: Vec<f64> = state
            .log_history
            .iter()
            .filter_map(|e| e.get("eval_loss"))
            .collect();
        let min = |v: &[f64]| v.iter().copied().reduce(f64::min);
        let metrics = TrainMetrics {
            train_loss,
            final_train_loss: train_losses.last().copied(),
            best_train_loss: min(&train_losses),
            final_eval_loss: eval_losses.last().copied(),
            best_eval_loss: min(&eval_losses),
            metric_for_best_model: best_name,
            best_metric: state.best_metric,
            best_global_step: state.best_global_step,
            best_model_checkpoint: state.best_model_checkpoint.clone(),
            train_runtime_seconds: runtime,
            train_samples_per_second: samples_this_session as f64 / runtime,
            train_steps_per_second: steps_done as f64 / runtime,
            total_params: counts.total,
            trainable_params: counts.trainable,
            global_step: state.global_step,
            max_steps: len.max_steps,
            epoch: state.epoch,
            stopped_early,
            resumed_from_step: resumed_step,
        };
        Ok(TrainOutput {
            model: model.valid(),
            metrics,
            state,
        })
    }

    /// Start `train.jsonl` afresh, or, on resume, from the checkpoint's history so that lines
    /// written after the checkpoint by the interrupted run do not appear twice.
    fn reset_log(&self, path: &Path, history: &[LogEntry]) -> Result<(), TrainError> {
        let dir = path.parent().expect("log path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let mut text = String::new();
        for entry in history {
            text.push_str(&serde_json::to_string(entry).expect("plain data"));
            text.push('\n');
        }
        write_file_atomically(path, text.as_bytes())
    }

    fn log(
        &mut self,
        path: &Path,
        state: &mut TrainerState,
        entry: LogEntry,
    ) -> Result<(), TrainError> {
        let line = serde_json::to_string(&entry).expect("plain data");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| TrainError::io(path, e))?;
        writeln!(file, "{line}").map_err(|e| TrainError::io(path, e))?;
        for cb in &mut self.callbacks {
            cb.on_log(&entry);
        }
        state.log_history.push(entry);
        Ok(())
    }

    fn save_checkpoint<F: Forecaster>(
        &mut self,
        model: &F,
        optimizer: &Optimizer,
        schedule: &LrSchedule,
        state: &mut TrainerState,
    ) -> Result<(), TrainError> {
        let step = state.global_step;
        // HF: the best checkpoint is the one saved at the best metric's step, if it exists.
        if let Some(best_step) = state.best_global_step {
            let best = format!(
                "{}/{}",
                checkpoint::CHECKPOINTS_DIR,
                checkpoint_name(best_step)
            );
            if best_step == step || self.run_dir.join(&best).is_dir() {
                state.best_model_checkpoint = Some(best);
            }
        }
        let rng = serde_json::json!({
            "seed": state.resume.seed,
            "data_seed": state.resume.data_seed,
            "global_step": step,
            "dropout_seed_rule": "derive_seed(seed, [DROPOUT_STREAM, step, micro_batch])",
        });
        let scheduler = serde_json::json!({ "schedule": schedule, "last_epoch": step });
        let state_json = state.to_json();
        let dir = checkpoint::write_atomically(&self.run_dir, step, |tmp| {
            model
                .clone()
                .into_record()
                .save(tmp.join(WEIGHTS_FILE))
                .map_err(|e| TrainError::checkpoint(tmp, format!("weights: {e}")))?;
            model.valid().save_pretrained(tmp)?;
            optimizer.save(tmp)?;
            let write =
                |file: &str, text: String| write_file_atomically(&tmp.join(file), text.as_bytes());
            write(
                SCHEDULER_FILE,
                serde_json::to_string_pretty(&scheduler).expect("json"),
            )?;
            write(RNG_FILE, serde_json::to_string_pretty(&rng).expect("json"))?;
            // Written last: its presence marks the checkpoint complete.
            write(STATE_FILE, state_json)
        })?;
        if let Some(limit) = self.args.save_total_limit {
            let sorted = checkpoint::list_checkpoints(&self.run_dir)?;
            let best = state
                .best_model_checkpoint
                .as_ref()
                .map(|b| self.run_dir.join(b));
            for old in checkpoint::checkpoints_to_delete(&sorted, best.as_deref(), limit) {
                std::fs::remove_dir_all(&old).map_err(|e| TrainError::io(&old, e))?;
            }
        }
        for cb in &mut self.callbacks {
            cb.on_save(step, &dir);
        }
        Ok(())
    }
}

fn initialize_params<M: burn::module::Module>(model: &M) {
    struct Touch;
    impl burn::module::ModuleVisitor for Touch {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<burn::Tensor<D>>) {
            let _ = param.val();
        }
    }
    model.visit(&mut Touch);
}

/// A checkpoint can only continue a run over the same data with the same batching and seeds.
fn check_compatible(
    ckpt: &Path,
    saved: &TrainerState,
    now: &TrainerState,
) -> Result<(), TrainError> {
    let (a, b) = (&saved.resume, &now.resume);
    let checks: [(&str, u64, u64); 5] = [
        (
            "train_windows",
            a.train_windows as u64,
            b.train_windows as u64,
        ),
        (
            "per_device_train_batch_size",
            a.batch_size as u64,
            b.batch_size as u64,
        ),
        (
            "gradient_accumulation_steps",
            a.gradient_accumulation_steps as u64,
            b.gradient_accumulation_steps as u64,
        ),
        ("seed", a.seed, b.seed),
        ("data_seed", a.data_seed, b.data_seed),
    ];
    for (what, then, now) in checks {
        if then != now {
            return Err(TrainError::checkpoint(
                ckpt,
                format!(
                    "was written with {what} = {then} but this run has {now}; resume with the same data and settings"
                ),
            ));
        }
    }
    if saved.max_steps != now.max_steps {
        return Err(TrainError::checkpoint(
            ckpt,
            format!(
                "was written for {} total steps but this run has {}; keep num_train_epochs/max_steps unchanged",
                saved.max_steps, now.max_steps
            ),
        ));
    }
    Ok(())
}
