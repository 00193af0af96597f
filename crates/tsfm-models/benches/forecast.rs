//! Inference speed and peak memory of any checkpoint, measured the way
//! `shared/reference/scripts/bench.py infer MODEL` measures the official packages, so the two
//! can be put side by side (`bench/chronos.sh` runs both, interleaved):
//! batch 64 synthetic random walks (seeded), context 512, horizon 64, the model's own
//! quantiles; 3 warm-up calls, then timed calls for at least 10 s (at least 3), median.
//!
//! Run: `cargo bench -p tsfm-models --bench forecast -- DIR [--horizon N] [--num-samples N]
//! [--greedy]`, or as `bench/chronos.sh`'s Rust hook: `... -- infer MODEL --models DIR`
//! (the checkpoint `DIR/chronos-MODEL`). DIR is a checkpoint directory (`config.json` +
//! `model.safetensors`). Sampling
//! models (Chronos-T5) draw `--num-samples` paths (default 20). Prints one JSON line:
//! samples/s (series forecast per second) and the process's peak RSS.

use std::path::PathBuf;
use std::time::Instant;

use burn::Tensor;
use burn::module::Module;
use burn::tensor::{Device, TensorData};
use tsfm_models::{Decoding, ForecastInput, ForecastOptions, Forecaster, load_forecaster_in};

const BATCH: usize = 64;
const CONTEXT: usize = 512;

struct Args {
    dir: PathBuf,
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
    if let (Some(name), Some(models)) = (name, models) {
        dir = Some(models.join(format!("chronos-{name}")));
    }
    Some(Args {
        dir: dir?,
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
    let mut rng = Rng(seed);
    let mut out = Vec::with_capacity(n * len);
    for _ in 0..n {
        let mut x = 10.0 * rng.normal();
        for _ in 0..len {
            x += rng.normal();
            out.push(x as f32);
        }
    }
    Tensor::from_data(TensorData::new(out, [n, len, 1]), device)
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

fn main() {
    let Some(args) = args() else {
        eprintln!(
            "usage: cargo bench -p tsfm-models --bench forecast -- DIR [--horizon N] [--num-samples N] [--greedy]"
        );
        return;
    };
    let device = Device::flex();
    let loaded = match load_forecaster_in(&args.dir, &device) {
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
