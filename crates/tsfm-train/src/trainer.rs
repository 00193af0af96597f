//! The generic training loop, with HuggingFace `Trainer` semantics.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::store::ModuleRecord;
use burn::tensor::Device;
use tsfm_models::{FinetuneMode, Forecaster, LossKind, ParamCounts};

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
use crate::shards;
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
    /// 1: the batch shards run on the calling thread; more: on the worker threads
    /// ([`shards::available_threads`] unless set).
    threads: usize,
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

/// What stays fixed during one `train` call.
struct RunPlan<'a> {
    len: RunLength,
    schedule: LrSchedule,
    kind: LossKind,
    /// The autodiff form of the trainer's device.
    train_device: Device,
    log_path: PathBuf,
    train: &'a dyn WindowSource,
    eval: Option<&'a dyn WindowSource>,
}

/// What changes during one `train` call: the state checkpoints save, the optimizer, and this
/// session's own counters (throughput, early stop).
struct RunProgress {
    state: TrainerState,
    optimizer: Optimizer,
    early: Option<EarlyStopping>,
    started: Instant,
    /// `global_step` when this session started (non-zero after a resume).
    steps_at_start: u64,
    resumed_step: Option<u64>,
    samples_this_session: u64,
    stopped_early: bool,
    stop: bool,
}

