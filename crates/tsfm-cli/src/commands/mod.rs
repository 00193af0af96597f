pub mod config;
pub mod runs;
