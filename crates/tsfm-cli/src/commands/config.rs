//! `tsfm config show|validate`.
use anyhow::Result;

use crate::cli::ConfigCommand;
use crate::load;

pub fn run(command: ConfigCommand, debug: bool) -> Result<()> {
    match command {
        ConfigCommand::Show(args) => {
            let resolved = load::resolve(&args, debug)?;
            print!("{}", resolved.to_yaml());
        }
        ConfigCommand::Validate(args) => {
            let resolved = load::resolve(&args, debug)?;
            load::validate_for_train(&resolved)?;
            println!(
                "config OK: experiment `{}`, model {}, {} file(s): {}",
                resolved.config.output.experiment_name,
                resolved.config.model.model_type.as_str(),
                resolved.files.len(),
                resolved.files.join(", ")
            );
        }
    }
    Ok(())
}
