//! Parse + rebuild the demo BrisT1D train.csv.gz; prints rows/s. `cargo bench -p tsfm-data`.

use std::path::PathBuf;
use std::time::Instant;

use tsfm_data::sources::{SourceKind, SourceOptions, load};

fn main() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../data/demo/brist1d/train.csv.gz");
    let opts = SourceOptions::new(SourceKind::BrisT1d, &path);
    let rows = 14_318.0; // data rows of the demo train.csv
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let out = load(&opts).expect("demo loads");
        std::hint::black_box(&out);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "bris_t1d train.csv.gz: best of 5 {best:.3} s, {:.0} rows/s",
        rows / best
    );
}
