//! `tsfm sweep`: an experiment and a sweep spec turned into one Slurm job array. Every task's
//! config is composed and checked before anything is written or submitted; the sweep folder
//! (`{save_dir}/sweeps/{name}/{timestamp}/`) holds `tasks.json` (task id -> overrides and run
//! directory), the editable `sweep.sbatch`, `sweep.json` (the submissions), the task logs and
//! each task's exit code. Each task trains into the usual results tree (`--run-dir` under
//! `models/{model}/{experiment}/`) and evaluates its run, so `tsfm compare` can rank them.
mod script;
pub mod slurm;
pub mod spec;
mod status;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tsfm_config::Override;
use tsfm_runs::{RunLayout, write_atomic, write_json_atomic};

use crate::error::{Result, io, user};
pub use script::quote;
pub use slurm::TaskState;
pub use spec::{SlurmResources, SweepSpec};
pub use status::{TaskStatus, ranked, status};

/// Task exit codes, written by the script: `{STATUS_DIR}/{task}.exit`.
pub const STATUS_DIR: &str = "status";
pub const TASKS_FILE: &str = "tasks.json";
pub const STATE_FILE: &str = "sweep.json";
pub const SCRIPT_FILE: &str = "sweep.sbatch";

/// When a sweep is written or submitted (local time, as run directories are named).
pub type Timestamp = chrono::NaiveDateTime;

pub fn local_now() -> Timestamp {
    chrono::Local::now().naive_local()
}

/// One task of the array.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepTask {
    pub id: usize,
    /// `--set` overrides in order: the command line's, the spec's `set`, then the task's own
    /// (in `tasks.json` as the `KEY=VALUE` text `--set` reads).
    #[serde(with = "set_args")]
    pub overrides: Vec<(String, String)>,
    /// Its run directory in the results tree (absolute).
    pub run_dir: PathBuf,
}

/// `(key, value)` pairs as `KEY=VALUE` strings.
mod set_args {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(pairs.iter().map(|(k, v)| format!("{k}={v}")))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        Vec::<String>::deserialize(d)?
            .into_iter()
            .map(|arg| match arg.split_once('=') {
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(serde::de::Error::custom(format!(
                    "`{arg}` is not KEY=VALUE"
                ))),
            })
            .collect()
    }
}

/// One `sbatch` call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Submission {
    pub job_id: u64,
    pub tasks: Vec<usize>,
    pub submitted_at: String,
}

/// `sweep.json`: what was submitted when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepState {
    pub name: String,
    pub created_at: String,
    pub submissions: Vec<Submission>,
}

/// What `tsfm sweep` was asked to do.
pub struct SweepRequest<'a> {
    /// The experiment (a file, or a name under the config root), as `tsfm train --config`.
    pub config: Option<&'a Path>,
    pub config_root: Option<&'a Path>,
    /// `--set KEY=VALUE` for every task.
    pub set: &'a [String],
    pub spec: &'a SweepSpec,
    /// The `tsfm` binary the tasks run.
    pub tsfm: &'a Path,
    /// Where the tasks run (relative paths in configs mean what they mean here).
    pub workdir: &'a Path,
    pub now: Timestamp,
}

/// A checked sweep, not yet written.
pub struct SweepPlan {
    pub name: String,
    pub dir: PathBuf,
    pub tasks: Vec<SweepTask>,
    pub script: String,
}

