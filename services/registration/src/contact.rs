//! GetVolunteerContact: a coordinator reaches the people coming to their task. Only for
//! matches this service saw reach ACCEPTED or CHECKED_IN, only for the match's organisation,
//! and every read is written to `contact_access_audit` (who, which match, when).

use spontan_platform::ApiError;
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

pub async fn get(
    registry: &Registry,
    caller: &Principal,
    match_id: &str,
) -> Result<GetVolunteerContactResponse, Status> {
    if !matches!(caller.role, Role::Coordinator | Role::Admin) {
        return Err(ApiError::PermissionDenied("a coordinator token is required").into());
    }
    let id = Uuid::parse_str(match_id.trim())
        .map_err(|_| ApiError::invalid("match_id", "must be a match id (UUID)"))?;
    let found = store::matches::find(&registry.pool, id)
        .await
        .map_err(ApiError::from)?;
    let (volunteer_id, organisation, state) = found.ok_or(ApiError::NotFound("match"))?;
    caller.require_coordinator_of(&organisation)?;
    let state = i32::from(state);
    if state != MatchState::Accepted as i32 && state != MatchState::CheckedIn as i32 {
        return Err(not_accepted());
    }
    let volunteer = registry.get(volunteer_id).await.map_err(|e| match e {
        ApiError::Unauthenticated => ApiError::NotFound("volunteer"),
        other => other,
    })?;
    store::matches::audit_contact_access(&registry.pool, id, volunteer_id, &caller.subject)
        .await
        .map_err(ApiError::from)?;
    tracing::info!(match_id = %id, accessor = caller.subject, "volunteer contact read");
    Ok(GetVolunteerContactResponse {
        match_id: id.to_string(),
        contact: Some(crate::convert::contact(&volunteer.profile.contact)),
    })
}
