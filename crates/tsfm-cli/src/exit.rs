//! Exit codes: 0 success, 2 a problem the user can fix (config, data, arguments), 1 internal.

/// A user error raised by the CLI itself (a missing argument, a bad combination).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);

pub fn user_error(message: impl Into<String>) -> anyhow::Error {
    UserError(message.into()).into()
}

/// What the user can do about a storage problem somewhere in the chain (a full disk or quota,
/// a read-only or forbidden folder): these are not tsfm's faults, so they exit 2 too.
pub fn storage_hint(err: &anyhow::Error) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .find_map(|io| match io.kind() {
            K::StorageFull | K::QuotaExceeded => Some(
                "free some space (or point the output/cache folders at a disk with room) and run \
                 the command again; a training run continues from its last checkpoint with --resume",
            ),
            K::ReadOnlyFilesystem | K::PermissionDenied => {
                Some("make the folder writable, or point the output/cache folders elsewhere")
            }
            _ => None,
        })
}

/// Walk the error chain for a known user-error type.
pub fn is_user_error(err: &anyhow::Error) -> bool {
    storage_hint(err).is_some()
        || err.chain().any(|cause| {
            cause.is::<UserError>()
                || cause
                    .downcast_ref::<tsfm_experiment::ExperimentError>()
                    .is_some_and(|e| e.is_user_error())
                || cause.is::<tsfm_config::ConfigErrors>()
                || cause.is::<tsfm_data::PreprocessError>()
                || cause
                    .downcast_ref::<tsfm_models::ModelError>()
                    .is_some_and(|e| {
                        matches!(
                            e,
                            tsfm_models::ModelError::Checkpoint { .. }
                                | tsfm_models::ModelError::Invalid(_)
                        )
                    })
                || cause
                    .downcast_ref::<tsfm_train::TrainError>()
                    .is_some_and(|e| {
                        matches!(
                            e,
                            tsfm_train::TrainError::InvalidArgs { .. }
                                | tsfm_train::TrainError::NoCheckpoint { .. }
                                | tsfm_train::TrainError::Checkpoint { .. }
                                | tsfm_train::TrainError::UnsupportedLoss { .. }
                        )
                    })
                || cause
                    .downcast_ref::<tsfm_data::error::DataError>()
                    .is_some_and(|e| e.is_user_error())
                || cause
                    .downcast_ref::<tsfm_runs::RunsError>()
                    .is_some_and(|e| e.is_user_error())
                || cause
                    .downcast_ref::<tsfm_serve::ServeError>()
                    .is_some_and(|e| e.is_user_error())
        })
}

/// The configuration problems, if that is what stopped the command (listed one per line).
pub fn config_errors(err: &anyhow::Error) -> Option<&tsfm_config::ConfigErrors> {
    err.chain().find_map(|cause| {
        cause
            .downcast_ref::<tsfm_config::ConfigErrors>()
            .or_else(
                || match cause.downcast_ref::<tsfm_experiment::ExperimentError>() {
                    Some(tsfm_experiment::ExperimentError::Config(e)) => Some(e),
                    _ => None,
                },
            )
    })
}

/// The error chain on one line, each cause once: many errors already repeat their source's
/// text in their own message.
pub fn message(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if !text.contains(&part) {
            if !text.is_empty() {
                text.push_str(": ");
            }
            text.push_str(&part);
        }
    }
    text
}
