//! The shipped `configs/` files, compiled in so the binary works from any directory.

/// The default experiment when no `--config` is given.
pub const DEFAULT_EXPERIMENT: &str = "experiments/ttm_demo.yaml";

macro_rules! shipped {
    ($($name:literal),* $(,)?) => {
        /// `(name relative to configs/, text)` of every shipped config file.
        pub const SHIPPED: &[(&str, &str)] = &[
            $(($name, include_str!(concat!("../../../configs/", $name))),)*
        ];
    };
}

shipped!(
    "models/ttm_default.yaml",
    "models/chronos_default.yaml",
    "models/chronos_bolt_default.yaml",
    "models/chronos2_default.yaml",
    "models/timesfm_default.yaml",
    "data/demo.yaml",
    "data/bris_t1d.yaml",
    "data/aleppo.yaml",
    "experiments/ttm_demo.yaml",
    "experiments/chronos_bolt_demo.yaml",
    "experiments/timesfm_demo.yaml",
    "experiments/chronos2_demo.yaml",
    "experiments/bris_t1d_ttm.yaml",
    "experiments/bris_t1d_chronos2.yaml",
    "experiments/aleppo_ttm.yaml",
);

/// The built-in text of `name` (e.g. `models/ttm_default.yaml`).
pub fn get(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}
