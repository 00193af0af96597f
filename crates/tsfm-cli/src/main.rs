//! `tsfm`: parse the command line, call the libraries, print, and exit with 0, 1 or 2.
mod cli;
mod commands;
mod exit;
mod load;
mod logging;
mod progress;
mod table;

use clap::Parser;

use crate::cli::{Cli, Command};

/// mimalloc instead of the system allocator: the models allocate a fresh output for every matrix
/// product and the system allocator hands large blocks back to the kernel and faults them in
/// again each time (page faults and zeroing were ~10 % of Chronos-Bolt inference; mimalloc made
/// it 1.3-1.4x faster and Chronos-T5 sampling 1.1x, `BENCHMARKS.md`). Built without its
/// transparent-huge-page advice (`no_thp`, root `Cargo.toml`), which slowed loading.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let debug = cli.debug;
    logging::init(cli.verbose, debug);
    let result = dispatch(cli);
    if let Err(err) = result {
        let user = exit::is_user_error(&err);
        if debug {
            eprintln!("error: {err:?}");
        } else if let Some(errors) = exit::config_errors(&err) {
            let n = errors.len();
            eprintln!(
                "error: {n} problem{} in the configuration:",
                if n == 1 { "" } else { "s" }
            );
            for problem in errors.iter() {
                eprintln!("  {problem}");
            }
        } else {
            eprintln!("error: {}", exit::message(&err));
            if let Some(hint) = exit::storage_hint(&err) {
                eprintln!("hint: {hint}");
            }
        }
        std::process::exit(if user { 2 } else { 1 });
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Runs(command) => commands::runs::run(command),
        Command::Config(command) => commands::config::run(command, cli.debug),
        Command::Train(args) => commands::train::run(args, cli.debug),
        Command::Evaluate(args) => commands::evaluate::run(args, cli.debug),
        Command::Compare(args) => commands::compare::run(args),
        Command::Predict(args) => commands::predict::run(*args),
        Command::Data(command) => commands::data::run(command, cli.debug),
        Command::Sweep(args) => commands::sweep::run(args),
        Command::Serve(args) => commands::serve::run(args),
    }
}
