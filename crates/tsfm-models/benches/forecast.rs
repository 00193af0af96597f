//! Inference speed and peak memory of any checkpoint, measured the way
//! `shared/reference/scripts/bench.py infer MODEL` measures the official packages, so the two
//! can be put side by side (`bench/chronos.sh` runs both, interleaved):
//! batch 64 synthetic random walks (seeded), context 512, horizon 64, the model's own
//! quantiles; 3 warm-up calls, then timed calls for at least 10 s (at least 3), median.
//!
//! Run: `cargo bench -p tsfm-models --bench forecast -- DIR [--horizon N] [--num-samples N]
//! [--greedy]`, or as `bench/chronos.sh`'s and `bench/timesfm.sh`'s Rust hook:
//! `... -- infer MODEL --models DIR`. MODEL `bolt-tiny`, `bolt-small`, `t5-tiny`: the checkpoint
//! `DIR/chronos-MODEL`. MODEL `timesfm`: `DIR/timesfm-2.5-200m` through
//! `Forecaster::forecast_with` with the official package's recommended `ForecastConfig`
//! (max_context 512, max_horizon 128, all five flags on: flip invariance doubles the batch);
//! `timesfm-raw`: the same checkpoint's `TimesFmModel::decode(64, ..)` once (one prefill, no
//! flip pass, heads on the last patch only), like the package's `module.decode`.
//! DIR is a checkpoint directory (`config.json` + `model.safetensors`). Sampling
//! models (Chronos-T5) draw `--num-samples` paths (default 20). Prints one JSON line:
//! samples/s (series forecast per second), CPU seconds per call and the process's peak RSS.
//! TimesFM calls take seconds: one warm-up call instead of 3.
//! MODEL `chronos2`: `DIR/chronos2-120m` through `Chronos2Model::predict` (64 rows, each its own
//! group); `chronos2-cov`: `Chronos2Model::predict_with_future` on 64 groups of 3 rows (target,
//! a past-only covariate, a known-future covariate: 192 rows, future values NaN except on the
//! known-future row), as `bench/python/bench_chronos2.py` feeds `Chronos2Pipeline.predict`.
//! Both print `check_median`, the first series' median forecast at a few steps, so
//! `bench/chronos2.sh` can check the two sides computed the same thing.

use std::path::PathBuf;
use std::time::Instant;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, TensorData};
use tsfm_models::any::LoadOptions;
use tsfm_models::chronos_bolt::scaler::Context;
use tsfm_models::timesfm::{DecodeInput, ForecastSettings};
use tsfm_models::{
    Chronos2Model, Decoding, ForecastInput, ForecastOptions, Forecaster, TimesFmModel,
    load_forecaster_in_with,
};

/// The allocator the `tsfm` binary uses, so the benchmark measures what users run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH: usize = 64;
const CONTEXT: usize = 512;

/// What one timed call runs.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// `Forecaster::forecast_with` (every family).
    Forecast,
    /// TimesFM with the official recommended `ForecastConfig` (max_context 512, max_horizon 128).
    TimesFm,
    /// `TimesFmModel::decode` once.
    TimesFmRaw,
    /// `Chronos2Model::predict`, 64 univariate rows.
    Chronos2,
    /// `Chronos2Model::predict_with_future`, 64 groups of target + 2 covariates.
    Chronos2Cov,
}

struct Args {
    dir: PathBuf,
    mode: Mode,
    horizon: usize,
    num_samples: usize,
    greedy: bool,
}

