//! gRPC errors as sentences a coordinator can act on, one per code, with every field
//! violation listed.

use tonic::Code;
use tonic_types::StatusExt;

/// A readable description of `error`, for the terminal.
pub fn describe(error: &anyhow::Error) -> String {
    let Some(status) = error.downcast_ref::<tonic::Status>() else {
        let text = format!("error: {}", causes(error.chain()));
        return match tls_hint(&text) {
            Some(hint) => format!("{text}\n  {hint}"),
            None => text,
        };
    };
    if let Some(hint) = tls_hint(status.message()) {
        return format!(
            "error: the TLS handshake failed: {}\n  {hint}",
            status.message()
        );
    }
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

/// An error and its causes, `: `-separated, each said once: wrappers such as tonic's
/// transport error repeat their cause in their own message.
pub fn causes<'a>(
    chain: impl IntoIterator<Item = &'a (dyn std::error::Error + 'static)>,
) -> String {
    let mut text = String::new();
    for cause in chain {
        let said = cause.to_string();
        if text.ends_with(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    text
}

/// What to do about a failed TLS handshake, read from rustls's words in `text`: which side
/// refused which certificate, and the option that fixes it.
fn tls_hint(text: &str) -> Option<&'static str> {
    let hints = [
        (
            "CertificateRequired",
            "the service requires a client certificate of its CA: --tls-cert and --tls-key \
             (SPONTAN_TLS_CERT, SPONTAN_TLS_KEY)",
        ),
        (
            "UnknownCA",
            "the service refused the client certificate: it is not signed by the service's CA",
        ),
        (
            "BadCertificate",
            "the service refused the client certificate (--tls-cert)",
        ),
        (
            "UnknownIssuer",
            "the service's certificate is not signed by a CA this command trusts: the suite's \
             internal CA needs --tls-ca (SPONTAN_TLS_CA)",
        ),
        (
            "NotValidForName",
            "the service's certificate does not name the address's host: through a \
             port-forward, give the Service's name with --tls-domain (SPONTAN_TLS_DOMAIN)",
        ),
        (
            "certificate expired",
            "a certificate has expired (the service's, or the one given with --tls-cert)",
        ),
    ];
    let found = hints
        .into_iter()
        .find(|(marker, _)| text.contains(marker))
        .map(|(_, hint)| hint);
    // In TLS 1.3 the client has finished its handshake before the service checks the
    // client's certificate, so a refusal may reach the client only as a closed connection.
    let closed = text.contains("https://")
        && [
            "connection closed",
            "operation was canceled",
            "broken pipe",
            "connection reset",
        ]
        .iter()
        .any(|m| text.contains(m));
    found.or(closed.then_some(
        "the service closed the TLS connection: it may require a client certificate of its \
         CA (--tls-cert and --tls-key, SPONTAN_TLS_CERT, SPONTAN_TLS_KEY) or refuse the one given",
    ))
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
    fn failed_handshakes_say_what_to_do() {
        let status = tonic::Status::unavailable(
            "https://127.0.0.1:50052: transport error: received fatal alert: CertificateRequired",
        );
        let text = describe(&anyhow::Error::new(status));
        assert!(text.contains("--tls-cert and --tls-key"), "{text}");
        let error = anyhow::anyhow!("invalid peer certificate: UnknownIssuer")
            .context("cannot reach https://127.0.0.1:50052");
        let text = describe(&error);
        assert!(text.starts_with("error: cannot reach"), "{text}");
        assert!(text.contains("--tls-ca"), "{text}");
        let plain = describe(&anyhow::anyhow!("connection refused"));
        assert_eq!(plain, "error: connection refused");
    }

    #[test]
    fn every_code_has_a_sentence() {
        for code in 0..=16 {
            assert!(!explain(Code::from_i32(code)).is_empty());
        }
    }
}
