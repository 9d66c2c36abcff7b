//! GetVolunteerContact: a coordinator reaches the people coming to their task. Only for
//! matches that are ACCEPTED or CHECKED_IN, only for the match's organisation, and every read
//! is written to `contact_access_audit` (who, which match, which task, when).
//!
//! What counts is what matching decided. This service learns it from the match topic, a
//! moment after matching; for that moment, matching's contact grant
//! ([`spontan_platform::auth::grant`]), which the coordinator's client passes along from the
//! match it was shown, stands for the acceptance. A grant bridges only the way forward (a
//! match this service knows as PROPOSED or OFFERED, or not at all yet); a later state this
//! service knows (declined, withdrawn, cancelled, completed) is never overridden.

use spontan_platform::ApiError;
use spontan_platform::auth::grant::ContactGrant;
use spontan_platform::auth::{Principal, Role};
use spontan_platform::error::Reason;
use spontan_proto::v1::{GetVolunteerContactResponse, MatchState};
use tonic::Status;
use uuid::Uuid;

use crate::store;
use crate::volunteers::Registry;

/// The match is not (or no longer) ACCEPTED or CHECKED_IN: its contact is not to be had.
pub const MATCH_NOT_ACCEPTED: Reason = Reason::new("MATCH_NOT_ACCEPTED", "registration.spontan");

fn not_accepted() -> Status {
    ApiError::precondition(
        MATCH_NOT_ACCEPTED,
        "the match is not accepted or checked in",
    )
    .into()
}

/// The grant, if it is one of matching's, current, and for `match_id`; anything else is
/// logged and ignored.
fn verified(registry: &Registry, match_id: Uuid, grant: &str) -> Option<ContactGrant> {
    if grant.is_empty() {
        return None;
    }
    let Some(verifier) = &registry.grants else {
        tracing::debug!("a contact grant was sent, but no key to verify it is configured");
        return None;
    };
    match verifier.verify(grant) {
        Ok(g) if g.match_id == match_id => Some(g),
        Ok(_) => {
            tracing::warn!(%match_id, "contact grant for another match ignored");
            None
        }
        Err(error) => {
            tracing::info!(%match_id, %error, "contact grant not accepted");
            None
        }
    }
}

pub async fn get(
    registry: &Registry,
    caller: &Principal,
    match_id: &str,
    grant: &str,
) -> Result<GetVolunteerContactResponse, Status> {
    if !matches!(caller.role, Role::Coordinator | Role::Admin) {
        return Err(ApiError::PermissionDenied("a coordinator token is required").into());
    }
    let id = Uuid::parse_str(match_id.trim())
        .map_err(|_| ApiError::invalid("match_id", "must be a match id (UUID)"))?;
    let known = store::matches::find(&registry.pool, id)
        .await
        .map_err(ApiError::from)?;
    let granted = verified(registry, id, grant.trim());
    let (volunteer_id, task_id, organisation) = match (known, granted) {
        (Some(known), granted) => {
            caller.require_coordinator_of(&known.organisation_id)?;
            let state = i32::from(known.state);
            let open =
                state == MatchState::Accepted as i32 || state == MatchState::CheckedIn as i32;
            let before_acceptance =
                state == MatchState::Proposed as i32 || state == MatchState::Offered as i32;
            let bridged = before_acceptance
                && granted.is_some_and(|g| {
                    g.volunteer_id == known.volunteer_id
                        && g.organisation_id == known.organisation_id
                });
            if !open && !bridged {
                return Err(not_accepted());
            }
            (known.volunteer_id, known.task_id, known.organisation_id)
        }
        (None, Some(g)) => {
            caller.require_coordinator_of(&g.organisation_id)?;
            (g.volunteer_id, g.task_id, g.organisation_id)
        }
        (None, None) => return Err(ApiError::NotFound("match").into()),
    };
    let volunteer = registry.get(volunteer_id).await.map_err(|e| match e {
        ApiError::Unauthenticated => ApiError::NotFound("volunteer"),
        other => other,
    })?;
    store::matches::audit_contact_access(
        &registry.pool,
        id,
        volunteer_id,
        task_id,
        &organisation,
        &caller.subject,
    )
    .await
    .map_err(ApiError::from)?;
    tracing::info!(match_id = %id, accessor = caller.subject, "volunteer contact read");
    Ok(GetVolunteerContactResponse {
        match_id: id.to_string(),
        contact: Some(crate::convert::contact(&volunteer.profile.contact)),
    })
}
