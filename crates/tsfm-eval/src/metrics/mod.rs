//! Metric definitions on plain `f64` slices in data units.

pub mod dilate;
pub mod events;
pub mod glucose;
pub mod point;
pub mod probabilistic;
