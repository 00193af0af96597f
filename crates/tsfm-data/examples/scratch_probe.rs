use tsfm_data::sources::*;
fn main() {
    for f in std::fs::read_dir("tests/data/bad").unwrap() {
        let p = f.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name.ends_with(".md") { continue; }
        let kind = if name.starts_with("brist1d") { SourceKind::BrisT1d } else { SourceKind::Aleppo };
        let o = SourceOptions::new(kind, &p);
        match load(&o) {
            Ok(out) => println!("OK {name}: {} series, warnings {:?}", out.series.len(), out.warnings),
            Err(e) => println!("ERR {name}: {:?} {e}", e.input_kind()),
        }
    }
    for (k, p) in [(SourceKind::BrisT1d, "/work/main/data/demo/brist1d/train.csv.gz"), (SourceKind::Aleppo, "/work/main/data/demo/aleppo/Data Tables")] {
        let t = std::time::Instant::now();
        let out = load(&SourceOptions::new(k, p)).unwrap();
        println!("{:?} in {:?}; warnings {:?}", k, t.elapsed(), out.warnings);
        for s in &out.series {
            let obs = s.channels[0].values.iter().filter(|v| !v.is_nan()).count();
            let night = s.timestamps.iter().filter(|t| t.rem_euclid(86400) < 6*3600).count();
            let ins: f64 = s.channels[1].values.iter().filter(|v| !v.is_nan()).sum();
            let carbs: f64 = s.channels[2].values.iter().filter(|v| !v.is_nan()).sum();
            println!("  {} rows {} int {} obs {} night {} start {} end {} insulin {:.2} carbs {:.1}", s.id, s.len(), s.interval_min, obs, night,
                clock::format_datetime(s.timestamps[0]), clock::format_datetime(*s.timestamps.last().unwrap()), ins, carbs);
        }
        println!("{:?}", out.categories);
    }
}
