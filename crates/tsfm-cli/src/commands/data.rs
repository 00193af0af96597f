//! `tsfm data prepare|inspect`.
use std::path::PathBuf;

use anyhow::Result;
use tsfm_data::cache::CacheManager;
use tsfm_data::sources::{SourceKind, SourceOptions};

use crate::cli::{DataCommand, DataInspectArgs, DataPrepareArgs};
use crate::exit::user_error;
use crate::load;
use crate::progress::DataProgress;
use tsfm_experiment::options as adapt;

pub fn run(command: DataCommand, debug: bool) -> Result<()> {
    match command {
        DataCommand::Prepare(args) => prepare(*args, debug),
        DataCommand::Inspect(args) => inspect(args),
    }
}

fn prepare(args: DataPrepareArgs, debug: bool) -> Result<()> {
    // With --source and --raw the flags say everything; otherwise the config fills the gaps.
    let (dataset, mut opts, cache_dir) = match (&args.source, &args.raw) {
        (Some(source), Some(raw)) => {
            let kind = SourceKind::parse(source).ok_or_else(|| {
                user_error(format!(
                    "--source: unknown source `{source}`; use bris_t1d, aleppo, csv or parquet"
                ))
            })?;
            let dataset = args
                .dataset
                .clone()
                .ok_or_else(|| user_error("--dataset: give the dataset a name"))?;
            let cache = args
                .cache_dir
                .clone()
                .unwrap_or_else(|| "cache/data".into());
            (dataset, SourceOptions::new(kind, raw), cache)
        }
        _ => {
            let resolved = load::resolve(&args.config, debug)?;
            let data = &resolved.config.data;
            let mut opts = adapt::data::source_options(data);
            if let Some(source) = &args.source {
                opts.kind = SourceKind::parse(source)
                    .ok_or_else(|| user_error(format!("--source: unknown source `{source}`")))?;
            }
            if let Some(raw) = &args.raw {
                opts.raw_path = raw.clone();
            }
            let dataset = args
                .dataset
                .clone()
                .unwrap_or_else(|| data.source_name.clone());
            let cache = args
                .cache_dir
                .clone()
                .unwrap_or_else(|| PathBuf::from(&data.cache_dir));
            (dataset, opts, cache)
        }
    };
    if let Some(unit) = &args.unit {
        opts.unit_override = Some(unit.clone());
    }
    let cache = CacheManager::new(&cache_dir);
    let progress = DataProgress::new();
    let prepared = cache.prepare_with_progress(&dataset, &opts, &|e| progress.event(e));
    progress.finish();
    let prepared = prepared?;
    for warning in &prepared.manifest.warnings {
        eprintln!("warning: {warning}");
    }
    print!("{}", tsfm_data::summary::summary_table(&prepared.series));
    println!(
        "prepared `{dataset}` ({} series) in {}",
        prepared.series.len(),
        cache.processed_dir(&dataset)?.display()
    );
    Ok(())
}

fn inspect(args: DataInspectArgs) -> Result<()> {
    let cache = CacheManager::new(&args.cache_dir);
    let progress = DataProgress::new();
    let read = cache.read_with_progress(&args.dataset, &|e| progress.event(e));
    progress.finish();
    let (manifest, series) = read?;
    println!(
        "dataset `{}`: source {}, {} raw file(s), pipeline v{}",
        manifest.dataset,
        manifest.source_kind,
        manifest.raw_files.len(),
        manifest.pipeline_version
    );
    print!("{}", tsfm_data::summary::summary_table(&series));
    for warning in &manifest.warnings {
        println!("warning: {warning}");
    }
    Ok(())
}
