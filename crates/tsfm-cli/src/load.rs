//! Turning the shared config flags into a resolved config.
use anyhow::Result;
use tsfm_config::{NamedOverrides, Resolved, collect_overrides};

use crate::cli::ConfigArgs;

/// Compose, override and validate the config the flags name. Every problem comes back at once
/// as a `ConfigErrors` (a user error: exit 2).
pub fn resolve(args: &ConfigArgs, debug: bool) -> Result<Resolved> {
    let named = NamedOverrides {
        model_path: args.model_path.clone(),
        device: args.device.clone(),
        batch_size: args.batch_size.clone(),
        learning_rate: args.learning_rate.clone(),
        num_epochs: args.num_epochs.clone(),
        resume: args.resume.clone(),
        data_source: args.data_source.clone(),
        data_split: args.data_split.clone(),
        debug,
    };
    let overrides = collect_overrides(&named, &args.set)?;
    let resolved = tsfm_config::load(
        args.config_root.as_deref(),
        args.config.as_deref(),
        &overrides,
    )?;
    apply_logging(&resolved);
    Ok(resolved)
}

/// What `tsfm train` checks before it reads data or a model (beyond the schema checks every
/// command runs): the trainer's arguments as the config maps them. `config validate` and
/// `train --validate-config` run it too, so a config they accept is one `train` accepts.
pub fn validate_for_train(resolved: &Resolved) -> Result<()> {
    tsfm_experiment::options::check_config(&resolved.config)?;
    Ok(())
}

/// The tracing level the config asks for, applied when no `-v`/`--debug` flag chose one.
pub fn apply_logging(resolved: &Resolved) {
    crate::logging::apply_config(&resolved.config.logging);
}
