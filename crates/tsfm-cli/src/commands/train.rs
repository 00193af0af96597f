//! `tsfm train`: flags -> config -> `tsfm_experiment::train::train`, then what to print.
use anyhow::Result;
use tsfm_experiment::train::{TrainOptions, TrainOutcome, train};

use crate::cli::TrainArgs;
use crate::{load, progress};

pub fn run(args: TrainArgs, debug: bool) -> Result<()> {
    let mut resolved = load::resolve(&args.config, debug)?;
    if args.validate_config {
        load::validate_for_train(&resolved)?;
        println!(
            "config OK: experiment `{}` ({})",
            resolved.config.output.experiment_name,
            resolved.files.join(", ")
        );
        return Ok(());
    }
    load::validate_for_train(&resolved)?;
    if let Some(root) = tsfm_experiment::demo::use_embedded_demo(&mut resolved.config)? {
        tracing::info!("demo files from {}", root.display());
    }
    let config = &resolved.config;
    let options = TrainOptions {
        run_dir: args.run_dir.clone(),
        dry_run: args.dry_run,
    };
    let callbacks: Vec<Box<dyn tsfm_train::TrainerCallback>> = vec![Box::new(
        progress::ProgressLine::new(config.training.logging_steps),
    )];
    let mut events = progress::print_event;
    match train(config, &options, callbacks, &mut events)? {
        TrainOutcome::DryRun(d) => {
            println!("dry run: nothing is trained");
            println!(
                "model:  {} from {} (context {}, horizon {}), {} parameters, {} trainable in `{}` mode",
                d.model_type,
                d.model_path,
                d.context_length,
                d.prediction_length,
                d.total_params,
                d.trainable_params,
                d.finetune_mode,
            );
            println!("{}", d.data);
            println!(
                "steps:  {} optimizer steps over {} epoch(s), batch {} x accumulation {}",
                d.max_steps, d.num_epochs, d.batch_size, d.accumulation
            );
        }
        TrainOutcome::Trained(t) => {
            println!("{}", t.test.summary());
            println!("run:        {}", t.run.path.display());
            println!("model:      {}", t.run.model_dir().display());
            println!("metrics:    {}", t.run.metrics_path().display());
            if let Some(link) = &t.best_model {
                println!("best_model: {} -> {}", link.display(), t.run.run_id);
            }
        }
    }
    Ok(())
}
