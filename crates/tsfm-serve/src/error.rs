//! Errors of the server: each HTTP error names the field it is about and what to do, as JSON
//! `{"error": {"status": 422, "field": "series[0].values[3]", "message": "..."}}`.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// An answer other than 200 to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    /// The JSON path of the offending field (`series[1].timestamps[4]`), when there is one.
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, field: Option<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            field,
            message: message.into(),
        }
    }

    /// 422: the request is well-formed JSON but cannot be forecast as it is.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(field.into()),
            message,
        )
    }

    /// 413: over a size limit of the server.
    pub fn too_large(field: Option<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, field, message)
    }

    /// 500: the server failed; the message says what happened, never a stack trace.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, None, message)
    }

    pub fn body(&self) -> serde_json::Value {
        serde_json::json!({
            "error": {
                "status": self.status.as_u16(),
                "field": self.field,
                "message": self.message,
            }
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

/// Why the server could not start (a model that cannot be loaded, a port in use).
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Experiment(#[from] tsfm_experiment::ExperimentError),
    #[error(transparent)]
    Runs(#[from] tsfm_runs::RunsError),
    #[error("{0}")]
    User(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

impl ServeError {
    /// The user can fix it (a model name, a flag, a port): the binary exits with 2.
    pub fn is_user_error(&self) -> bool {
        match self {
            ServeError::Experiment(e) => e.is_user_error(),
            ServeError::Runs(e) => e.is_user_error(),
            ServeError::User(_) | ServeError::Io { .. } => true,
        }
    }
}
