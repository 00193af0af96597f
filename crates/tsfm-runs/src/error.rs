use std::path::PathBuf;

/// Errors of the results layout. `Invalid*` variants are user errors (bad names, unknown runs).
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error("invalid {what} name {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: &'static str,
    },
    #[error("no run matches {query:?} under {root}; list runs with `tsfm runs list`")]
    RunNotFound { query: String, root: PathBuf },
    #[error("{query:?} matches {count} runs under {root}; give the full run directory")]
    AmbiguousRun {
        query: String,
        count: usize,
        root: PathBuf,
    },
    #[error(
        "{path} exists: a promoted version is never replaced; leave out --as to promote as the \
         next free version"
    )]
    AlreadyPromoted { path: PathBuf },
    #[error("{path} is damaged: {problem}; promote the run again")]
    Damaged { path: PathBuf, problem: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error(
        "{path} is a symbolic link inside the results folder; tsfm writes only into real \
         folders there, so that nothing lands outside it: remove the link (to keep results \
         elsewhere, point output.save_dir there instead)"
    )]
    LinkInResults { path: PathBuf },
}

impl RunsError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> RunsError {
        let path = path.into();
        move |source| RunsError::Io { path, source }
    }

    /// True when the user can fix it (a name, a run id): the CLI exits with code 2.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            RunsError::InvalidName { .. }
                | RunsError::RunNotFound { .. }
                | RunsError::AmbiguousRun { .. }
                | RunsError::LinkInResults { .. }
                | RunsError::AlreadyPromoted { .. }
                | RunsError::Damaged { .. }
        )
    }
}
