//! `tsfm evaluate`: score a trained run (`--run`), or a checkpoint zero-shot (`--config` /
//! `--model-path`), on a split; the library writes the report, plots and history.
use std::path::PathBuf;

use anyhow::Result;
use tsfm_experiment::Split;
use tsfm_experiment::evaluate::{evaluate, zero_shot_config};

use crate::cli::EvaluateArgs;
use crate::{load, progress};

pub fn run(args: EvaluateArgs, debug: bool) -> Result<()> {
    let split = Split::parse(&args.split)?;
    // A run: its own resolved config, its saved model and scaler. Otherwise: zero-shot.
    let (mut resolved, run) = match &args.run {
        Some(query) => {
            let mut config_args = args.config.clone();
            let save_dir = load::resolve(&config_args, debug)
                .map(|r| PathBuf::from(r.config.output.save_dir))
                .unwrap_or_else(|_| PathBuf::from("tsfm_results"));
            let run = tsfm_runs::find_run(&save_dir, query)?;
            config_args.config = Some(run.config_path());
            config_args.model_path = Some(run.model_dir().to_string_lossy().into_owned());
            (load::resolve(&config_args, debug)?, Some(run))
        }
        None => {
            let resolved = load::resolve(&args.config, debug)?;
            match &args.config.model_path {
                Some(path) => (
                    zero_shot_config(resolved, path, args.config.config.is_some())?,
                    None,
                ),
                None => (resolved, None),
            }
        }
    };
    tsfm_experiment::demo::use_embedded_demo(&mut resolved.config)?;
    let mut events = progress::print_event;
    let done = evaluate(&resolved, run.as_ref(), split, &mut events)?;
    println!("{}", done.result.summary());
    println!("report:  {}", done.report_path.display());
    println!(
        "plots:   {} files in {}",
        done.plots.len(),
        done.plots_dir.display()
    );
    Ok(())
}
