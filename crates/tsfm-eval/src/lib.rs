//! tsfm-eval
