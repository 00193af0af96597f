//! The HTTP side: routes, limits, and a graceful stop on SIGTERM / Ctrl-C.
//!
//! The async runtime only moves bytes: the model runs on its own worker thread
//! ([`crate::batcher`]), so `/healthz` answers while a batch is being forecast and while the
//! model is still loading.
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::api::{self, Limits};
use crate::batcher::{self, BatchOptions, Job};
use crate::error::{ApiError, ServeError};
use crate::metrics::Metrics;
use crate::model::ServedModel;

/// Everything `tsfm serve` takes.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// A production folder or name, a run folder, or a checkpoint.
    pub model: String,
    /// Results root where production names are looked up.
    pub save_dir: PathBuf,
    pub bind: String,
    pub limits: Limits,
    pub batch: BatchOptions,
}

struct AppState {
    jobs: Mutex<Option<SyncSender<Job>>>,
    ready: AtomicBool,
    model: Mutex<Option<(api::ModelInfo, Option<String>)>>,
    metrics: Arc<Metrics>,
    limits: Limits,
}

/// Serves until SIGTERM or Ctrl-C (then answers what is in flight and returns). `on_listen`
/// is told the bound address (useful with port 0) before the model loads; `on_ready` once it
/// has loaded.
pub fn run(
    options: ServeOptions,
    on_listen: impl FnOnce(SocketAddr),
    on_ready: impl FnOnce(&api::ModelInfo) + Send + 'static,
) -> Result<(), ServeError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| ServeError::Io {
            what: "starting the async runtime".into(),
            source,
        })?;
    runtime.block_on(serve(options, on_listen, on_ready))
}

async fn serve(
    options: ServeOptions,
    on_listen: impl FnOnce(SocketAddr),
    on_ready: impl FnOnce(&api::ModelInfo) + Send + 'static,
) -> Result<(), ServeError> {
    let listener = tokio::net::TcpListener::bind(&options.bind)
        .await
        .map_err(|source| ServeError::Io {
            what: format!("--bind {}", options.bind),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Io {
        what: format!("--bind {}", options.bind),
        source,
    })?;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(options.batch.queue.max(1));
    let metrics = Arc::new(Metrics::default());
    let state = Arc::new(AppState {
        jobs: Mutex::new(Some(tx)),
        ready: AtomicBool::new(false),
        model: Mutex::new(None),
        metrics: metrics.clone(),
        limits: options.limits,
    });
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<ServeError>();
    // Before the model thread starts, so "listening" always comes before "ready".
    on_listen(addr);
    let worker = {
        let state = state.clone();
        let options = options.clone();
        std::thread::Builder::new()
            .name("tsfm-model".into())
            .spawn(move || {
                let model = match ServedModel::load(&options.model, &options.save_dir) {
                    Ok(m) => m,
                    Err(e) => {
                        let _ = failed_tx.send(e);
                        return;
                    }
                };
                *lock(&state.model) = Some((model.info.clone(), model.unit.clone()));
                state.ready.store(true, Ordering::SeqCst);
                on_ready(&model.info);
                batcher::run(rx, options.batch, &state.metrics, |requests| {
                    model.forecast(requests)
                });
            })
            .map_err(|source| ServeError::Io {
                what: "starting the model thread".into(),
                source,
            })?
    };
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/v1/forecast", post(forecast))
        .fallback(not_found)
        .with_state(state.clone());
    let app = crate::panic_guard::guard_panics(app, state.metrics.clone());
    let failure = Arc::new(Mutex::new(None));
    let stop = {
        let failure = failure.clone();
        async move {
            tokio::select! {
                _ = terminate() => tracing::info!("stopping: finishing requests in flight"),
                Ok(e) = failed_rx => *lock(&failure) = Some(e),
            }
        }
    };
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await;
    // Every request has been answered: closing the queue ends the worker.
    lock(&state.jobs).take();
    let _ = tokio::task::spawn_blocking(move || worker.join()).await;
    if let Some(e) = lock(&failure).take() {
        return Err(e);
    }
    served.map_err(|source| ServeError::Io {
        what: format!("serving on {addr}"),
        source,
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// SIGTERM (what `kill`, systemd and Kubernetes send) or Ctrl-C.
async fn terminate() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.request("healthz", 200, None);
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    let model = lock(&state.model).clone();
    match model {
        Some((info, unit)) if state.ready.load(Ordering::SeqCst) => {
            state.metrics.request("readyz", 200, None);
            axum::Json(serde_json::json!({"status": "ready", "model": info, "unit": unit}))
                .into_response()
        }
        _ => {
            state.metrics.request("readyz", 503, None);
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"status": "loading"})),
            )
                .into_response()
        }
    }
}

async fn metrics_text(State(state): State<Arc<AppState>>) -> Response {
    state.metrics.request("metrics", 200, None);
    let text = state.metrics.render(state.ready.load(Ordering::SeqCst));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        None,
        format!(
            "no endpoint {}; there are POST /v1/forecast, GET /healthz, /readyz and /metrics",
            uri.path()
        ),
    )
    .into_response()
}

async fn forecast(State(state): State<Arc<AppState>>, body: Body) -> Response {
    let started = Instant::now();
    let answer = answer(&state, body).await;
    let status = match &answer {
        Ok(_) => 200,
        Err(e) => e.status.as_u16(),
    };
    state
        .metrics
        .request("forecast", status, Some(started.elapsed()));
    match answer {
        Ok(reply) => axum::Json(reply).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn answer(state: &AppState, body: Body) -> Result<api::ForecastReply, ApiError> {
    if !state.ready.load(Ordering::SeqCst) {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            "the model is still loading; retry when /readyz answers 200",
        ));
    }
    let max = state.limits.max_body_bytes;
    let bytes = axum::body::to_bytes(body, max).await.map_err(|_| {
        ApiError::too_large(
            None,
            format!(
                "the body is over {max} bytes (--max-body-bytes); send fewer or shorter series"
            ),
        )
    })?;
    let request = api::parse(&bytes)?;
    let unit = lock(&state.model).as_ref().and_then(|(_, u)| u.clone());
    let valid = api::validate(request, &state.limits, unit.as_deref())?;
    let (reply, answer) = tokio::sync::oneshot::channel();
    let sender = lock(&state.jobs).clone();
    let Some(sender) = sender else {
        return Err(shutting_down());
    };
    match sender.try_send(Job {
        request: valid,
        reply,
    }) {
        Ok(()) => {}
        Err(TrySendError::Full(_)) => {
            state.metrics.busy();
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                None,
                "the server is at capacity (request queue full); retry shortly",
            ));
        }
        Err(TrySendError::Disconnected(_)) => return Err(shutting_down()),
    }
    answer
        .await
        .map_err(|_| ApiError::internal("the model thread stopped before answering"))?
}

fn shutting_down() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        None,
        "the server is shutting down; retry on another instance",
    )
}
