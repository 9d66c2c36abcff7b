//! `/dev/sign-in`: staff tokens for local stacks, minted with the dev signing key exactly as
//! `spontan token mint` does, and handed to the console or dashboard in the URL fragment
//! (never sent to a server, never in access logs). The route exists only when
//! `web.dev_signing_key` is set.

use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use http::StatusCode;
use serde::Deserialize;
use spontan_platform::auth::{Role, TokenIssuer};

/// As long as `spontan token mint`'s default: a working day.
const TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// The organisation claim's form, as the task service checks it.
const MAX_ORGANISATION: usize = 100;

#[derive(Debug, Deserialize)]
pub struct SignIn {
    role: Option<String>,
    organisation: Option<String>,
}

/// Why a sign-in request is refused: the message is the 400's plain-text body.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadSignIn {
    #[error("role must be coordinator, dashboard or admin")]
    Role,
    #[error("organisation is required for coordinator and dashboard tokens")]
    MissingOrganisation,
    #[error(
        "organisation must be at most {MAX_ORGANISATION} letters, digits, '-', '_', '.' or ':'"
    )]
    Organisation,
}

impl IntoResponse for BadSignIn {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, self.to_string()).into_response()
    }
}

/// What to mint and where to send it.
#[derive(Debug, PartialEq, Eq)]
struct Grant {
    role: Role,
    organisation: Option<String>,
    /// The page that takes the token.
    page: &'static str,
}

impl SignIn {
    fn grant(&self) -> Result<Grant, BadSignIn> {
        let (role, page) = match self.role.as_deref() {
            Some("coordinator") => (Role::Coordinator, "/console/"),
            Some("dashboard") => (Role::Dashboard, "/dashboard/"),
            Some("admin") => (Role::Admin, "/console/"),
            _ => return Err(BadSignIn::Role),
        };
        let organisation = self
            .organisation
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty());
        if let Some(organisation) = organisation
            && (organisation.len() > MAX_ORGANISATION
                || !organisation
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        {
            return Err(BadSignIn::Organisation);
        }
        // Admins act for every organisation; the others for exactly one.
        if organisation.is_none() && role != Role::Admin {
            return Err(BadSignIn::MissingOrganisation);
        }
        Ok(Grant {
            role,
            organisation: organisation.map(str::to_owned),
            page,
        })
    }
}

/// Mints a token and answers `303 See Other` to the page that takes it.
#[tracing::instrument(skip_all)]
pub async fn sign_in(State(issuer): State<TokenIssuer>, Query(request): Query<SignIn>) -> Response {
    let grant = match request.grant() {
        Ok(grant) => grant,
        Err(bad) => return bad.into_response(),
    };
    let subject = format!("dev-{}", role_name(grant.role));
    match issuer.issue(
        &subject,
        grant.role,
        grant.organisation.as_deref(),
        TOKEN_TTL,
    ) {
        Ok(token) => {
            tracing::info!(
                subject,
                organisation = grant.organisation.as_deref().unwrap_or_default(),
                "dev token minted"
            );
            Redirect::to(&format!("{}#token={token}", grant.page)).into_response()
        }
        Err(error) => {
            tracing::error!(%error, "dev token could not be minted");
            (StatusCode::INTERNAL_SERVER_ERROR, "could not mint a token").into_response()
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Volunteer => "volunteer",
        Role::Coordinator => "coordinator",
        Role::Dashboard => "dashboard",
        Role::Admin => "admin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(role: &str, organisation: Option<&str>) -> Result<Grant, BadSignIn> {
        SignIn {
            role: Some(role.into()),
            organisation: organisation.map(Into::into),
        }
        .grant()
    }

    #[test]
    fn each_role_goes_to_its_page() {
        assert_eq!(
            ask("coordinator", Some("thw")).map(|g| g.page),
            Ok("/console/")
        );
        assert_eq!(
            ask("dashboard", Some("thw")).map(|g| g.page),
            Ok("/dashboard/")
        );
        assert_eq!(ask("admin", None).map(|g| g.page), Ok("/console/"));
    }

    #[test]
    fn volunteers_and_unknown_roles_are_refused() {
        assert_eq!(ask("volunteer", Some("thw")), Err(BadSignIn::Role));
        assert_eq!(ask("Coordinator", Some("thw")), Err(BadSignIn::Role));
        assert_eq!(
            SignIn {
                role: None,
                organisation: None
            }
            .grant(),
            Err(BadSignIn::Role)
        );
    }

    #[test]
    fn staff_need_a_wellformed_organisation() {
        assert_eq!(
            ask("coordinator", None),
            Err(BadSignIn::MissingOrganisation)
        );
        assert_eq!(
            ask("dashboard", Some("  ")),
            Err(BadSignIn::MissingOrganisation)
        );
        assert_eq!(
            ask("coordinator", Some("thw bonn")),
            Err(BadSignIn::Organisation)
        );
        assert_eq!(
            ask("admin", Some(&"x".repeat(101))),
            Err(BadSignIn::Organisation)
        );
        assert_eq!(
            ask("coordinator", Some("thw-ov-bonn")).map(|g| g.organisation),
            Ok(Some("thw-ov-bonn".into()))
        );
    }
}
