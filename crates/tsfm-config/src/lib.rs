//! tsfm-config
