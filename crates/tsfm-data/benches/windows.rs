//! Windows per second when filling batches (context 512, horizon 96, batch 64) from the
//! pipeline output on synthetic 5-minute data. Run: `cargo bench -p tsfm-data --bench windows`.

use std::time::Instant;
use tsfm_data::pipeline::{PipelineOptions, run};
use tsfm_data::{Batch, Channel, Series};

fn synthetic(id: usize, len: usize) -> Series {
    let wave = |i: usize, p: f64| ((i as f64 + id as f64 * 7.0) / p).sin();
    Series {
        id: format!("s{id}"),
        timestamps: (0..len as i64).map(|i| i * 300).collect(),
        interval_min: 5,
        channels: vec![
            Channel {
                name: "bg".into(),
                values: (0..len).map(|i| 7.0 + 3.0 * wave(i, 40.0)).collect(),
            },
            Channel {
                name: "hr".into(),
                values: (0..len).map(|i| 70.0 + 10.0 * wave(i, 13.0)).collect(),
            },
        ],
        unit: Some("mmol/L".into()),
    }
}

fn main() {
    let series: Vec<Series> = (0..8).map(|i| synthetic(i, 20_000)).collect();
    let opts = PipelineOptions {
        past_covariates: vec!["hr".into()],
        context_length: 512,
        horizon: 96,
        ..Default::default()
    };
    let t = Instant::now();
    let prepared = run(series, &opts).expect("synthetic data is valid");
    println!(
        "pipeline: {} rows -> {} train windows in {:.3} s",
        prepared.report.rows,
        prepared.train.len(),
        t.elapsed().as_secs_f64()
    );
    let n = prepared.train.len();
    let mut batch = Batch::default();
    let mut indices = vec![0usize; 64];
    let mut filled = 0usize;
    let mut checksum = 0.0f32;
    let t = Instant::now();
    let mut k = 0usize;
    while t.elapsed().as_secs_f64() < 2.0 {
        for (j, idx) in indices.iter_mut().enumerate() {
            *idx = (k * 64 + j).wrapping_mul(2_654_435_761) % n; // scattered access
        }
        prepared.train.fill_batch(&indices, &mut batch);
        checksum += batch.past_values[0];
        filled += indices.len();
        k += 1;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "fill_batch: {filled} windows in {secs:.2} s = {:.0} windows/s ({:.0} batches/s of 64; checksum {checksum:.1})",
        filled as f64 / secs,
        k as f64 / secs
    );
}