/// Compose and check every task's config, choose run directories, render the script.
/// Any invalid task is a user error naming the task, its overrides and the key.
pub fn plan(req: &SweepRequest) -> Result<SweepPlan> {
    let combos = req.spec.combinations();
    let mut problems = Vec::new();
    let mut tasks = Vec::new();
    let mut base_save_dir = None;
    let stamp = req.now.format("%Y-%m-%d_%H-%M-%S").to_string();
    let common = command_line_sets(req.set)?;
    for (id, combo) in combos.iter().enumerate() {
        let mut overrides = common.clone();
        overrides.extend(combo.iter().cloned());
        match task_run_dir(req, &overrides, id, &stamp) {
            Ok((save_dir, run_dir)) => {
                base_save_dir.get_or_insert(save_dir);
                tasks.push(SweepTask {
                    id,
                    overrides,
                    run_dir,
                });
            }
            Err(why) => problems.push(format!(
                "sweep task {id} ({}):\n    {}",
                combo
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                why.replace('\n', "\n    ")
            )),
        }
    }
    if !problems.is_empty() {
        return Err(user(format!(
            "{} of {} sweep tasks are invalid; nothing was written or submitted:\n  {}",
            problems.len(),
            combos.len(),
            problems.join("\n  ")
        )));
    }
    let save_dir = base_save_dir.unwrap_or_else(|| req.workdir.join("tsfm_results"));
    let dir = save_dir.join("sweeps").join(&req.spec.name).join(&stamp);
    let config = req.config.map(|c| match c.canonicalize() {
        Ok(abs) if c.is_file() => abs.display().to_string(),
        _ => c.display().to_string(),
    });
    let root = req
        .config_root
        .map(|r| r.canonicalize().unwrap_or(r.to_path_buf()));
    let script = script::render(
        &script::ScriptContext {
            name: &req.spec.name,
            sweep_dir: &dir,
            workdir: req.workdir,
            tsfm: req.tsfm,
            config: config.as_deref(),
            config_root: root.as_deref(),
            slurm: &req.spec.slurm,
        },
        &tasks,
    );
    Ok(SweepPlan {
        name: req.spec.name.clone(),
        dir,
        tasks,
        script,
    })
}

/// `--set KEY=VALUE` arguments as pairs.
fn command_line_sets(args: &[String]) -> Result<Vec<(String, String)>> {
    args.iter()
        .map(|arg| {
            let (k, v) = arg.split_once('=').ok_or_else(|| {
                user(format!(
                    "--set `{arg}`: expected KEY=VALUE, e.g. training.learning_rate=5e-5"
                ))
            })?;
            Ok((k.trim().to_string(), v.to_string()))
        })
        .collect()
}

/// The task's config checked as `tsfm train` checks it; its results root and run directory.
fn task_run_dir(
    req: &SweepRequest,
    overrides: &[(String, String)],
    id: usize,
    stamp: &str,
) -> std::result::Result<(PathBuf, PathBuf), String> {
    let overrides: Vec<Override> = overrides
        .iter()
        .map(|(k, v)| Override {
            origin: format!("sweep task {id}"),
            ..Override::set(k, v)
        })
        .collect();
    let resolved =
        tsfm_config::load(req.config_root, req.config, &overrides).map_err(|e| e.to_string())?;
    let config = &resolved.config;
    crate::options::check_config(config).map_err(|e| e.to_string())?;
    let save_dir = req.workdir.join(&config.output.save_dir);
    let experiment_dir = RunLayout::new(&save_dir)
        .experiment_dir(
            config.model.model_type.as_str(),
            &config.output.experiment_name,
        )
        .map_err(|e| e.to_string())?;
    let run_dir = experiment_dir.join(format!("{stamp}_{}-{id}", req.spec.name));
    Ok((save_dir, run_dir))
}

/// Write the sweep folder: `tasks.json`, `sweep.sbatch`, `sweep.json`, `logs/`, `status/`.
pub fn write(plan: &SweepPlan, now: Timestamp) -> Result<()> {
    // Never over another sweep's files (and run directories): the same name in the same second.
    let parent = plan.dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
    match std::fs::create_dir(&plan.dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(user(format!(
                "{} already exists (a sweep of the same name started this second): run again",
                plan.dir.display()
            )));
        }
        other => other.map_err(|e| io(&plan.dir, e))?,
    }
    for sub in ["logs", STATUS_DIR] {
        let path = plan.dir.join(sub);
        std::fs::create_dir_all(&path).map_err(|e| io(&path, e))?;
    }
    write_json_atomic(&plan.dir.join(TASKS_FILE), &plan.tasks)?;
    let script_path = plan.dir.join(SCRIPT_FILE);
    write_atomic(&script_path, plan.script.as_bytes())?;
    let state = SweepState {
        name: plan.name.clone(),
        created_at: now.format("%Y-%m-%dT%H:%M:%S").to_string(),
        submissions: Vec::new(),
    };
    write_json_atomic(&plan.dir.join(STATE_FILE), &state)?;
    Ok(())
}

