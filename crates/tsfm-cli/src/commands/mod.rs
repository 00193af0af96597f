pub mod compare;
pub mod config;
pub mod data;
pub mod evaluate;
pub mod predict;
pub mod runs;
pub mod serve;
pub mod train;
