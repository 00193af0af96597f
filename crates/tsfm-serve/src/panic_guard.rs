//! A panic anywhere in a handler answers 500 instead of dropping the connection.
//!
//! The model call has its own guard ([`crate::batcher`]); this one covers the rest (parsing,
//! validation, building the reply). Each request runs as its own task: a panic ends that
//! task only, and the join error becomes a JSON 500 like every other error, counted in
//! `/metrics`.
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::metrics::Metrics;

/// `router` with every route guarded.
pub fn guard_panics(router: Router, metrics: Arc<Metrics>) -> Router {
    router.layer(middleware::from_fn_with_state(metrics, answer_500_on_panic))
}

async fn answer_500_on_panic(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let endpoint = endpoint_label(request.uri().path());
    match tokio::spawn(next.run(request)).await {
        Ok(response) => response,
        Err(failure) => {
            metrics.panic();
            metrics.request(endpoint, 500, None);
            tracing::error!("a request to {endpoint} failed: {failure}");
            ApiError::internal(
                "the server failed while answering this request (its log has the cause); \
                 the request was not forecast, retry or report it",
            )
            .into_response()
        }
    }
}

/// The `endpoint` label `/metrics` counts requests under.
fn endpoint_label(path: &str) -> &'static str {
    match path {
        "/v1/forecast" => "forecast",
        "/healthz" => "healthz",
        "/readyz" => "readyz",
        "/metrics" => "metrics",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::StatusCode;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn call(app: &Router, path: &str) -> (StatusCode, String) {
        let request = Request::builder().uri(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn fails() -> &'static str {
        panic!("boom outside the model")
    }

    #[tokio::test]
    async fn a_panicking_handler_answers_500_and_the_next_request_is_served() {
        let metrics = Arc::new(Metrics::default());
        let app = guard_panics(
            Router::new()
                .route("/v1/forecast", get(fails))
                .route("/healthz", get(|| async { "ok" })),
            metrics.clone(),
        );
        let (status, body) = call(&app, "/v1/forecast").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"]["status"], 500);
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("the server failed while answering this request"),
            "{body}"
        );
        assert_eq!(call(&app, "/healthz").await, (StatusCode::OK, "ok".into()));
        let text = metrics.render(true);
        assert!(text.contains("tsfm_panics_total 1"), "{text}");
        assert!(
            text.contains(r#"tsfm_requests_total{endpoint="forecast",status="500"} 1"#),
            "{text}"
        );
    }
}
