//! tsfm-runs
