//! The participation list (`ListParticipants`): who worked in an incident for an organisation
//! — name, task, place, date, hours on site — for accident insurance, thanks and
//! certificates. Names are personal data: every listing is recorded in the contact-access
//! audit, one entry per volunteer listed (purpose `participation`).

use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use spontan_platform::error::Violations;
use spontan_platform::events::timestamp;
use spontan_proto::v1 as pb;
use uuid::Uuid;

use crate::store::matches;
use crate::volunteers::Registry;

pub async fn list(
    registry: &Registry,
    caller: &Principal,
    r: &pb::ListParticipantsRequest,
) -> Result<pb::ListParticipantsResponse, ApiError> {
    let organisation = crate::messages::scope(caller)?;
    let mut v = Violations::new();
    let incident_id = v.id::<Uuid>("incident_id", &r.incident_id);
    let incident_id = v
        .finish(incident_id)?
        .ok_or_else(|| ApiError::invalid("incident_id", "is required"))?;
    let rows = matches::participants(&registry.pool, incident_id, organisation.as_deref())
        .await
        .map_err(ApiError::from)?;
    let mut participants = Vec::with_capacity(rows.len());
    let mut listed = Vec::with_capacity(rows.len());
    for row in rows {
        // Erased meanwhile (or not yet known): left out, as the query leaves erased ones out.
        let Ok(volunteer) = registry.get(row.volunteer_id).await else {
            continue;
        };
        participants.push(pb::Participant {
            match_id: row.match_id.to_string(),
            display_name: volunteer.profile.contact.display_name.clone(),
            task_id: row.task_id.to_string(),
            task_title: row.task_title.clone().unwrap_or_default(),
            task_address: row.task_address.clone().unwrap_or_default(),
            task_starts_at: row.starts_at.map(timestamp),
            checked_in_at: row.checked_in_at.map(timestamp),
            checked_out_at: row.checked_out_at.map(timestamp),
            hours_on_site: row.hours_on_site,
            state: i32::from(row.state),
        });
        listed.push(row);
    }
    if !listed.is_empty() {
        matches::audit_participation(&registry.pool, &caller.subject, &listed)
            .await
            .map_err(ApiError::from)?;
    }
    participants.sort_by(|a, b| {
        let start = |p: &pb::Participant| p.task_starts_at.map(|t| (t.seconds, t.nanos));
        start(a)
            .cmp(&start(b))
            .then_with(|| a.display_name.cmp(&b.display_name))
    });
    let total_hours = participants.iter().map(|p| p.hours_on_site).sum();
    tracing::info!(%incident_id, listed = participants.len(), "participation list read");
    Ok(pb::ListParticipantsResponse {
        participants,
        total_hours,
    })
}
