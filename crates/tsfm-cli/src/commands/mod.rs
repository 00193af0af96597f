pub mod config;
pub mod data;
pub mod runs;
