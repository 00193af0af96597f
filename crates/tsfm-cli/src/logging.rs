//! Logging through `tracing`: the libraries log details at debug/trace level; `-v` shows info,
//! `-vv` or `--debug` debug, `-vvv` trace. Without a flag, the config's `logging.level` (or
//! `logging.debug_mode`) decides once a config is read. Messages for the user (warnings,
//! notes) are printed by [`crate::progress::print_event`] and not repeated here.
use std::sync::OnceLock;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;

type Handle = reload::Handle<LevelFilter, tracing_subscriber::Registry>;

static HANDLE: OnceLock<(Handle, bool)> = OnceLock::new();

/// Install the subscriber; `verbose` counts `-v`.
pub fn init(verbose: u8, debug: bool) {
    let from_flags = debug || verbose > 0;
    let level = match (verbose, debug) {
        (_, true) | (2, _) => LevelFilter::DEBUG,
        (0, false) => LevelFilter::WARN,
        (1, false) => LevelFilter::INFO,
        _ => LevelFilter::TRACE,
    };
    let (filter, handle) = reload::Layer::new(level);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time();
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = HANDLE.set((handle, from_flags));
    }
}

/// `logging.level` / `logging.debug_mode` from a config, unless a flag already chose.
pub fn apply_config(logging: &tsfm_config::LoggingConfig) {
    let Some((handle, from_flags)) = HANDLE.get() else {
        return;
    };
    if *from_flags {
        return;
    }
    use tsfm_config::LogLevel;
    let level = if logging.debug_mode {
        LevelFilter::DEBUG
    } else {
        match logging.level {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    };
    let _ = handle.modify(|f| *f = level);
}
