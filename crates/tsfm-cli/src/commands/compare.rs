//! `tsfm compare`: the evaluation reports of several runs and models side by side, with the
//! baselines, as a terminal table, a Markdown file and comparison plots.
use std::path::{Path, PathBuf};

use anyhow::Result;
use tsfm_eval::plots;
use tsfm_eval::{EvaluationReport, TableRow, render_markdown, render_text};

use crate::cli::CompareArgs;
use crate::exit::user_error;

pub fn run(args: CompareArgs) -> Result<()> {
    let reports = collect(&args)?;
    if reports.is_empty() {
        return Err(user_error(format!(
            "no evaluation reports found under {}; run `tsfm evaluate` first",
            args.save_dir.join("results").display()
        )));
    }
    // Night metrics only when some report's config enabled the nocturnal analysis.
    let nocturnal = reports.iter().any(|(_, r)| r.nocturnal_enabled);
    let mut rows = Vec::new();
    let mut horizon_series = Vec::new();
    let mut bars = Vec::new();
    for (label, report) in &reports {
        let m = &report.metrics;
        let at = |h: &str| m.at_horizons.get(h).and_then(|p| p.rmse);
        let skill = m
            .baselines
            .get("persistence")
            .and_then(|b| b.skill_at_horizons.get("60min").copied().flatten());
        let mut row = TableRow::new(label.clone())
            .with("rmse", m.overall.rmse)
            .with("mae", m.overall.mae)
            .with("rmse_30min", at("30min"))
            .with("rmse_60min", at("60min"))
            .with("skill_60min_vs_persistence", skill);
        if nocturnal {
            let night = report
                .nocturnal_enabled
                .then_some(m.day_night.night.rmse)
                .flatten();
            row = row.with("night_rmse", night);
        }
        rows.push(row);
        horizon_series.push((
            label.clone(),
            m.per_step
                .iter()
                .filter_map(|s| s.rmse.map(|r| (s.minutes as f64, r)))
                .collect::<Vec<_>>(),
        ));
        if let Some(r) = at("60min") {
            bars.push((label.clone(), r));
        }
    }
    // Baselines once, from the first report (the same windows when the data is the same).
    let (_, first) = &reports[0];
    for (name, b) in &first.metrics.baselines {
        if !b.available {
            continue;
        }
        let at = |h: &str| b.at_horizons.get(h).and_then(|p| p.rmse);
        let mut row = TableRow::new(format!("baseline: {name}"))
            .with("rmse", b.overall.rmse)
            .with("mae", b.overall.mae)
            .with("rmse_30min", at("30min"))
            .with("rmse_60min", at("60min"))
            .with("skill_60min_vs_persistence", None);
        if nocturnal {
            row = row.with("night_rmse", None);
        }
        rows.push(row);
        if let Some(r) = at("60min") {
            bars.push((format!("baseline: {name}"), r));
        }
    }
    let units = first.data.units.clone();
    println!("units: {units}, split: {}", first.data.split);
    print!("{}", render_text(&rows, "model / run"));

    let out_dir = output_dir(&args, &reports);
    let markdown = format!(
        "# Comparison\n\nUnits: {units}; split: {}.\n\n{}",
        first.data.split,
        render_markdown(&rows, "model / run")
    );
    tsfm_runs::write_atomic(&out_dir.join("comparison.md"), markdown.as_bytes())?;
    plots::rmse_by_horizon(&out_dir, "rmse_by_horizon", &horizon_series, &units)?;
    if !bars.is_empty() {
        plots::metric_bars(
            &out_dir,
            "rmse_60min",
            &format!("RMSE at 60 min ({units})"),
            &bars,
        )?;
    }
    println!("comparison: {}", out_dir.display());
    Ok(())
}

/// `(label, report)` for the runs named, else every report matching the filters.
fn collect(args: &CompareArgs) -> Result<Vec<(String, EvaluationReport)>> {
    let mut out = Vec::new();
    if !args.runs.is_empty() {
        for query in &args.runs {
            let run = tsfm_runs::find_run(&args.save_dir, query)?;
            let path = run.path.join("evaluation_report.json");
            if !path.is_file() {
                return Err(user_error(format!(
                    "{}: no evaluation report; run `tsfm evaluate --run {query}` first",
                    run.path.display()
                )));
            }
            let report = EvaluationReport::read_json(&path)?;
            out.push((
                format!("{}/{}/{}", run.model, run.experiment, run.run_id),
                report,
            ));
        }
        return Ok(out);
    }
    let results = args.save_dir.join("results");
    for model_dir in sorted_dirs(&results) {
        let model = name(&model_dir);
        if args.model.as_ref().is_some_and(|m| *m != model) {
            continue;
        }
        for experiment_dir in sorted_dirs(&model_dir) {
            let experiment = name(&experiment_dir);
            if args.experiment.as_ref().is_some_and(|e| *e != experiment) {
                continue;
            }
            let path = experiment_dir.join("evaluation_report.json");
            if path.is_file() {
                let report = EvaluationReport::read_json(&path)?;
                out.push((format!("{model}/{experiment} ({})", report.run_id), report));
            }
        }
    }
    Ok(out)
}

/// `results/{model}/{experiment}/comparison_plots` when one experiment is compared, else
/// `results/comparison_plots`.
fn output_dir(args: &CompareArgs, reports: &[(String, EvaluationReport)]) -> PathBuf {
    let first = &reports[0].1;
    let single = reports
        .iter()
        .all(|(_, r)| r.model == first.model && r.experiment == first.experiment);
    let results = args.save_dir.join("results");
    if single {
        results
            .join(&first.model)
            .join(&first.experiment)
            .join("comparison_plots")
    } else {
        results.join("comparison_plots")
    }
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

fn name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
