//! Mapping the user's YAML config onto each library's own option types. Kept in one place so
//! each library stays free of the config schema.
pub mod data;
pub mod decoding;
pub mod evaluation;
pub mod timesfm;
pub mod training;

use crate::error::Result;

/// The checks `train` makes of a config before it reads data or a model, beyond the schema's:
/// the trainer's arguments as the config maps them.
pub fn check_config(config: &tsfm_config::Config) -> Result<()> {
    training::training_args(config, 1)?.validate()?;
    Ok(())
}
