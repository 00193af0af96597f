//! `tsfm runs list|show`.
use anyhow::Result;

use crate::cli::{RunsCommand, RunsListArgs, RunsShowArgs};
use crate::table::Table;

pub fn run(command: RunsCommand) -> Result<()> {
    match command {
        RunsCommand::List(args) => list(args),
        RunsCommand::Show(args) => show(args),
    }
}

fn list(args: RunsListArgs) -> Result<()> {
    let runs = tsfm_runs::list_runs(
        &args.save_dir,
        args.model.as_deref(),
        args.experiment.as_deref(),
    )?;
    if runs.is_empty() {
        println!("no runs under {}", args.save_dir.join("models").display());
        return Ok(());
    }
    let mut table = Table::new(["model", "experiment", "run", "status", "best", "eval_loss"]);
    for r in &runs {
        table.row([
            r.model.clone(),
            r.experiment.clone(),
            r.run_id.clone(),
            r.status.clone(),
            if r.is_best { "*".into() } else { String::new() },
            r.eval_loss.map(|l| format!("{l:.6}")).unwrap_or_default(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

fn show(args: RunsShowArgs) -> Result<()> {
    let run = tsfm_runs::find_run(&args.save_dir, &args.run)?;
    println!("run:        {}", run.path.display());
    let manifest = tsfm_runs::RunManifest::read(&run.manifest_path())?;
    println!("{}", serde_json::to_string_pretty(&manifest)?);
    match std::fs::read_to_string(run.metrics_path()) {
        Ok(metrics) => println!("metrics.json:\n{}", metrics.trim_end()),
        Err(_) => println!("metrics.json: (none yet)"),
    }
    Ok(())
}
