pub mod config;
pub mod data;
pub mod predict;
pub mod runs;
pub mod train;
