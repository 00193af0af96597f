//! A fuzz campaign: `tsfm-fuzz [--seconds N | --cpu-seconds N] [--seed S] [--out DIR]
//! [TARGET...]`: for N seconds of wall time, or of this process's CPU time (Linux; a busy
//! machine then takes longer in wall time but does the same work).
//!
//! Round-robin over the targets (all by default), each input a mutation of a corpus input or
//! of an input accepted earlier in the campaign (inputs that get past validation reach deeper
//! code). Before each run the input is written to `DIR/current-{target}.bin`, so an abort
//! (out of memory, stack overflow) leaves the culprit behind. A panic is saved under
//! `DIR/crashes/`; an input that runs longer than 30 s (of CPU time with `--cpu-seconds`) is
//! saved and ends the campaign; an allocation over 2 GiB aborts it (the input that asked for
//! it is the current one).
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tsfm_fuzz::mutate::{Rng, mutate};
use tsfm_fuzz::{TARGETS, Verdict, Workspace, bundled_models, check, corpus};

/// No input of a few kilobytes justifies a single allocation this large.
const MAX_ALLOCATION: usize = 2 << 30;

struct Guarded;

unsafe impl GlobalAlloc for Guarded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ALLOCATION {
            eprintln!(
                "tsfm-fuzz: an allocation of {} bytes; the input is in current-*.bin",
                layout.size()
            );
            std::process::abort();
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `alloc` above, i.e. from the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Guarded = Guarded;

#[derive(Default)]
struct Tally {
    tried: u64,
    accepted: u64,
    refused: u64,
    panicked: u64,
}

struct Args {
    seconds: u64,
    cpu: bool,
    seed: u64,
    out: PathBuf,
    targets: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        seconds: 60,
        cpu: false,
        seed: 1,
        out: PathBuf::from("fuzz-out"),
        targets: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or(format!("{flag} needs a value"));
        match a.as_str() {
            "--seconds" | "--cpu-seconds" => {
                args.cpu = a == "--cpu-seconds";
                args.seconds = value(&a)?.parse().map_err(|e| format!("{a}: {e}"))?;
            }
            "--seed" => {
                args.seed = value("--seed")?
                    .parse()
                    .map_err(|e| format!("--seed: {e}"))?
            }
            "--out" => args.out = value("--out")?.into(),
            t if TARGETS.contains(&t) => args.targets.push(t.to_string()),
            other => {
                return Err(format!(
                    "unknown argument `{other}`; usage: tsfm-fuzz [--seconds N] [--seed S] \
                     [--out DIR] [TARGET...] with targets {}",
                    TARGETS.join(", ")
                ));
            }
        }
    }
    if args.targets.is_empty() {
        args.targets = TARGETS.iter().map(|t| t.to_string()).collect();
    }
    Ok(args)
}

/// Milliseconds on the campaign's clock: CPU time of the campaign thread with `--cpu-seconds`
/// (a loaded or paused machine then never looks like a hang), else wall time since `epoch`.
fn clock_ms(cpu: bool, epoch: Instant) -> u64 {
    let elapsed = if cpu { cpu_time() } else { epoch.elapsed() };
    elapsed.as_millis().max(1) as u64
}

/// Ends the process when one input runs too long (a hang), naming the saved input.
fn watchdog(started: Arc<AtomicU64>, cpu: bool, epoch: Instant) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_secs(1));
            let at = started.load(Ordering::SeqCst);
            if at > 0 && clock_ms(cpu, epoch).saturating_sub(at) > 30_000 {
                eprintln!("tsfm-fuzz: an input ran over 30 s; it is in current-*.bin");
                std::process::exit(3);
            }
        }
    });
}

/// CPU time of the campaign's (main) thread: `/proc/self/schedstat` is the thread-group
/// leader's, whichever thread reads it (nanoseconds on a CPU); zero where it does not exist.
fn cpu_time() -> Duration {
    let text = std::fs::read_to_string("/proc/self/schedstat").unwrap_or_default();
    let nanos = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(nanos)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    // Panics are findings, reported in the summary; their default output would flood it.
    std::panic::set_hook(Box::new(|_| {}));
    let crashes = args.out.join("crashes");
    std::fs::create_dir_all(&crashes).expect("the output folder");
    let ws = Workspace::new(&bundled_models()).expect("a scratch folder with the checkpoints");
    let mut pools: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    for t in &args.targets {
        let seeds: Vec<Vec<u8>> = corpus(t)
            .unwrap_or_default()
            .into_iter()
            .map(|(_, b)| b)
            .collect();
        pools.insert(
            t.clone(),
            if seeds.is_empty() {
                vec![Vec::new()]
            } else {
                seeds
            },
        );
    }
    let mut tally: BTreeMap<String, Tally> = BTreeMap::new();
    let mut rng = Rng::new(args.seed);
    let epoch = Instant::now();
    let started = Arc::new(AtomicU64::new(0));
    watchdog(started.clone(), args.cpu, epoch);
    let deadline = Duration::from_secs(args.seconds);
    let spent = || {
        if args.cpu {
            cpu_time()
        } else {
            epoch.elapsed()
        }
    };
    'campaign: while spent() < deadline {
        for t in &args.targets {
            if spent() >= deadline {
                break 'campaign;
            }
            let pool = &pools[t];
            let input = mutate(&pool[rng.below(pool.len())], pool, &mut rng);
            let current = args.out.join(format!("current-{t}.bin"));
            std::fs::write(&current, &input).expect("writing the current input");
            started.store(clock_ms(args.cpu, epoch), Ordering::SeqCst);
            let verdict = check(t, &ws, &input);
            started.store(0, Ordering::SeqCst);
            let n = tally.entry(t.clone()).or_default();
            n.tried += 1;
            match verdict {
                Verdict::Accepted => {
                    n.accepted += 1;
                    let pool = pools.get_mut(t).expect("a pool per target");
                    if pool.len() < 256 {
                        pool.push(input);
                    }
                }
                Verdict::Refused(_) => n.refused += 1,
                Verdict::Panicked(message) => {
                    n.panicked += 1;
                    let path = crashes.join(format!("{t}-{}.bin", n.tried));
                    std::fs::write(&path, &input).expect("saving a crash");
                    std::fs::write(path.with_extension("txt"), &message).expect("saving a crash");
                    println!("PANIC {t}: {message} (input {})", path.display());
                }
            }
        }
    }
    let mut total = Tally::default();
    println!("target          inputs   accepted   refused   panics");
    for (t, n) in &tally {
        println!(
            "{t:<14} {:>8} {:>10} {:>9} {:>8}",
            n.tried, n.accepted, n.refused, n.panicked
        );
        total.tried += n.tried;
        total.accepted += n.accepted;
        total.refused += n.refused;
        total.panicked += n.panicked;
    }
    println!(
        "total          {:>8} {:>10} {:>9} {:>8}   ({} s wall, {} s CPU, seed {})",
        total.tried,
        total.accepted,
        total.refused,
        total.panicked,
        epoch.elapsed().as_secs(),
        cpu_time().as_secs(),
        args.seed
    );
    std::process::exit(i32::from(total.panicked > 0));
}
