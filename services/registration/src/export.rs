//! ExportMyData: everything this service holds about a volunteer, as one JSON document
//! (GDPR art. 15 and 20). When a table with volunteer data is added, add it here.

use chrono::Utc;
use serde_json::{Value, json};
use spontan_platform::ApiError;

use crate::domain::{Volunteer, age_band, approximate};
use crate::store;

fn channel_name(channel: i32) -> String {
    spontan_proto::v1::AlertChannel::try_from(channel)
        .map(|c| c.as_str_name().to_owned())
        .unwrap_or_default()
}

pub async fn export(pool: &sqlx::PgPool, v: &Volunteer) -> Result<Value, ApiError> {
    let tokens = store::volunteers::tokens(pool, v.id).await?;
    let sessions = store::sessions::of(pool, v.id).await?;
    let alerts = store::alerts::of_volunteer(pool, v.id).await?;
    let matches = store::matches::of_volunteer(pool, v.id).await?;
    let p = &v.profile;
    let c = &p.contact;
    Ok(json!({
        "volunteer_id": v.id,
        "status": v.status.as_str(),
        "contact": {
            "display_name": c.display_name,
            "phone_e164": c.phone_e164,
            "email": c.email,
        },
        "preferred_alert_channel": channel_name(p.channel as i32),
        "channel_addresses": {
            "signal_phone_e164": c.signal_phone_e164,
            "whatsapp_phone_e164": c.whatsapp_phone_e164,
            "telegram_chat_id": c.telegram_chat_id,
            "push_token": c.push_token,
        },
        "skill_ids": p.skill_ids,
        "languages": p.languages,
        "birth_year": p.birth_year,
        "age_band": age_band(p.birth_year, Utc::now()).as_str_name(),
        "home_location": { "latitude": c.home_latitude, "longitude": c.home_longitude },
        "home_location_as_published": {
            "latitude": approximate(c.home_latitude),
            "longitude": approximate(c.home_longitude),
        },
        "travel_radius_km": p.travel_radius_km,
        "messages_opt_out": p.messages_opt_out,
        "availability": v.windows.iter().map(|w| json!({"start": w.start, "end": w.end})).collect::<Vec<_>>(),
        "consent": [{ "text_version": v.consent_text_version, "given_at": v.consent_given_at }],
        "created_at": v.created_at,
        "updated_at": v.updated_at,
        "version": v.version,
        // Each device signed in: when it began, was last refreshed, ends or ended (never a
        // token or its hash).
        "sessions": sessions,
        // Access tokens recorded before sessions existed (release 0.x).
        "tokens_issued": tokens.iter().map(|(i, e)| json!({"issued_at": i, "expires_at": e})).collect::<Vec<_>>(),
        "alerts": alerts.iter().map(|a| json!({
            "match_id": a.match_id,
            "kind": a.kind,
            "task_title": a.task_title,
            "status": a.status,
            "channel": a.channel.map(|c| channel_name(i32::from(c))),
            "attempts": a.attempts,
            "created_at": a.created_at,
            "sent_at": a.sent_at,
        })).collect::<Vec<_>>(),
        "matches": matches.iter().map(|m| json!({
            "match_id": m.match_id,
            "task_id": m.task_id,
            "organisation_id": m.organisation_id,
            "state": spontan_proto::v1::MatchState::try_from(i32::from(m.state))
                .map(|s| s.as_str_name()).unwrap_or_default(),
            "updated_at": m.updated_at,
            "task_title": m.task_title,
            "task_starts_at": m.starts_at,
            "checked_in_at": m.checked_in_at,
            "checked_out_at": m.checked_out_at,
            "hours_on_site": m.hours_on_site,
        })).collect::<Vec<_>>(),
        "total_hours_on_site": matches.iter().map(|m| m.hours_on_site).sum::<f64>(),
    }))
}