/// A written sweep folder, read back.
pub struct Sweep {
    pub dir: PathBuf,
    pub tasks: Vec<SweepTask>,
    pub state: SweepState,
}

impl Sweep {
    pub fn open(dir: &Path) -> Result<Sweep> {
        let read = |name: &str| -> Result<String> {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(|e| {
                user(format!(
                    "{}: {e}; is {} a folder written by `tsfm sweep`?",
                    path.display(),
                    dir.display()
                ))
            })
        };
        let parse_err = |name: &str, e: serde_json::Error| {
            user(format!("{}: damaged ({e})", dir.join(name).display()))
        };
        let tasks =
            serde_json::from_str(&read(TASKS_FILE)?).map_err(|e| parse_err(TASKS_FILE, e))?;
        let state =
            serde_json::from_str(&read(STATE_FILE)?).map_err(|e| parse_err(STATE_FILE, e))?;
        Ok(Sweep {
            dir: dir.to_path_buf(),
            tasks,
            state,
        })
    }

    /// Submit `tasks` (all of them: the script's own `--array`) and record the job.
    pub fn submit(&mut self, tasks: &[usize], now: Timestamp) -> Result<u64> {
        let all = tasks.len() == self.tasks.len();
        let mut args = Vec::new();
        if !all {
            let list: Vec<String> = tasks.iter().map(usize::to_string).collect();
            args.push(format!("--array={}", list.join(",")));
        }
        for id in tasks {
            let exit = self.dir.join(STATUS_DIR).join(format!("{id}.exit"));
            if exit.exists() {
                std::fs::remove_file(&exit).map_err(|e| io(&exit, e))?;
            }
        }
        let job_id = slurm::sbatch(&self.dir.join(SCRIPT_FILE), &args)?;
        self.state.submissions.push(Submission {
            job_id,
            tasks: tasks.to_vec(),
            submitted_at: now.format("%Y-%m-%dT%H:%M:%S").to_string(),
        });
        write_json_atomic(&self.dir.join(STATE_FILE), &self.state)?;
        Ok(job_id)
    }

    /// The job that last ran `task`, if any.
    pub fn job_of(&self, task: usize) -> Option<u64> {
        self.state
            .submissions
            .iter()
            .rev()
            .find(|s| s.tasks.contains(&task))
            .map(|s| s.job_id)
    }
}

/// What `tsfm sweep resume` did.
pub struct Resumed {
    pub job_id: Option<u64>,
    /// `(task, state it was in)`.
    pub tasks: Vec<(usize, TaskState)>,
}

/// Resubmit every task that is not pending, running or completed. Each continues from its
/// run's newest checkpoint (the script passes `--resume` when there is one).
pub fn resume(dir: &Path, now: Timestamp) -> Result<Resumed> {
    let mut sweep = Sweep::open(dir)?;
    let statuses = status(&sweep)?;
    let tasks: Vec<(usize, TaskState)> = statuses
        .iter()
        .filter(|t| t.state.needs_submission())
        .map(|t| (t.id, t.state))
        .collect();
    if tasks.is_empty() {
        return Ok(Resumed {
            job_id: None,
            tasks,
        });
    }
    let ids: Vec<usize> = tasks.iter().map(|(id, _)| *id).collect();
    let job_id = sweep.submit(&ids, now)?;
    Ok(Resumed {
        job_id: Some(job_id),
        tasks,
    })
}
