//! The one mapping from domain errors to gRPC statuses.
//!
//! Handlers return [`ApiError`]; it turns into a [`tonic::Status`] with the right code and, for
//! validation, a `google.rpc.BadRequest` detail with one field violation per bad field, so that
//! a phone app can mark every wrong field of a form in one round trip. A refusal because of
//! state carries a machine-readable [`Reason`] (`google.rpc.ErrorInfo`), so that clients
//! choose their words by reason, not by parsing messages. Internal causes are logged with
//! their chain and never sent to the caller.

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

/// The most field violations one answer carries. They travel in a trailer, and standard gRPC
/// clients refuse trailers over 8-16 KB ("metadata size exceeds hard limit"): 50 fit with
/// room to spare, and a form has fewer fields than that.
pub const MAX_VIOLATIONS: usize = 50;

/// Collects field violations while a request is validated, so that all of them are reported
/// (up to [`MAX_VIOLATIONS`]; the last one then says how many more there were).
#[derive(Debug, Default)]
pub struct Violations {
    found: Vec<FieldViolation>,
    /// The field of the first violation left out, and how many were.
    more: Option<(String, usize)>,
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        if self.found.len() < MAX_VIOLATIONS - 1 {
            self.found.push(FieldViolation::new(field, description));
        } else {
            self.more.get_or_insert_with(|| (field.into(), 0)).1 += 1;
        }
    }

    /// Checks the length of a repeated field: over `max` entries, one violation for the
    /// list, and `false`, so that its entries are not checked one by one.
    pub fn list_within(&mut self, field: &str, len: usize, max: usize) -> bool {
        if len > max {
            self.add(field, format!("must have at most {max} entries, not {len}"));
            false
        } else {
            true
        }
    }

    /// The page size of a request that pages a trail by id (`after_id`, `limit`): `limit`
    /// 1 to 500 or 0 for 100, `after_id` not negative; a violation for each that is not.
    pub fn id_page(&mut self, after_id: i64, limit: u32) -> i64 {
        let limit = match limit {
            0 => 100,
            n @ 1..=500 => i64::from(n),
            _ => {
                self.add("limit", "must be between 1 and 500 (0 for 100)");
                0
            }
        };
        if after_id < 0 {
            self.add("after_id", "must not be negative");
        }
        limit
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty() && self.more.is_none()
    }

    /// `Ok(value)` when nothing was found, otherwise `InvalidArgument` with every violation.
    pub fn finish<T>(mut self, value: T) -> Result<T, ApiError> {
        if self.is_empty() {
            return Ok(value);
        }
        if let Some((field, more)) = self.more {
            self.found.push(more_violations(field, more));
        }
        Err(ApiError::InvalidArgument(self.found))
    }
}

/// The last violation of a capped list: at the first field left out, how many were.
fn more_violations(field: String, more: usize) -> FieldViolation {
    FieldViolation::new(
        field,
        format!("{more} problems from here on are not listed; correct these and send again"),
    )
}

/// Why a request is refused in the state things are in: `reason` (`TASK_FINISHED`,
/// `OFFER_EXPIRED`, …) and the service's error `domain` (`task.spontan`, …), sent as
/// `google.rpc.ErrorInfo` and at the start of the status message (`TASK_FINISHED: …`).
/// Each service declares its reasons as constants, so that the set a client can meet is
/// written down in one place per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    pub reason: &'static str,
    pub domain: &'static str,
}

impl Reason {
    pub const fn new(reason: &'static str, domain: &'static str) -> Self {
        Self { reason, domain }
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
    #[error("{reason}: {message}", reason = .0.reason, message = .1)]
    FailedPrecondition(Reason, String),
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

    /// `FailedPrecondition` for `reason`, with a message for people.
    pub fn precondition(reason: Reason, message: impl Into<String>) -> Self {
        Self::FailedPrecondition(reason, message.into())
    }

    /// The machine-readable reason, for refusals that have one.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            Self::FailedPrecondition(reason, _) => Some(*reason),
            _ => None,
        }
    }

    pub fn code(&self) -> Code {
        match self {
            Self::InvalidArgument(_) => Code::InvalidArgument,
            Self::NotFound(_) => Code::NotFound,
            Self::AlreadyExists(_) => Code::AlreadyExists,
            Self::FailedPrecondition(..) => Code::FailedPrecondition,
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
            ApiError::InvalidArgument(mut violations) => {
                // Also for lists not built with `Violations`.
                if violations.len() > MAX_VIOLATIONS {
                    let more = violations.len() - (MAX_VIOLATIONS - 1);
                    let first_left_out = violations[MAX_VIOLATIONS - 1].field.clone();
                    violations.truncate(MAX_VIOLATIONS - 1);
                    violations.push(more_violations(first_left_out, more));
                }
                let mut details = ErrorDetails::new();
                for v in &violations {
                    details.add_bad_request_violation(v.field.clone(), v.description.clone());
                }
                let fields: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
                let message = format!("invalid request: {}", fields.join(", "));
                Status::with_error_details(code, message, details)
            }
            ApiError::FailedPrecondition(reason, message) => {
                let details = ErrorDetails::with_error_info(
                    reason.reason,
                    reason.domain,
                    std::collections::HashMap::new(),
                );
                let message = format!("{}: {message}", reason.reason);
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
    fn a_flood_of_violations_is_capped() {
        let mut v = Violations::new();
        for i in 0..20_000 {
            v.add(format!("statuses[{i}]"), "is not a known task status");
        }
        let status = Status::from(v.finish(()).expect_err("violations were added"));
        let details = status.get_error_details();
        let bad = details.bad_request().expect("a BadRequest detail");
        assert_eq!(bad.field_violations.len(), MAX_VIOLATIONS);
        // The last names the first field left out, and how many problems were.
        let last = bad.field_violations.last().expect("a last violation");
        assert_eq!(last.field, "statuses[49]");
        assert!(
            last.description.starts_with("19951 problems"),
            "{}",
            last.description
        );
        // The message lists fields too: it stays short.
        assert!(status.message().len() < 2_000, "{}", status.message().len());
    }

    #[test]
    fn an_oversized_list_is_one_violation() {
        let mut v = Violations::new();
        assert!(!v.list_within("statuses", 500, 10));
        assert!(v.list_within("priorities", 3, 10));
        let ApiError::InvalidArgument(found) = v.finish(()).expect_err("too long") else {
            panic!("InvalidArgument");
        };
        assert_eq!(
            found,
            [FieldViolation::new(
                "statuses",
                "must have at most 10 entries, not 500"
            )]
        );
    }

    #[test]
    fn a_refusal_names_its_reason_for_machines_and_people() {
        const FINISHED: Reason = Reason::new("TASK_FINISHED", "task.spontan");
        let status = Status::from(ApiError::precondition(FINISHED, "the task is already done"));
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(status.message(), "TASK_FINISHED: the task is already done");
        let details = status.get_error_details();
        let info = details.error_info().expect("an ErrorInfo detail");
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("TASK_FINISHED", "task.spontan")
        );
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