fn args() -> Option<Args> {
    let mut it = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut dir = None;
    let (mut horizon, mut num_samples, mut greedy) = (64, 20, false);
    let (mut name, mut models) = (None, None);
    while let Some(a) = it.next() {
        match a.as_str() {
            "infer" => name = it.next(),
            "--models" => models = it.next().map(PathBuf::from),
            "--horizon" => horizon = it.next()?.parse().ok()?,
            "--num-samples" => num_samples = it.next()?.parse().ok()?,
            "--greedy" => greedy = true,
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let mut mode = Mode::Forecast;
    if let (Some(name), Some(models)) = (name, models) {
        dir = Some(match name.as_str() {
            "timesfm" | "timesfm-raw" => {
                mode = if name == "timesfm" {
                    Mode::TimesFm
                } else {
                    Mode::TimesFmRaw
                };
                models.join("timesfm-2.5-200m")
            }
            "chronos2" | "chronos2-cov" => {
                mode = if name == "chronos2" {
                    Mode::Chronos2
                } else {
                    Mode::Chronos2Cov
                };
                models.join("chronos2-120m")
            }
            _ => models.join(format!("chronos-{name}")),
        });
    }
    Some(Args {
        dir: dir?,
        mode,
        horizon,
        num_samples,
        greedy,
    })
}

/// SplitMix64 (Steele, Lea and Flood 2014): the bench's own seeded generator.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Box-Muller; u1 in (0, 1].
    fn normal(&mut self) -> f64 {
        let u1 = ((self.next_u64() >> 11) as f64 + 1.0) / (1u64 << 53) as f64;
        let u2 = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// `[n, len, 1]` random walks with a random level (bench.py's `random_walk`).
fn random_walks(n: usize, len: usize, seed: u64, device: &Device) -> Tensor<3> {
    Tensor::from_data(
        TensorData::new(random_walk_values(n, len, seed), [n, len, 1]),
        device,
    )
}

fn random_walk_values(n: usize, len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n * len);
    for _ in 0..n {
        let mut x = 10.0 * rng.normal();
        for _ in 0..len {
            x += rng.normal();
            out.push(x as f32);
        }
    }
    out
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// User + system CPU seconds of this process (all threads), from `/proc/self/stat`.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // Linux reports clock ticks of USER_HZ = 100 on every common configuration.
    f.iter().sum::<f64>() / 100.0
}

fn loadavg_1m() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Warm-up calls, then timed calls for at least 10 s (at least 3): (wall times, median CPU
/// seconds per call, load average before).
fn measure(warmup: usize, mut run: impl FnMut()) -> (Vec<f64>, f64, Option<f64>) {
    for _ in 0..warmup {
        run();
    }
    let load = loadavg_1m();
    let (mut times, mut cpus) = (Vec::new(), Vec::new());
    let start = Instant::now();
    while times.len() < 3 || start.elapsed().as_secs_f64() < 10.0 {
        let (c, t) = (cpu_s(), Instant::now());
        run();
        times.push(t.elapsed().as_secs_f64());
        cpus.push(cpu_s() - c);
    }
    (times, median(&mut cpus), load)
}

fn opt_json(v: Option<f64>, digits: usize) -> String {
    v.map_or("null".into(), |v| format!("{v:.digits$}"))
}

/// `timesfm` / `timesfm-raw`.
fn timesfm(args: &Args, device: &Device) {
    let settings = ForecastSettings {
        max_context: CONTEXT,
        max_horizon: Some(128),
        normalize_inputs: true,
        use_continuous_quantile_head: true,
        force_flip_invariance: true,
        infer_is_positive: true,
        fix_quantile_crossing: true,
    };
    let options = LoadOptions {
        timesfm: Some(settings),
        ..LoadOptions::default()
    };
    let load = Instant::now();
    let (times, cpu, load1) = if args.mode == Mode::TimesFm {
        let loaded = match load_forecaster_in_with(&args.dir, device, &options) {
            Ok(l) => l.model.valid(),
            Err(e) => return eprintln!("{}: {e}", args.dir.display()),
        };
        eprintln!("loaded in {:.2} s", load.elapsed().as_secs_f64());
        let input = ForecastInput::context(random_walks(BATCH, CONTEXT, 0, device));
        let options = ForecastOptions {
            horizon: Some(args.horizon),
            quantile_levels: None,
            decoding: None,
        };
        measure(1, || {
            let f = loaded.forecast_with(&input, &options).expect("forecast");
            assert_eq!(f.point.dims(), [BATCH, args.horizon, 1]);
            let _ = f.point.into_data();
        })
    } else {
        let model = match TimesFmModel::from_pretrained_with(&args.dir, device, &options) {
            Ok((m, _)) => m.valid(),
            Err(e) => return eprintln!("{}: {e}", args.dir.display()),
        };
        eprintln!("loaded in {:.2} s", load.elapsed().as_secs_f64());
        let input = DecodeInput {
            rows: BATCH,
            len: CONTEXT,
            values: random_walk_values(BATCH, CONTEXT, 0),
            masked: vec![false; BATCH * CONTEXT],
        };
        measure(1, || {
            let d = model.decode(args.horizon, &input, false);
            assert_eq!(d.point.len(), BATCH * 128 * 10);
        })
    };
    let mut sorted = times.clone();
    let per_call = median(&mut sorted);
    let name = if args.mode == Mode::TimesFm {
        "timesfm"
    } else {
        "timesfm-raw"
    };
    println!(
        "{{\"side\":\"rust\",\"bench\":\"infer\",\"impl\":\"tsfm\",\"model\":\"{name}\",\"dir\":\"{}\",\"batch\":{BATCH},\"context\":{CONTEXT},\"horizon\":{},\"calls\":{},\"median_s\":{per_call:.5},\"median_call_s\":{per_call:.5},\"min_call_s\":{:.5},\"samples_per_s\":{:.2},\"median_cpu_s_per_call\":{cpu:.3},\"peak_rss_mb\":{},\"loadavg_1m_before\":{},\"call_times_s\":{:?}}}",
        args.dir.display(),
        args.horizon,
        times.len(),
        sorted[0],
        BATCH as f64 / per_call,
        opt_json(peak_rss_mb(), 1),
        opt_json(load1, 2),
        times
            .iter()
            .map(|t| (t * 1e4).round() / 1e4)
            .collect::<Vec<_>>(),
    );
}

/// The first series' median forecast at these steps goes into the JSON line (`check_median`).
const CHECK_STEPS: [usize; 5] = [0, 15, 31, 47, 63];

/// `chronos2` / `chronos2-cov`: one `predict` call per measurement, one model forward (horizon
/// 64 = 4 output patches, no unrolling).
fn chronos2(args: &Args, device: &Device) {
    let load = Instant::now();
    let model = match Chronos2Model::from_pretrained(&args.dir, device) {
        Ok((m, _)) => m.valid(),
        Err(e) => return eprintln!("{}: {e}", args.dir.display()),
    };
    eprintln!("loaded in {:.2} s", load.elapsed().as_secs_f64());
    let target = random_walk_values(BATCH, CONTEXT, 0);
    let cov = args.mode == Mode::Chronos2Cov;
    // Rows per group: the target alone, or target, `a` (past-only), `b` (known-future).
    let per_group = if cov { 3 } else { 1 };
    let rows = BATCH * per_group;
    let (context, future) = if cov {
        // Walk 2i is series i's `a`, walk 2i+1 its `b` (CONTEXT past + horizon future steps).
        let (h, w) = (args.horizon, CONTEXT + args.horizon);
        let walks = random_walk_values(2 * BATCH, w, 1);
        let (mut context, mut future) = (Vec::new(), vec![f32::NAN; rows * h]);
        for i in 0..BATCH {
            let (a, b) = (&walks[2 * i * w..], &walks[(2 * i + 1) * w..]);
            context.extend_from_slice(&target[i * CONTEXT..(i + 1) * CONTEXT]);
            context.extend_from_slice(&a[..CONTEXT]);
            context.extend_from_slice(&b[..CONTEXT]);
            let known = (3 * i + 2) * h;
            future[known..known + h].copy_from_slice(&b[CONTEXT..w]);
        }
        (context, Some((future, h)))
    } else {
        (target, None)
    };
    let values = Tensor::<2>::from_data(TensorData::new(context, [rows, CONTEXT]), device);
    let context = Context::from_nan(values, None);
    let groups: Vec<i64> = (0..rows).map(|r| (r / per_group) as i64).collect();
    let median_at = model
        .quantile_levels()
        .iter()
        .position(|&q| q == 0.5)
        .expect("Chronos-2 checkpoints have the 0.5 level");
    let mut check = Vec::new();
    let (times, cpu, load1) = measure(1, || {
        let out = model
            .predict_with_future(
                context.clone(),
                Some(groups.clone()),
                future.clone(),
                args.horizon,
            )
            .expect("Chronos-2 predict");
        let [r, _, h] = out.dims();
        assert_eq!([r, h], [rows, args.horizon]);
        // The host copy ends the call; row 0 is the first series' target.
        let values = out.into_data().try_to_vec::<f32>().expect("f32 forecast");
        check = CHECK_STEPS.map(|s| values[median_at * h + s]).to_vec();
    });
    let mut sorted = times.clone();
    let per_call = median(&mut sorted);
    let name = if cov { "chronos2-cov" } else { "chronos2" };
    println!(
        "{{\"side\":\"rust\",\"bench\":\"infer\",\"impl\":\"tsfm\",\"model\":\"{name}\",\"dir\":\"{}\",\"batch\":{BATCH},\"rows\":{rows},\"context\":{CONTEXT},\"horizon\":{},\"calls\":{},\"median_s\":{per_call:.5},\"median_call_s\":{per_call:.5},\"min_call_s\":{:.5},\"samples_per_s\":{:.2},\"median_cpu_s_per_call\":{cpu:.3},\"peak_rss_mb\":{},\"loadavg_1m_before\":{},\"check_median\":{:?},\"call_times_s\":{:?}}}",
        args.dir.display(),
        args.horizon,
        times.len(),
        sorted[0],
        BATCH as f64 / per_call,
        opt_json(peak_rss_mb(), 1),
        opt_json(load1, 2),
        check,
        times
            .iter()
            .map(|t| (t * 1e4).round() / 1e4)
            .collect::<Vec<_>>(),
    );
}

fn main() {
    let Some(args) = args() else {
        eprintln!(
            "usage: cargo bench -p tsfm-models --bench forecast -- DIR [--horizon N] [--num-samples N] [--greedy]"
        );
        return;
    };
    let device = Device::flex();
    match args.mode {
        Mode::Forecast => {}
        Mode::TimesFm | Mode::TimesFmRaw => return timesfm(&args, &device),
        Mode::Chronos2 | Mode::Chronos2Cov => return chronos2(&args, &device),
    }
    let loaded = match load_forecaster_in_with(&args.dir, &device, &LoadOptions::default()) {
        Ok(l) => l.model.valid(),
        Err(e) => {
            eprintln!("{}: {e}", args.dir.display());
            return;
        }
    };
    let info = loaded.info();
    let decoding = info.sampling.clone().map(|mut s| {
        s.num_samples = args.num_samples;
        if args.greedy {
            Decoding::Greedy
        } else {
            Decoding::Sample(s)
        }
    });
    let options = ForecastOptions {
        horizon: Some(args.horizon),
        quantile_levels: None,
        decoding,
    };
    let input = ForecastInput::context(random_walks(BATCH, CONTEXT, 0, &device));
    let run = || {
        let f = loaded.forecast_with(&input, &options).expect("forecast");
        // Wait for the values: the host copy ends the call.
        let _ = f.point.into_data();
    };
    for _ in 0..3 {
        run();
    }
    let mut times = Vec::new();
    let start = Instant::now();
    while times.len() < 3 || start.elapsed().as_secs_f64() < 10.0 {
        let t = Instant::now();
        run();
        times.push(t.elapsed().as_secs_f64());
    }
    let per_call = median(&mut times);
    let min_call = times[0];
    println!(
        "{{\"bench\":\"infer\",\"impl\":\"tsfm\",\"model\":\"{}\",\"model_type\":\"{}\",\"batch\":{BATCH},\"context\":{CONTEXT},\"horizon\":{},\"num_samples\":{},\"calls\":{},\"median_s\":{per_call:.5},\"min_call_s\":{min_call:.5},\"samples_per_s\":{:.1},\"peak_rss_mb\":{}}}",
        args.dir.display(),
        info.model_type,
        args.horizon,
        if info.sampling.is_some() {
            args.num_samples
        } else {
            0
        },
        times.len(),
        BATCH as f64 / per_call,
        peak_rss_mb().map_or("null".into(), |m| format!("{m:.1}"))
    );
}
