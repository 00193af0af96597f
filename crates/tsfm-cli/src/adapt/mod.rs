//! Mapping the user's YAML config onto each library's own option types. Kept in one place so
//! each library stays free of the config schema.
pub mod data;
pub mod training;
