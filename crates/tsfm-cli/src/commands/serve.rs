//! `tsfm serve`: flags to options, then the server of `tsfm-serve` until SIGTERM.
use std::time::Duration;

use anyhow::Result;
use tsfm_serve::{BatchOptions, Limits, ServeOptions};

use crate::cli::ServeArgs;
use crate::exit::user_error;

pub fn run(args: ServeArgs) -> Result<()> {
    for (flag, value) in [
        ("--max-batch", args.max_batch),
        ("--queue", args.queue),
        ("--max-series", args.max_series),
        ("--max-length", args.max_length),
        ("--max-body-bytes", args.max_body_bytes),
    ] {
        if value == 0 {
            return Err(user_error(format!(
                "{flag}: 0 would refuse every request; give 1 or more"
            )));
        }
    }
    let options = ServeOptions {
        model: args.model,
        save_dir: args.save_dir,
        bind: args.bind,
        limits: Limits {
            max_body_bytes: args.max_body_bytes,
            max_series: args.max_series,
            max_length: args.max_length,
        },
        batch: BatchOptions {
            max_batch: args.max_batch,
            max_wait: Duration::from_millis(args.max_wait_ms),
            queue: args.queue,
        },
    };
    tsfm_serve::run(
        options,
        |addr| eprintln!("listening on http://{addr} (loading the model)"),
        |model| {
            eprintln!(
                "ready: {} ({}{})",
                model.name,
                model.family,
                model
                    .source_run
                    .as_deref()
                    .map(|r| format!(", from run {r}"))
                    .unwrap_or_default()
            )
        },
    )?;
    eprintln!("stopped");
    Ok(())
}
