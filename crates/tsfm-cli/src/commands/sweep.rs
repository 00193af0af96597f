//! `tsfm sweep`: flags -> `tsfm_experiment::sweep`, then what to print.
use std::path::Path;

use anyhow::{Context, Result};
use tsfm_experiment::sweep::{self, Sweep, SweepRequest, SweepSpec, TaskState};

use crate::cli::{SweepArgs, SweepCommand, SweepCreateArgs};
use crate::table::Table;

pub fn run(args: SweepArgs) -> Result<()> {
    match args.command {
        Some(SweepCommand::Status(a)) => status(&a.dir),
        Some(SweepCommand::Resume(a)) => resume(&a.dir),
        None => create(args.create),
    }
}

fn now() -> sweep::Timestamp {
    sweep::local_now()
}

fn create(args: SweepCreateArgs) -> Result<()> {
    // clap requires both unless a subcommand is given.
    let (Some(experiment), Some(spec_path)) = (&args.experiment, &args.spec) else {
        unreachable!("clap requires EXPERIMENT and --spec")
    };
    let spec = SweepSpec::read(spec_path)?;
    let tsfm = match &args.tsfm {
        Some(p) => std::path::absolute(p).with_context(|| p.display().to_string())?,
        None => std::env::current_exe().context("the path of this tsfm binary")?,
    };
    let workdir = std::env::current_dir().context("the current directory")?;
    let at = now();
    let plan = sweep::plan(&SweepRequest {
        config: Some(experiment),
        config_root: args.config_root.as_deref(),
        set: &args.set,
        spec: &spec,
        tsfm: &tsfm,
        workdir: &workdir,
        now: at,
    })?;
    if args.dry_run {
        print!("{}", plan.script);
        eprintln!(
            "dry run: {} task(s) checked; nothing written or submitted ({} when run)",
            plan.tasks.len(),
            plan.dir.display()
        );
        return Ok(());
    }
    sweep::write(&plan, at)?;
    let dir = plan.dir.display();
    println!("sweep:  {dir} ({} tasks)", plan.tasks.len());
    println!("script: {}", plan.dir.join(sweep::SCRIPT_FILE).display());
    if args.submit {
        let mut written = Sweep::open(&plan.dir)?;
        let ids: Vec<usize> = (0..plan.tasks.len()).collect();
        let job = written.submit(&ids, now())?;
        println!("submitted: job {job}, tasks 0-{}", plan.tasks.len() - 1);
        println!("status: tsfm sweep status {dir}");
    } else {
        println!("not submitted: edit the script if you like, then `tsfm sweep resume {dir}`");
    }
    Ok(())
}

fn status(dir: &Path) -> Result<()> {
    let sweep = Sweep::open(dir)?;
    let rows = sweep::status(&sweep)?;
    let mut table = Table::new(["task", "state", "job", "steps", "best metric", "run"]);
    for r in &rows {
        let mut steps = match r.steps {
            Some((done, Some(max))) => format!("{done}/{max}"),
            Some((done, None)) => format!("{done}/?"),
            None => "-".into(),
        };
        if let Some(from) = r.resumed_from_step {
            steps += &format!(" (resumed at {from})");
        }
        table.row([
            r.id.to_string(),
            r.state.as_str().to_string(),
            r.job.clone().unwrap_or_else(|| "-".into()),
            steps,
            r.best_metric
                .as_ref()
                .map(|(name, v)| format!("{name} {v:.4}"))
                .unwrap_or_else(|| "-".into()),
            r.run_dir.display().to_string(),
        ]);
    }
    print!("{}", table.render());
    let count = |s: TaskState| rows.iter().filter(|r| r.state == s).count();
    println!(
        "{} task(s): {} completed, {} pending, {} running, {} to resume",
        rows.len(),
        count(TaskState::Completed),
        count(TaskState::Pending),
        count(TaskState::Running),
        rows.iter().filter(|r| r.state.needs_submission()).count()
    );
    let best_first = sweep::ranked(&rows);
    if !best_first.is_empty() {
        let ids: Vec<String> = best_first.iter().map(|r| r.id.to_string()).collect();
        println!("finished, best first: task {}", ids.join(", "));
        let quoted: Vec<String> = best_first
            .iter()
            .map(|r| sweep::quote(&r.run_dir.display().to_string()))
            .collect();
        println!("compare them: tsfm compare {}", quoted.join(" "));
    }
    Ok(())
}

fn resume(dir: &Path) -> Result<()> {
    let resumed = sweep::resume(dir, now())?;
    match resumed.job_id {
        None => println!("nothing to resume: every task is completed, pending or running"),
        Some(job) => {
            for (id, was) in &resumed.tasks {
                println!(
                    "task {id} ({}): resubmitted as job {job}_{id}",
                    was.as_str()
                );
            }
            println!("status: tsfm sweep status {}", dir.display());
        }
    }
    Ok(())
}
