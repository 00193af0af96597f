//! Learning rates at given steps, against HF `get_scheduler` / torch `OneCycleLR` formulas
//! worked out by hand.

use tsfm_train::schedule::{LrSchedule, warmup_steps};
use tsfm_train::{SchedulerKind, TrainingArgs};

fn sched(kind: SchedulerKind, warmup: u64, total: u64) -> LrSchedule {
    let args = TrainingArgs {
        lr_scheduler_type: kind,
        learning_rate: 1.0,
        warmup_steps: warmup,
        lr_gamma: 0.5,
        ..Default::default()
    };
    LrSchedule::from_args(&args, total)
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

#[test]
fn linear_warms_up_then_decays_to_zero() {
    let s = sched(SchedulerKind::Linear, 2, 10);
    let got: Vec<f64> = [0, 1, 2, 6, 9, 10, 12].iter().map(|&t| s.lr(t)).collect();
    assert_eq!(got, vec![0.0, 0.5, 1.0, 0.5, 0.125, 0.0, 0.0]);
}

#[test]
fn cosine_follows_half_cosine_after_warmup() {
    let s = sched(SchedulerKind::Cosine, 2, 10);
    close(s.lr(1), 0.5);
    close(s.lr(2), 1.0);
    // progress 0.25: 0.5 * (1 + cos(pi/4))
    close(s.lr(4), 0.853_553_390_593_273_8);
    close(s.lr(6), 0.5);
    close(s.lr(10), 0.0);
}

#[test]
fn constant_schedules() {
    let c = sched(SchedulerKind::Constant, 4, 10);
    assert_eq!(
        (c.lr(0), c.lr(9)),
        (1.0, 1.0),
        "HF `constant` ignores warm-up"
    );
    let w = sched(SchedulerKind::ConstantWithWarmup, 4, 10);
    assert_eq!(
        [w.lr(0), w.lr(1), w.lr(3), w.lr(4), w.lr(100)],
        [0.0, 0.25, 0.75, 1.0, 1.0]
    );
}

#[test]
fn exponential_decays_by_gamma_per_step_after_warmup() {
    let s = sched(SchedulerKind::Exponential, 2, 10);
    assert_eq!([s.lr(1), s.lr(2), s.lr(3), s.lr(5)], [0.5, 1.0, 0.5, 0.125]);
}

#[test]
fn one_cycle_matches_torch_phases() {
    // max_lr 1, pct_start 0.3, div 25, final_div 1e4, 10 steps: phase 1 ends at step 2.
    let s = sched(SchedulerKind::OneCycle, 0, 10);
    close(s.lr(0), 0.04);
    close(s.lr(1), 0.52);
    close(s.lr(2), 1.0);
    // phase 2 from step 2 to 9, pct = 2/7: min + (max - min)/2 * (cos(2pi/7) + 1)
    close(s.lr(4), 0.811_745_653_949_763_1);
    close(s.lr(9), 4e-6);
}

#[test]
fn warmup_ratio_rounds_up_like_hf() {
    assert_eq!(warmup_steps(0, 0.25, 10), 3);
    assert_eq!(warmup_steps(0, 0.1, 10), 1);
    assert_eq!(warmup_steps(0, 0.0, 10), 0);
    assert_eq!(warmup_steps(5, 0.5, 10), 5, "explicit steps win");
    let args = TrainingArgs {
        warmup_ratio: 0.15,
        learning_rate: 1.0,
        ..Default::default()
    };
    let s = LrSchedule::from_args(&args, 10);
    assert_eq!(s.warmup_steps, 2);
    assert_eq!(s.lr(1), 0.5);
}

#[test]
fn cosine_cycles_and_min_lr_ratio_follow_hf_cosine_with_min_lr() {
    let args = TrainingArgs {
        lr_scheduler_type: SchedulerKind::Cosine,
        learning_rate: 1.0,
        warmup_steps: 0,
        cosine_num_cycles: 1.0,
        min_lr_ratio: 0.1,
        ..Default::default()
    };
    let s = LrSchedule::from_args(&args, 8);
    // progress 0.25 with one full wave: 0.5 * (1 + cos(pi/2)) = 0.5 -> 0.1 + 0.9 * 0.5
    close(s.lr(2), 0.55);
    // progress 0.5: cos(pi) = -1 -> the floor
    close(s.lr(4), 0.1);
    // progress 1: back up to the base rate
    close(s.lr(8), 1.0);
}

#[test]
fn linear_decays_to_the_min_lr_ratio_floor() {
    let args = TrainingArgs {
        lr_scheduler_type: SchedulerKind::Linear,
        learning_rate: 2.0,
        min_lr_ratio: 0.25,
        ..Default::default()
    };
    let s = LrSchedule::from_args(&args, 10);
    close(s.lr(0), 2.0);
    // half way: 2 * (0.25 + 0.75 * 0.5)
    close(s.lr(5), 1.25);
    close(s.lr(10), 0.5);
}
