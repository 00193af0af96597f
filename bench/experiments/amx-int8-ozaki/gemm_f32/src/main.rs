//! One f32 product `[m, k] x [k, n]` through the `gemm` crate (row-major operands, as Burn
//! calls it), one thread, timed six times: the f32 side of `../ozaki_int8.c`.
use std::time::Instant;
fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (m, k, n) = (a[0], a[1], a[2]);
    let x: Vec<f32> = (0..m * k)
        .map(|i| ((i * 7919) % 1000) as f32 * 1e-3)
        .collect();
    let w: Vec<f32> = (0..k * n)
        .map(|i| ((i * 104729) % 1000) as f32 * 1e-3)
        .collect();
    let mut out = vec![0f32; m * n];
    for _ in 0..6 {
        let t = Instant::now();
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                false,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        let s = t.elapsed().as_secs_f64();
        println!(
            "{m}x{k}x{n}: {:.2} ms, {:.0} GFLOP/s",
            s * 1e3,
            2.0 * (m * k * n) as f64 / s / 1e9
        );
    }
}
