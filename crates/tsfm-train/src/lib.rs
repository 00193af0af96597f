//! tsfm-train
