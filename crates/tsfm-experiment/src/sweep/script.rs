//! The one `sbatch` job-array script of a sweep: plain bash a user can read and edit. Task N's
//! overrides are in a `case` on `$SLURM_ARRAY_TASK_ID`, the same as in `tasks.json`.
use std::fmt::Write as _;
use std::path::Path;

use super::spec::SlurmResources;
use super::{STATUS_DIR, SweepTask};

/// What the script needs besides the tasks.
pub struct ScriptContext<'a> {
    pub name: &'a str,
    pub sweep_dir: &'a Path,
    /// The folder tasks run in (`#SBATCH --chdir`): relative config paths mean what they meant
    /// where `tsfm sweep` ran.
    pub workdir: &'a Path,
    pub tsfm: &'a Path,
    /// `--config` and `--config-root` as given (files made absolute).
    pub config: Option<&'a str>,
    pub config_root: Option<&'a Path>,
    pub slurm: &'a SlurmResources,
}

/// The script's text.
pub fn render(ctx: &ScriptContext, tasks: &[SweepTask]) -> String {
    let mut s = String::new();
    let dir = ctx.sweep_dir.display();
    let _ = writeln!(s, "#!/bin/bash");
    let _ = writeln!(
        s,
        "# tsfm sweep `{}`: {} task(s), written by tsfm {}. Edit freely.",
        ctx.name,
        tasks.len(),
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(s, "# Where each task is:   tsfm sweep status {dir}");
    let _ = writeln!(s, "# Resubmit unfinished:  tsfm sweep resume {dir}");
    for line in sbatch_lines(ctx, tasks.len()) {
        let _ = writeln!(s, "#SBATCH {line}");
    }
    // No `set -u`: bash before 4.4 (still on some clusters) calls an empty array unbound.
    s.push_str("set -eo pipefail\n\n");
    let _ = writeln!(s, "TSFM={}", quote(&ctx.tsfm.display().to_string()));
    let _ = writeln!(s, "SWEEP={}", quote(&ctx.sweep_dir.display().to_string()));
    let mut common = Vec::new();
    if let Some(root) = ctx.config_root {
        common.push(format!(
            "--config-root {}",
            quote(&root.display().to_string())
        ));
    }
    if let Some(config) = ctx.config {
        common.push(format!("--config {}", quote(config)));
    }
    let _ = writeln!(s, "CONFIG=({})", common.join(" "));
    if !ctx.slurm.setup.is_empty() {
        s.push('\n');
        for line in &ctx.slurm.setup {
            let _ = writeln!(s, "{line}");
        }
    }
    s.push_str("\ncase \"$SLURM_ARRAY_TASK_ID\" in\n");
    for task in tasks {
        let _ = writeln!(s, "  {})", task.id);
        let _ = writeln!(
            s,
            "    RUN_DIR={}",
            quote(&task.run_dir.display().to_string())
        );
        let sets: Vec<String> = task
            .overrides
            .iter()
            .map(|(k, v)| format!("--set {}", quote(&format!("{k}={v}"))))
            .collect();
        let _ = writeln!(s, "    SET=({})", sets.join(" "));
        s.push_str("    ;;\n");
    }
    s.push_str(
        "  *)\n    echo \"no task $SLURM_ARRAY_TASK_ID in this sweep\" >&2\n    exit 2\n    ;;\nesac\n",
    );
    let _ = write!(
        s,
        r#"
# A task that was killed, cancelled or ran out of time continues from its newest checkpoint.
RESUME=()
if compgen -G "$RUN_DIR/checkpoints/checkpoint-*" >/dev/null; then
  RESUME=(--resume)
fi
echo "task $SLURM_ARRAY_TASK_ID (job ${{SLURM_ARRAY_JOB_ID}}_$SLURM_ARRAY_TASK_ID) on $(hostname): $RUN_DIR ${{RESUME[*]}}"
rm -f "$SWEEP/{status}/$SLURM_ARRAY_TASK_ID.exit"
code=0
"$TSFM" train "${{CONFIG[@]}}" --run-dir "$RUN_DIR" "${{SET[@]}}" "${{RESUME[@]}}" \
  && "$TSFM" evaluate --run "$RUN_DIR" || code=$?
# How the task ended, for `tsfm sweep status` where sacct is not available.
echo "$code" > "$SWEEP/{status}/.$SLURM_ARRAY_TASK_ID.exit.tmp"
mv "$SWEEP/{status}/.$SLURM_ARRAY_TASK_ID.exit.tmp" "$SWEEP/{status}/$SLURM_ARRAY_TASK_ID.exit"
exit "$code"
"#,
        status = STATUS_DIR
    );
    s
}

fn sbatch_lines(ctx: &ScriptContext, tasks: usize) -> Vec<String> {
    let r = ctx.slurm;
    let mut lines = vec![
        format!("--job-name=tsfm-{}", ctx.name),
        format!(
            "--array=0-{}{}",
            tasks.saturating_sub(1),
            r.max_parallel.map(|m| format!("%{m}")).unwrap_or_default()
        ),
        format!(
            "--output={}",
            ctx.sweep_dir.join("logs/task-%a_job-%A.out").display()
        ),
        format!("--chdir={}", ctx.workdir.display()),
    ];
    let optional = [
        ("partition", r.partition.clone()),
        ("account", r.account.clone()),
        ("qos", r.qos.clone()),
        ("time", r.time.clone()),
        ("cpus-per-task", r.cpus_per_task.map(|c| c.to_string())),
        ("mem", r.mem.clone()),
        ("gres", r.gpus.map(|g| format!("gpu:{g}"))),
    ];
    for (flag, value) in optional {
        if let Some(v) = value {
            lines.push(format!("--{flag}={v}"));
        }
    }
    lines.extend(r.sbatch.iter().cloned());
    lines
}

/// `text` as one shell word: as it is when that is safe, else in single quotes.
pub fn quote(text: &str) -> String {
    let safe = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=,+@%".contains(c));
    if safe {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(
            quote("training.learning_rate=0.0001"),
            "training.learning_rate=0.0001"
        );
        assert_eq!(
            quote("data.past_covariates=[\"iob\"]"),
            "'data.past_covariates=[\"iob\"]'"
        );
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote(""), "''");
    }
}
