//! TTM-r2 512-96 speed on the Burn flex CPU backend, measured the way
//! `shared/reference/scripts/bench.py` measures PyTorch, so the two can be put side by side:
//!
//! - `train`: batch 64, context 512, 1 channel, one distinct batch per step; a step is forward,
//!   MSE loss (un-scaled, as granite-tsfm), backward and AdamW (lr 1e-3, weight decay 0.01)
//!   with dropout active, as bench.py's `train_plain` (5 warm-up steps, 20 timed, median);
//! - `infer`: forward of one batch of 64 without autodiff (3 warm-up calls, 20 timed, median).
//!
//! `TSFM_BENCH_BATCH=N` sets another batch for both (bench/gpu.sh's larger batches).
//!
//! Device: the flex CPU backend; `TSFM_BENCH_DEVICE=cuda[:N]` runs both measurements on CUDA
//! device N instead (a build with `--features cuda`; `bench/gpu.sh` runs it next to PyTorch on
//! the same card).
//!
//! Threads: `TSFM_BENCH_SHARDS=N` splits each training batch into N shards on N threads (the
//! trainer's `training.batch_shards`); inference splits rows over `TSFM_NUM_THREADS` threads
//! (default: every core), as `Forecaster::forecast` does for every TTM call.
//!
//! Run: `cargo bench -p tsfm-train --bench ttm_r2 [-- train|infer|profile]` (default: train
//! then infer). `profile` splits a training step into its phases. The checkpoint directory is
//! `TSFM_TTM_R2_DIR`, by default `../shared/reference/models/ttm-r2-512-96` next to the
//! workspace; without it the bench says so and exits successfully. Each measurement prints
//! one JSON line.

use std::path::PathBuf;
use std::time::Instant;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, TensorData};
use tsfm_models::{ForecastInput, Forecaster, LossKind, TtmModel};
use tsfm_train::data::SplitMix64;
use tsfm_train::shards::{Shard, loss_and_grads, split};
use tsfm_train::{GradStore, Optimizer, OptimizerConfig, set_seed};

/// The allocator the `tsfm` binary uses, so the benchmark measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A positive count from the environment variable `name`, else `default`.
fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}

/// `TSFM_BENCH_BATCH` (default 64, bench.py's batch): series per training step and per call.
fn batch() -> usize {
    env_count("TSFM_BENCH_BATCH", 64)
}

/// The device of both measurements and its name in the JSON lines.
fn bench_device() -> (Device, String) {
    match std::env::var("TSFM_BENCH_DEVICE").ok().as_deref() {
        None | Some("" | "cpu") => (Device::flex(), "burn-flex 0.22.1".into()),
        Some(name) => (cuda_device(name), format!("burn-cuda 0.22.1 ({name})")),
    }
}