impl RunProgress {
    /// Records a finished optimizer step (update `u` of `updates` in `epoch`) in the state a
    /// checkpoint saves, so a resume starts at the next update.
    fn advance(&mut self, step: u64, step_loss: f64, epoch: u64, u: usize, updates: usize) {
        let state = &mut self.state;
        state.global_step = step;
        state.resume.loss_since_log += step_loss;
        state.resume.steps_since_log += 1;
        state.resume.total_loss += step_loss;
        state.epoch = epoch as f64 + (u + 1) as f64 / updates as f64;
        if u + 1 == updates {
            state.resume.epoch_index = epoch + 1;
            state.resume.update_in_epoch = 0;
        } else {
            state.resume.update_in_epoch = u as u64 + 1;
        }
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
            threads: shards::available_threads(),
        })
    }

    /// Run the batch shards on the calling thread (`threads` 1) or on the process's worker
    /// threads (more than 1: `tsfm_models::parallel`'s pool, `available_threads` of them).
    /// What a run computes does not depend on it.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
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
        let kind = self.args.loss;
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

    /// The checkpoint `resume_from_checkpoint` points to, if any: the newest one whose files
    /// match their checksums (damaged newer ones are skipped with a warning to the callbacks),
    /// or the given one, which must verify.
    pub fn resume_checkpoint(&mut self) -> Result<Option<PathBuf>, TrainError> {
        match self.args.resume_from_checkpoint.clone() {
            None | Some(ResumeFrom::Latest(false)) => Ok(None),
            Some(ResumeFrom::Latest(true)) => {
                let (found, warnings) = checkpoint::latest_good_checkpoint(&self.run_dir)?;
                for w in &warnings {
                    for cb in &mut self.callbacks {
                        cb.on_warning(w);
                    }
                }
                match found {
                    Some(p) => Ok(Some(p)),
                    None => Err(TrainError::NoCheckpoint {
                        dir: self.run_dir.join(checkpoint::CHECKPOINTS_DIR),
                    }),
                }
            }
            Some(ResumeFrom::Path(p)) => {
                if !p.join(STATE_FILE).is_file() {
                    return Err(TrainError::checkpoint(
                        &p,
                        "not a complete checkpoint (no trainer_state.json)",
                    ));
                }
                match checkpoint::verify_checkpoint(&p) {
                    Ok(_) => Ok(Some(p)),
                    Err(why) => Err(TrainError::checkpoint(
                        &p,
                        format!("damaged: {why}; resume from another checkpoint"),
                    )),
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
        self.check_inputs(&model, eval)?;
        let model = model.apply_finetune_mode(self.args.finetune_mode).train();
        // Burn initialises parameters lazily; draw any pending ones now, before the per-step
        // reseeding, so initialisation depends only on the seed set before the model was built.
        initialize_params(&model);
        let counts = model.param_counts();
        let plan = self.plan(train, eval)?;
        let (mut model, mut run) = self.start_or_resume(model, &plan)?;
        for cb in &mut self.callbacks {
            cb.on_train_begin(plan.len.max_steps, plan.len.num_epochs);
        }
        run.started = Instant::now();
        while !run.stop && run.state.resume.epoch_index < plan.len.num_epochs {
            model = self.run_epoch(model, &plan, &mut run)?;
        }
        self.finish(model, &plan, run, counts)
    }

    /// Errors that need no training step to find: evaluation asked for without data, a loss the
    /// model cannot compute, LoRA without adapters.
    fn check_inputs<F: Forecaster>(
        &self,
        model: &F,
        eval: Option<&dyn WindowSource>,
    ) -> Result<(), TrainError> {
        if self.args.eval_strategy != IntervalStrategy::No && eval.is_none_or(|e| e.is_empty()) {
            return Err(TrainError::InvalidArgs {
                key: "eval_strategy",
                message: "evaluation is requested but there is no evaluation data".into(),
            });
        }
        if self.args.finetune_mode == FinetuneMode::Lora
            && tsfm_models::lora::adapter_param_count(model) == 0
        {
            return Err(TrainError::InvalidArgs {
                key: "finetune_mode",
                message: "`lora` trains LoRA adapters, but the model carries none; load it with \
                          LoRA (tsfm_models::LoadOptions::lora)"
                    .into(),
            });
        }
        if !model.supports_loss(self.args.loss) {
            return Err(TrainError::UnsupportedLoss {
                model: model.model_type(),
                loss: self.args.loss.name().into(),
            });
        }
        Ok(())
    }

    fn plan<'a>(
        &self,
        train: &'a dyn WindowSource,
        eval: Option<&'a dyn WindowSource>,
    ) -> Result<RunPlan<'a>, TrainError> {
        let len = RunLength::new(&self.args, train.len())?;
        Ok(RunPlan {
            schedule: LrSchedule::from_args(&self.args, len.max_steps),
            len,
            kind: self.args.loss,
            train_device: self.device.clone().autodiff(),
            log_path: self.run_dir.join(TRAIN_LOG),
            train,
            eval,
        })
    }

    /// A fresh state, or the one of the checkpoint `resume_from_checkpoint` names (weights,
    /// optimizer, early-stopping counter, position in the data); then `train.jsonl` is reset to
    /// that state's history.
    fn start_or_resume<F: Forecaster>(
        &mut self,
        mut model: F,
        plan: &RunPlan<'_>,
    ) -> Result<(F, RunProgress), TrainError> {
        let args = &self.args;
        let mut state = TrainerState {
            max_steps: plan.len.max_steps,
            num_train_epochs: plan.len.num_epochs,
            logging_steps: args.logging_steps,
            eval_steps: args.eval_steps(),
            save_steps: args.save_steps,
            train_batch_size: args.per_device_train_batch_size,
            resume: ResumeState {
                seed: args.seed,
                data_seed: args.data_seed(),
                train_windows: plan.train.len(),
                batch_size: args.per_device_train_batch_size,
                gradient_accumulation_steps: args.gradient_accumulation_steps,
                batch_shards: args.batch_shards,
                ..Default::default()
            },
            ..Default::default()
        };
        let mut optimizer = Optimizer::new(OptimizerConfig::from_args(args));
        let mut early = args.early_stopping_patience.map(|p| {
            EarlyStopping::new(p, args.early_stopping_threshold, args.greater_is_better())
        });
        let resumed_from = self.resume_checkpoint()?;
        if let Some(ckpt) = &resumed_from {
            let saved = TrainerState::read(&ckpt.join(STATE_FILE))?;
            check_compatible(ckpt, &saved, &state)?;
            model = load_weights(model, ckpt)?;
            optimizer = Optimizer::load(ckpt, &self.device)?;
            if let Some(e) = early.as_mut() {
                e.counter = saved.resume.early_stopping_counter;
            }
            state = saved;
        }
        self.reset_log(&plan.log_path, &state.log_history)?;
        let run = RunProgress {
            resumed_step: resumed_from.as_ref().map(|_| state.global_step),
            steps_at_start: state.global_step,
            stop: state.global_step >= plan.len.max_steps,
            state,
            optimizer,
            early,
            started: Instant::now(),
            samples_this_session: 0,
            stopped_early: false,
        };
        Ok((model, run))
    }

    /// The optimizer steps left in the current epoch (all of them, or those after the resume
    /// point), each followed by logging, evaluation and saving as they fall due.
    fn run_epoch<F: Forecaster>(
        &mut self,
        mut model: F,
        plan: &RunPlan<'_>,
        run: &mut RunProgress,
    ) -> Result<F, TrainError> {
        let epoch = run.state.resume.epoch_index;
        let order = epoch_order(self.args.data_seed(), epoch, plan.train.len());
        let batches = epoch_batches(
            &order,
            self.args.per_device_train_batch_size,
            self.args.dataloader_drop_last,
        );
        let groups: Vec<&[&[usize]]> = batches
            .chunks(self.args.gradient_accumulation_steps)
            .collect();
        let first = run.state.resume.update_in_epoch as usize;
        for (u, group) in groups.iter().enumerate().skip(first) {
            let step = run.state.global_step + 1;
            let (next, step_loss, grad_norm, lr) =
                self.optimizer_step(model, plan, run, group, step)?;
            model = next;
            run.advance(step, step_loss, epoch, u, groups.len());
            let samples_per_second = self.report_step(plan, run, step_loss, lr, grad_norm);
            let reached_end = step >= plan.len.max_steps;
            let epoch_end = u + 1 == groups.len() || reached_end;

            // HF order: log, then evaluate (early stopping sees the best before this
            // evaluation), then save.
            if interval_due(
                self.args.logging_strategy,
                self.args.logging_steps,
                step,
                epoch_end,
            ) || (self.args.logging_first_step && step == 1)
            {
                self.log_training(plan, run, grad_norm, samples_per_second)?;
            }
            let should_save = self.evaluate_and_decide_save(&model, plan, run, epoch_end)?;
            if run.stop || reached_end {
                run.state.should_training_stop = true;
            }
            if should_save {
                self.save_checkpoint(&model, &run.optimizer, &plan.schedule, &mut run.state)?;
            }
            if run.stop || reached_end {
                run.stop = true;
                break;
            }
        }
        if !run.stop && run.state.resume.update_in_epoch != 0 {
            // Only reached when an epoch had no updates left to run (a resumed end point).
            run.state.resume.epoch_index += 1;
            run.state.resume.update_in_epoch = 0;
        }
        Ok(model)
    }

    /// One optimizer step over a group of micro-batches (gradient accumulation): forward,
    /// backward, global-norm clipping, update. Returns the model, the step's mean loss, the
    /// gradient norm before clipping and the learning rate used.
    fn optimizer_step<F: Forecaster>(
        &self,
        model: F,
        plan: &RunPlan<'_>,
        run: &mut RunProgress,
        group: &[&[usize]],
        step: u64,
    ) -> Result<(F, f64, f64, f64), TrainError> {
        let ga = self.args.gradient_accumulation_steps;
        let threads = self.threads;
        let mut grads = GradStore::new();
        let mut step_loss = 0.0f64;
        for (k, indices) in group.iter().enumerate() {
            let parts = shards::split(indices, self.args.batch_shards)
                .into_iter()
                .enumerate()
                .map(|(s, part)| shards::Shard {
                    input: plan.train.batch(part, &plan.train_device),
                    series: part.len(),
                    // Dropout masks depend only on (seed, step, micro-batch, shard): a resumed
                    // run draws the same ones without any generator state to restore.
                    dropout_seed: derive_seed(
                        self.args.seed,
                        &[DROPOUT_STREAM, step, k as u64, s as u64],
                    ),
                })
                .collect();
            let (value, part) = shards::loss_and_grads(&model, parts, plan.kind, ga, threads)
                .map_err(|_| TrainError::NonFiniteLoss { step })?;
            grads.add(part);
            step_loss += value / ga as f64;
            run.samples_this_session += indices.len() as u64;
            run.state.resume.samples_seen += indices.len() as u64;
        }
        let grad_norm = grads.clip_global_norm(self.args.max_grad_norm);
        if !grad_norm.is_finite() {
            return Err(TrainError::NonFiniteGradNorm { step });
        }
        let lr = plan.schedule.lr(run.state.global_step);
        let model = run.optimizer.step(model, &mut grads, lr);
        Ok((model, step_loss, grad_norm, lr))
    }

    /// Tells the callbacks a step ended (any of them may stop the run); returns this session's
    /// throughput, which the log line repeats.
    fn report_step(
        &mut self,
        plan: &RunPlan<'_>,
        run: &mut RunProgress,
        loss: f64,
        learning_rate: f64,
        grad_norm: f64,
    ) -> f64 {
        let step = run.state.global_step;
        let elapsed = run.started.elapsed().as_secs_f64().max(1e-9);
        let done = step - run.steps_at_start;
        let progress = StepProgress {
            global_step: step,
            max_steps: plan.len.max_steps,
            epoch: run.state.epoch,
            loss,
            learning_rate,
            grad_norm,
            samples_per_second: run.samples_this_session as f64 / elapsed,
            eta_seconds: elapsed / done as f64 * plan.len.max_steps.saturating_sub(step) as f64,
        };
        for cb in &mut self.callbacks {
            if cb.on_step_end(&progress) == Control::Stop {
                run.stop = true;
            }
        }
        progress.samples_per_second
    }

    /// The training log line: mean loss since the last one, gradient norm, learning rate.
    fn log_training(
        &mut self,
        plan: &RunPlan<'_>,
        run: &mut RunProgress,
        grad_norm: f64,
        samples_per_second: f64,
    ) -> Result<(), TrainError> {
        let step = run.state.global_step;
        let mut entry = LogEntry {
            step,
            epoch: run.state.epoch,
            values: Default::default(),
        };
        let resume = &mut run.state.resume;
        let n = resume.steps_since_log.max(1) as f64;
        entry
            .values
            .insert("loss".into(), resume.loss_since_log / n);
        entry.values.insert("grad_norm".into(), grad_norm);
        // HF logs the rate of the next step (the scheduler has already stepped).
        entry
            .values
            .insert("learning_rate".into(), plan.schedule.lr(step));
        entry
            .values
            .insert("samples_per_second".into(), samples_per_second);
        resume.loss_since_log = 0.0;
        resume.steps_since_log = 0;
        self.log(&plan.log_path, &mut run.state, entry)
    }

    /// Evaluates when due, updating early stopping and the best metric; returns whether this
    /// step saves a checkpoint (by the save strategy, or, for `best`, a new best metric).
    fn evaluate_and_decide_save<F: Forecaster>(
        &mut self,
        model: &F,
        plan: &RunPlan<'_>,
        run: &mut RunProgress,
        epoch_end: bool,
    ) -> Result<bool, TrainError> {
        let step = run.state.global_step;
        let reached_end = step >= plan.len.max_steps;
        let mut should_save = match self.args.save_strategy {
            SaveStrategy::No | SaveStrategy::Best => false,
            SaveStrategy::Steps => step.is_multiple_of(self.args.save_steps) || reached_end,
            SaveStrategy::Epoch => epoch_end,
        };
        let Some(eval) = plan.eval else {
            return Ok(should_save);
        };
        if !interval_due(
            self.args.eval_strategy,
            self.args.eval_steps(),
            step,
            epoch_end,
        ) {
            return Ok(should_save);
        }
        let t0 = Instant::now();
        let eval_loss = self.evaluate(model, eval);
        let runtime = t0.elapsed().as_secs_f64();
        let mut entry = LogEntry {
            step,
            epoch: run.state.epoch,
            values: Default::default(),
        };
        entry.values.insert("eval_loss".into(), eval_loss);
        entry.values.insert("eval_runtime".into(), runtime);
        entry.values.insert(
            "eval_samples_per_second".into(),
            eval.len() as f64 / runtime.max(1e-9),
        );
        self.log(&plan.log_path, &mut run.state, entry)?;
        let metric = eval_loss;
        debug_assert_eq!(self.args.best_metric_name(), "eval_loss");
        if let Some(e) = run.early.as_mut() {
            if e.check(metric, run.state.best_metric) {
                run.stop = true;
                run.stopped_early = true;
            }
            run.state.resume.early_stopping_counter = e.counter;
        }
        let is_new_best = match run.state.best_metric {
            None => true,
            Some(b) if self.args.greater_is_better() => metric > b,
            Some(b) => metric < b,
        };
        if is_new_best {
            run.state.best_metric = Some(metric);
            run.state.best_global_step = Some(step);
        }
        if self.args.save_strategy == SaveStrategy::Best {
            should_save = is_new_best;
        }
        Ok(should_save)
    }

    /// The summary log line, the best model loaded back if asked, and the run's metrics.
    fn finish<F: Forecaster>(
        &mut self,
        mut model: F,
        plan: &RunPlan<'_>,
        mut run: RunProgress,
        counts: ParamCounts,
    ) -> Result<TrainOutput<F>, TrainError> {
        let runtime = run.started.elapsed().as_secs_f64().max(1e-9);
        let steps_done = run.state.global_step - run.steps_at_start;
        let train_loss = if run.state.global_step > 0 {
            run.state.resume.total_loss / run.state.global_step as f64
        } else {
            0.0
        };
        let mut final_entry = LogEntry {
            step: run.state.global_step,
            epoch: run.state.epoch,
            values: Default::default(),
        };
        final_entry.values.insert("train_runtime".into(), runtime);
        final_entry.values.insert(
            "train_samples_per_second".into(),
            run.samples_this_session as f64 / runtime,
        );
        final_entry
            .values
            .insert("train_steps_per_second".into(), steps_done as f64 / runtime);
        final_entry.values.insert("train_loss".into(), train_loss);
        self.log(&plan.log_path, &mut run.state, final_entry)?;

        if self.args.load_best_model_at_end
            && let Some(best) = &run.state.best_model_checkpoint
        {
            model = load_weights(model, &self.run_dir.join(best))?;
        }
        for cb in &mut self.callbacks {
            cb.on_train_end();
        }

        let history = &run.state.log_history;
        let train_losses: Vec<f64> = history.iter().filter_map(|e| e.get("loss")).collect();
        let eval_losses: Vec<f64> = history.iter().filter_map(|e| e.get("eval_loss")).collect();
        let min = |v: &[f64]| v.iter().copied().reduce(f64::min);
        let state = run.state;
        let metrics = TrainMetrics {
            train_loss,
            final_train_loss: train_losses.last().copied(),
            best_train_loss: min(&train_losses),
            final_eval_loss: eval_losses.last().copied(),
            best_eval_loss: min(&eval_losses),
            metric_for_best_model: self.args.best_metric_name(),
            best_metric: state.best_metric,
            best_global_step: state.best_global_step,
            best_model_checkpoint: state.best_model_checkpoint.clone(),
            train_runtime_seconds: runtime,
            train_samples_per_second: run.samples_this_session as f64 / runtime,
            train_steps_per_second: steps_done as f64 / runtime,
            total_params: counts.total,
            trainable_params: counts.trainable,
            global_step: state.global_step,
            max_steps: plan.len.max_steps,
            epoch: state.epoch,
            stopped_early: run.stopped_early,
            resumed_from_step: run.resumed_step,
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
        tsfm_io::append(path, format!("{line}\n").as_bytes())
            .map_err(|e| TrainError::io(path, e))?;
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
            "dropout_seed_rule": "derive_seed(seed, [DROPOUT_STREAM, step, micro_batch, shard])",
        });
        let scheduler = serde_json::json!({ "schedule": schedule, "last_epoch": step });
        let state_json = state.to_json();
        let dir = checkpoint::write_atomically(&self.run_dir, step, |tmp| {
            // To bytes, then through `tsfm_io` like every other file: Burn's own file writer
            // turns the disk's error into text, losing what a full disk needs to be told.
            let weights = model
                .clone()
                .into_record()
                .into_bytes()
                .map_err(|e| TrainError::checkpoint(tmp, format!("weights: {e}")))?;
            write_file_atomically(&tmp.join(WEIGHTS_FILE), &weights)?;
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

/// Loads the Burn record of checkpoint `dir` into `model`.
fn load_weights<F: Forecaster>(model: F, dir: &Path) -> Result<F, TrainError> {
    let record = ModuleRecord::load(dir.join(WEIGHTS_FILE))
        .map_err(|e| TrainError::checkpoint(dir, format!("weights: {e}")))?;
    model
        .try_load_record(record)
        .map_err(|e| TrainError::checkpoint(dir, format!("weights do not fit the model: {e}")))
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
    let checks: [(&str, u64, u64); 6] = [
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
        ("batch_shards", a.batch_shards as u64, b.batch_shards as u64),
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
