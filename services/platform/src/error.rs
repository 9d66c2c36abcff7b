//! The one mapping from domain errors to gRPC statuses.
//!
//! Handlers return [`ApiError`]; it turns into a [`tonic::Status`] with the right code and, for
//! validation, a `google.rpc.BadRequest` detail with one field violation per bad field, so that
//! a phone app can mark every wrong field of a form in one round trip. Internal causes are
//! logged with their chain and never sent to the caller.

use std::time::Duration;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// One invalid field of a request: the field's path (`contact.phone_e164`,
/// `availability[2].end_time`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: String,
    pub description: String,
}

impl FieldViolation {
    pub fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

/// Collects field violations while a request is validated, so that all of them are reported.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push(FieldViolation::new(field, description));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was found, otherwise `InvalidArgument` with every violation.
    pub fn finish<T>(self, value: T) -> Result<T, ApiError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ApiError::InvalidArgument(self.0))
        }
    }
}

/// Every way a request can fail, as the caller should see it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid request")]
    InvalidArgument(Vec<FieldViolation>),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Aborted(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    PermissionDenied(&'static str),
    #[error("too many requests")]
    ResourceExhausted { retry_after: Duration },
    #[error("not implemented yet: {0}")]
    Unimplemented(&'static str),
    #[error("temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn invalid(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self::InvalidArgument(vec![FieldViolation::new(field, description)])
    }

    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(_) => Code::FailedPrecondition,
            Self::Aborted(_) => Code::Aborted,
            Self::Unauthenticated => Code::Unauthenticated,
            Self::PermissionDenied(_) => Code::PermissionDenied,
            Self::ResourceExhausted { .. } => Code::ResourceExhausted,
            Self::Unimplemented(_) => Code::Unimplemented,
            Self::Unavailable(_) => Code::Unavailable,
            Self::Internal(_) => Code::Internal,
        }
    }
}

impl From<sqlx::Error> for ApiError {
    /// Connection trouble is `Unavailable` (the client may retry); anything else is a bug or
    /// a broken invariant and stays `Internal`.
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable(error.into()),
            sqlx::Error::Database(db) if is_connection_loss(db.code().as_deref()) => {
                Self::Unavailable(error.into())
            }
            // `statement_timeout` (57014): the database is overloaded or a lock is held; the
            // statement was rolled back, so a retry is safe.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("57014") => {
                Self::Unavailable(error.into())
            }
            _ => Self::Internal(error.into()),
        }
    }
}

/// SQLSTATE classes that mean the server went away or is shutting down (class 08, 57P0x).
fn is_connection_loss(code: Option<&str>) -> bool {
    code.is_some_and(|c| c.starts_with("08") || c.starts_with("57P0"))
}

impl From<ApiError> for Status {
    fn from(error: ApiError) -> Self {
        let code = error.code();
        match error {
            ApiError::InvalidArgument(violations) => {
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                let message = format!("invalid request: {}", fields.join(", "));
                Status::with_error_details(code, message, details)
            }
            ApiError::ResourceExhausted { retry_after } => {
                let mut details = ErrorDetails::new();
                details.set_retry_info(Some(retry_after));
                Status::with_error_details(code, "too many requests, retry later", details)
            }
            ApiError::Unavailable(cause) => {
                tracing::warn!(
                    error = format!("{cause:#}"),
                    "request failed: dependency unavailable"
                );
                Status::unavailable("temporarily unavailable, retry later")
            }
            ApiError::Internal(cause) => {
                tracing::error!(
                    error = format!("{cause:#}"),
                    "request failed: internal error"
                );
                Status::internal("internal error")
            }
            other => Status::new(code, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_violation_reaches_the_caller() {
        let mut v = Violations::new();
        v.add(
            "contact.phone_e164",
            "must be in E.164 form, like +4915112345678",
        );
        v.add("travel_radius_km", "must be between 1 and 200");
        let status = Status::from(v.finish(()).expect_err("violations were added"));
        assert_eq!(status.code(), Code::InvalidArgument);
        let details = status.get_error_details();
        let bad = details.bad_request().expect("a BadRequest detail");
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["contact.phone_e164", "travel_radius_km"]);
    }

    #[test]
    fn internal_causes_stay_inside() {
        let status = Status::from(ApiError::Internal(anyhow::anyhow!("password=hunter2")));
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("hunter2"));
    }

    #[test]
    fn lost_connections_are_retryable() {
        let error = ApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(error.code(), Code::Unavailable);
    }
}