#[cfg(feature = "cuda")]
fn cuda_device(name: &str) -> Device {
    let index = match name.strip_prefix("cuda") {
        Some("") => Some(0),
        Some(rest) => rest.strip_prefix(':').and_then(|n| n.parse().ok()),
        None => None,
    };
    let Some(index) = index else {
        eprintln!("TSFM_BENCH_DEVICE: expected cpu, cuda or cuda:N, got `{name}`");
        std::process::exit(2);
    };
    Device::cuda(index)
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(name: &str) -> Device {
    eprintln!(
        "TSFM_BENCH_DEVICE={name} needs a CUDA build: \
         cargo bench -p tsfm-train --bench ttm_r2 --features cuda"
    );
    std::process::exit(2);
}

fn checkpoint_dir() -> PathBuf {
    std::env::var_os("TSFM_TTM_R2_DIR").map_or_else(
        || {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/reference/models/ttm-r2-512-96")
        },
        PathBuf::from,
    )
}

/// Synthetic random walks with a random level (bench.py's `random_walk`, own generator):
/// `n` rows of `len` values.
fn random_walks(n: usize, len: usize, seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let mut normal = move || {
        // Box-Muller; u1 in (0, 1].
        let u1 = ((rng.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    };
    let mut out = Vec::with_capacity(n * len);
    for _ in 0..n {
        let mut x = 10.0 * normal();
        for _ in 0..len {
            x += normal();
            out.push(x as f32);
        }
    }
    out
}

/// `[n, len, 1]` from row-major values.
fn series(values: &[f32], n: usize, len: usize, device: &Device) -> Tensor<3> {
    Tensor::from_data(TensorData::new(values.to_vec(), [n, len, 1]), device)
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Peak resident memory of this process (Linux), MB.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

fn load(dir: &std::path::Path, device: &Device) -> TtmModel {
    let (model, warnings) = TtmModel::from_pretrained(dir, device)
        .unwrap_or_else(|e| panic!("loading {}: {e}", dir.display()));
    for w in warnings {
        eprintln!("warning: {w}");
    }
    model
}

/// Per-step batches for `steps` steps: (past `[batch, ctx, 1]`, future `[batch, h, 1]`).
fn training_batches(
    batch: usize,
    steps: usize,
    ctx: usize,
    h: usize,
    device: &Device,
) -> Vec<(Tensor<3>, Tensor<3>)> {
    let walks = random_walks(batch * steps, ctx + h, 1);
    (0..steps)
        .map(|s| {
            let rows = &walks[s * batch * (ctx + h)..(s + 1) * batch * (ctx + h)];
            let mut past = Vec::with_capacity(batch * ctx);
            let mut fut = Vec::with_capacity(batch * h);
            for r in rows.chunks_exact(ctx + h) {
                past.extend_from_slice(&r[..ctx]);
                fut.extend_from_slice(&r[ctx..]);
            }
            (
                series(&past, batch, ctx, device),
                series(&fut, batch, h, device),
            )
        })
        .collect()
}

/// `TSFM_BENCH_SHARDS` (default 1): shards of each batch, one thread each.
fn bench_shards() -> usize {
    env_count("TSFM_BENCH_SHARDS", 1)
}

/// `input`'s rows in `shards` contiguous parts, with their row counts.
fn split_rows(input: &ForecastInput, shards: usize) -> Vec<(ForecastInput, usize)> {
    let rows: Vec<usize> = (0..input.past_values.dims()[0]).collect();
    split(&rows, shards)
        .into_iter()
        .map(|part| {
            let (start, len) = (part[0], part.len());
            let mut shard = ForecastInput::context(input.past_values.clone().narrow(0, start, len));
            shard.future_values = input
                .future_values
                .as_ref()
                .map(|f| f.clone().narrow(0, start, len));
            (shard, len)
        })
        .collect()
}

fn train(dir: &std::path::Path, profile: bool) {
    let shards = bench_shards();
    let (warmup, steps) = (5, 20);
    let (base, backend) = bench_device();
    let device = base.clone().autodiff();
    set_seed(&device, 42);
    let mut model = load(dir, &base).train();
    let (ctx, h) = (model.context_length(), model.prediction_length());
    let batch = batch();
    let batches = training_batches(batch, warmup + steps, ctx, h, &device);
    // A GPU runs ahead of the host: to time phases, `profile` waits for the device after each
    // (a no-op on the CPU). `train` waits only where the loss is read back, as PyTorch's loop.
    let phase_end = |t: &Instant| {
        if profile {
            device.sync().expect("the device finishes its work");
        }
        t.elapsed().as_secs_f64()
    };
    // torch.optim.AdamW(lr=1e-3, weight_decay=0.01); tsfm skips decay on biases and norms (HF).
    let mut optimizer = Optimizer::new(OptimizerConfig::default());
    let (mut times, mut losses) = (Vec::new(), Vec::new());
    let mut phases: [Vec<f64>; 4] = Default::default();
    for (i, (past, fut)) in batches.into_iter().enumerate() {
        let mut input = ForecastInput::context(past);
        input.future_values = Some(fut);
        let t = Instant::now();
        let (loss, mut grads, t_fwd, t_bwd) = if shards > 1 {
            // The trainer's path (`training.batch_shards`): forward+backward per shard.
            let parts = split_rows(&input, shards)
                .into_iter()
                .map(|(input, series)| Shard {
                    input,
                    series,
                    dropout_seed: i as u64,
                })
                .collect();
            let (loss, grads) =
                loss_and_grads(&model, parts, LossKind::Mse, 1, shards).expect("a finite loss");
            let done = phase_end(&t);
            (loss as f32, grads, 0.0, done)
        } else {
            let loss = model.loss(&input, LossKind::Mse);
            let t_fwd = phase_end(&t);
            let g = loss.backward();
            let t_bwd = phase_end(&t);
            let mut grads = GradStore::new();
            grads.accumulate(&model, g);
            (loss.into_scalar::<f32>(), grads, t_fwd, t_bwd)
        };
        let t_collect = phase_end(&t);
        model = optimizer.step(model, &mut grads, 1e-3);
        let dt = phase_end(&t);
        losses.push(loss);
        if i >= warmup {
            times.push(dt);
            for (k, v) in [t_fwd, t_bwd - t_fwd, t_collect - t_bwd, dt - t_collect]
                .into_iter()
                .enumerate()
            {
                phases[k].push(v);
            }
        }
    }
    let med = median(&times);
    let mut rec = serde_json::json!({
        "bench": "train_plain", "impl": "tsfm", "backend": backend, "threads": shards,
        "model": "ttm-r2-512-96", "batch": batch, "warmup": warmup, "steps": steps,
        "median_step_s": round(med, 4), "samples_per_s": round(batch as f64 / med, 1),
        "first_loss": round(losses[0] as f64, 4), "last_loss": round(*losses.last().expect("steps > 0") as f64, 4),
        "step_times_s": times.iter().map(|t| round(*t, 3)).collect::<Vec<_>>(),
        "peak_rss_mb": peak_rss_mb(),
    });
    if profile {
        rec["median_phase_s"] = serde_json::json!({
            "forward_and_loss": round(median(&phases[0]), 4),
            "backward": round(median(&phases[1]), 4),
            "collect_grads": round(median(&phases[2]), 4),
            "optimizer_step": round(median(&phases[3]), 4),
        });
    }
    println!("{rec}");
}

fn infer(dir: &std::path::Path) {
    let threads = tsfm_models::parallel::available_threads();
    let (warmup, iters) = (3, 20);
    let (device, backend) = bench_device();
    let model = load(dir, &device).valid();
    let ctx = model.context_length();
    let batch = batch();
    let x = series(&random_walks(batch, ctx, 2), batch, ctx, &device);
    let input = ForecastInput::context(x);
    let mut times = Vec::new();
    let mut checksum = 0.0f32;
    for i in 0..warmup + iters {
        let t = Instant::now();
        // Reading the values back is part of a forecast (and forces any lazy work).
        // Rows are split over `TSFM_NUM_THREADS` (default: every core) inside `forecast`.
        let values = model
            .forecast(&input)
            .expect("a valid batch")
            .point
            .into_data();
        let dt = t.elapsed().as_secs_f64();
        checksum += values.as_slice::<f32>().expect("f32 output")[0];
        if i >= warmup {
            times.push(dt);
        }
    }
    let med = median(&times);
    let min = times.iter().copied().fold(f64::INFINITY, f64::min);
    let rec = serde_json::json!({
        "bench": "infer", "impl": "tsfm", "backend": backend, "threads": threads,
        "model": "ttm", "batch": batch, "context": ctx, "horizon": model.prediction_length(),
        "warmup": warmup, "iters": iters, "median_call_s": round(med, 4),
        "min_call_s": round(min, 4), "samples_per_s": round(batch as f64 / med, 1),
        "call_times_s": times.iter().map(|t| round(*t, 4)).collect::<Vec<_>>(),
        "checksum": checksum, "peak_rss_mb": peak_rss_mb(),
    });
    println!("{rec}");
}

fn main() {
    let dir = checkpoint_dir();
    if !dir.join("model.safetensors").is_file() {
        println!(
            "ttm_r2 bench skipped: no TTM-r2 checkpoint at {} (set TSFM_TTM_R2_DIR to a directory \
             with config.json and model.safetensors)",
            dir.display()
        );
        return;
    }
    // `cargo bench` passes `--bench`; the first other argument picks the measurement.
    let what = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .unwrap_or_else(|| "all".into());
    match what.as_str() {
        "train" => train(&dir, false),
        "profile" => train(&dir, true),
        "infer" => infer(&dir),
        "all" => {
            train(&dir, false);
            infer(&dir);
        }
        other => {
            eprintln!("unknown measurement `{other}`: use train, infer, profile or all");
            std::process::exit(2);
        }
    }
}
