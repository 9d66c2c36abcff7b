//! gRPC errors as sentences a coordinator can act on, one per code, with every field
//! violation listed.

use tonic::Code;
use tonic_types::StatusExt;

/// A readable description of `error`, for the terminal.
pub fn describe(error: &anyhow::Error) -> String {
    let Some(status) = error.downcast_ref::<tonic::Status>() else {
        return format!("error: {error:#}");
    };
    let mut text = format!("error: {}: {}", explain(status.code()), status.message());
    let details = status.get_error_details();
    if let Some(bad) = details.bad_request() {
        for violation in &bad.field_violations {
            text.push_str(&format!(
                "\n  - {}: {}",
                violation.field, violation.description
            ));
        }
    }
    if let Some(retry) = details.retry_info().and_then(|r| r.retry_delay) {
        text.push_str(&format!("\n  retry in {} s", retry.as_secs_f64().ceil()));
    }
    text
}

/// What a gRPC code means for the person at the keyboard.
pub fn explain(code: Code) -> &'static str {
    match code {
        Code::Ok => "done",
        Code::InvalidArgument => "the request has invalid fields",
        Code::NotFound => "not found",
        Code::AlreadyExists => "already exists",
        Code::PermissionDenied => "your token does not allow this",
        Code::Unauthenticated => {
            "no valid token (set SPONTAN_TOKEN or pass --token; see `spontan token mint`)"
        }
        Code::FailedPrecondition => "not possible in the current state",
        Code::Aborted => "someone else changed it first; fetch it again and retry",
        Code::ResourceExhausted => "too many requests",
        Code::Unavailable => "the service is unreachable or overloaded; retry",
        Code::DeadlineExceeded => "the service took too long; retry",
        Code::Unimplemented => "the service does not offer this yet",
        Code::Cancelled => "cancelled",
        Code::OutOfRange => "out of range",
        Code::DataLoss => "data loss",
        Code::Internal | Code::Unknown => "the service failed (see its logs)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic_types::ErrorDetails;

    #[test]
    fn field_violations_are_listed() {
        let mut details = ErrorDetails::new();
        details.add_bad_request_violation("headcount", "must be between 1 and 500");
        let status = tonic::Status::with_error_details(
            Code::InvalidArgument,
            "invalid request: headcount",
            details,
        );
        let text = describe(&anyhow::Error::new(status));
        assert!(text.contains("invalid fields"), "{text}");
        assert!(
            text.contains("- headcount: must be between 1 and 500"),
            "{text}"
        );
    }

    #[test]
    fn every_code_has_a_sentence() {
        for code in 0..=16 {
            assert!(!explain(Code::from_i32(code)).is_empty());
        }
    }
}
