//! `tsfm runs list|show|sync|promote`.
use anyhow::Result;

use crate::cli::{RunsCommand, RunsListArgs, RunsPromoteArgs, RunsShowArgs, RunsSyncArgs};
use crate::table::Table;

pub fn run(command: RunsCommand) -> Result<()> {
    match command {
        RunsCommand::List(args) => list(args),
        RunsCommand::Show(args) => show(args),
        RunsCommand::Sync(args) => sync(args),
        RunsCommand::Promote(args) => promote(args),
    }
}

fn list(args: RunsListArgs) -> Result<()> {
    let runs = tsfm_runs::list_runs(
        &args.save_dir,
        args.model.as_deref(),
        args.experiment.as_deref(),
    )?;
    let productions = tsfm_runs::list_productions(&args.save_dir, args.model.as_deref())?;
    if runs.is_empty() && productions.is_empty() {
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
    if !runs.is_empty() {
        print!("{}", table.render());
    }
    print_productions(&productions);
    Ok(())
}

/// The promoted versions and the run each is a copy of.
fn print_productions(productions: &[tsfm_runs::ProductionSummary]) {
    if productions.is_empty() {
        return;
    }
    let mut table = Table::new(["model", "production", "from run", "promoted"]);
    for p in productions {
        table.row([
            p.model.clone(),
            p.version.clone(),
            p.promotion.source_run.clone(),
            p.promotion.promoted_at.clone(),
        ]);
    }
    println!();
    print!("{}", table.render());
}

fn promote(args: RunsPromoteArgs) -> Result<()> {
    let path = tsfm_experiment::promote::promote_run(
        &args.save_dir,
        &args.run,
        args.as_version.as_deref(),
    )?;
    println!("promoted to {}", path.display());
    println!("model card: {}", path.join("MODEL_CARD.md").display());
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

fn sync(args: RunsSyncArgs) -> Result<()> {
    let results = tsfm_experiment::tracking::sync_runs(
        &args.save_dir,
        &args.runs,
        args.tracking_uri.as_deref(),
    )?;
    if results.is_empty() {
        println!(
            "no tracked runs under {}",
            args.save_dir.join("models").display()
        );
        return Ok(());
    }
    let mut failed = 0;
    for (run, result) in &results {
        match result {
            Ok(report) => {
                let mlflow_run = report.run_id.as_deref().unwrap_or("-");
                println!(
                    "{}: sent {} record(s) to {} (MLflow run {mlflow_run})",
                    run.path.display(),
                    report.sent,
                    report.tracking_uri
                );
                for refused in &report.refused {
                    println!(
                        "  refused by the server: record {}: {}",
                        refused.seq, refused.message
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: not sent: {e}", run.path.display());
            }
        }
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} of {} run(s) not sent; run `tsfm runs sync` again when the server answers",
            results.len()
        );
    }
    Ok(())
}
