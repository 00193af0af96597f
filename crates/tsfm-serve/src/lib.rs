//! `tsfm serve`: a trained run or a promoted production model behind HTTP.
//!
//! - `POST /v1/forecast`: JSON series (timestamps, values, optional covariates and
//!   known-future rows, by `tsfm predict`'s convention) -> point forecast, quantiles and, for
//!   glucose, P(glucose < 3.9 mmol/L) per step ([`api`], [`hypo`]);
//! - `GET /healthz` (the process answers), `GET /readyz` (the model is loaded),
//!   `GET /metrics` (Prometheus text, [`metrics`]).
//!
//! The model is loaded once, on its own thread; concurrent requests are batched into one
//! model call ([`batcher`]), forecast by the same pipeline as `tsfm predict` ([`model`]).
pub mod api;
pub mod batcher;
pub mod error;
pub mod hypo;
pub mod metrics;
pub mod model;
pub mod panic_guard;
pub mod server;

pub use api::Limits;
pub use batcher::BatchOptions;
pub use error::{ApiError, ServeError};
pub use server::{ServeOptions, run};
