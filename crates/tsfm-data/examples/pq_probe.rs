fn main() {
    let c = tsfm_data::cache::CacheManager::new("/tmp/pqcheck/cache");
    let o = tsfm_data::sources::SourceOptions::new(tsfm_data::sources::SourceKind::Aleppo, "data/demo/aleppo/Data Tables");
    let p = c.prepare("aleppo", &o).unwrap();
    print!("{}", tsfm_data::summary::summary_table(&p.series));
}
