use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: line {line}: {message}")]
    Journal {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// The server could not be reached or answered 5xx: worth trying again later.
    #[error("MLflow server {uri}: {message}")]
    Unreachable { uri: String, message: String },
    /// The server refused a request (4xx): sending it again would fail again.
    #[error("MLflow server {uri} refused {what}: {message}")]
    Refused {
        uri: String,
        what: String,
        message: String,
    },
    #[error("{0}")]
    Other(String),
}

impl TrackError {
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> TrackError {
        let path = path.into();
        move |source| TrackError::Io { path, source }
    }
}

pub type Result<T> = std::result::Result<T, TrackError>;
