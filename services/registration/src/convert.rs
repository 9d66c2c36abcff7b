//! Domain to proto, and the field-mask merge of UpdateMyProfile (proto to domain goes
//! through [`crate::validation`]).

use chrono::Utc;
use spontan_platform::ApiError;
use spontan_platform::error::Violations;
use spontan_platform::events::timestamp;
use spontan_proto::v1::{ChannelAddresses, Contact, GeoPoint, VolunteerProfile};

use crate::domain::{ContactData, Volunteer, age_band};
use crate::validation::{self, ProfileInput};

pub fn contact(c: &ContactData) -> Contact {
    Contact {
        display_name: c.display_name.clone(),
        phone_e164: c.phone_e164.clone().unwrap_or_default(),
        email: c.email.clone().unwrap_or_default(),
    }
}

fn addresses(c: &ContactData) -> ChannelAddresses {
    ChannelAddresses {
        signal_phone_e164: c.signal_phone_e164.clone().unwrap_or_default(),
        whatsapp_phone_e164: c.whatsapp_phone_e164.clone().unwrap_or_default(),
        telegram_chat_id: c.telegram_chat_id.clone().unwrap_or_default(),
        push_token: c.push_token.clone().unwrap_or_default(),
    }
}

/// The volunteer's view of themselves; `confirmation_required` as
/// [`crate::volunteers::Registry::confirmation_required`] says.
pub fn profile(v: &Volunteer, confirmation_required: bool) -> VolunteerProfile {
    let p = &v.profile;
    VolunteerProfile {
        volunteer_id: v.id.to_string(),
        contact: Some(contact(&p.contact)),
        preferred_alert_channel: p.channel as i32,
        channel_addresses: Some(addresses(&p.contact)),
        skill_ids: p.skill_ids.clone(),
        languages: p.languages.clone(),
        birth_year: p.birth_year,
        home_location: Some(GeoPoint {
            latitude: p.contact.home_latitude,
            longitude: p.contact.home_longitude,
        }),
        travel_radius_km: p.travel_radius_km,
        availability: v.windows.iter().map(crate::events::window).collect(),
        status: v.status.to_proto() as i32,
        consent_text_version: v.consent_text_version.clone(),
        consent_given_at: Some(timestamp(v.consent_given_at)),
        created_at: Some(timestamp(v.created_at)),
        updated_at: Some(timestamp(v.updated_at)),
        version: u64::try_from(v.version).unwrap_or(0),
        age_band: age_band(p.birth_year, Utc::now()) as i32,
        contact_confirmed_at: v.contact_confirmed_at.map(timestamp),
        contact_confirmation_required: confirmation_required,
        messages_opt_out: p.messages_opt_out,
    }
}

/// More update_mask paths than a profile has fields (with room for repeats).
const MAX_MASK_PATHS: usize = 32;

/// The current profile with the fields named in `paths` taken from `new`, validated as a
/// whole (violations under `profile.`); unknown or output-only paths are violations of
/// `update_mask`.
pub fn merge(
    current: &Volunteer,
    new: &VolunteerProfile,
    paths: &[String],
) -> Result<crate::domain::Profile, ApiError> {
    let p = &current.profile;
    let mut input = ProfileInput {
        contact: Some(contact(&p.contact)),
        channel: p.channel as i32,
        addresses: Some(addresses(&p.contact)),
        skill_ids: p.skill_ids.clone(),
        languages: p.languages.clone(),
        birth_year: p.birth_year,
        home: Some(GeoPoint {
            latitude: p.contact.home_latitude,
            longitude: p.contact.home_longitude,
        }),
        travel_radius_km: p.travel_radius_km,
        messages_opt_out: p.messages_opt_out,
    };
    let mut v = Violations::new();
    if paths.is_empty() {
        v.add("update_mask", "must name at least one field");
    }
    // More paths than there are fields is one violation, not one per path.
    let paths = if v.list_within("update_mask.paths", paths.len(), MAX_MASK_PATHS) {
        paths
    } else {
        &[]
    };
    let new_contact = new.contact.clone().unwrap_or_default();
    let new_addresses = new.channel_addresses.clone().unwrap_or_default();
    for path in paths {
        let contact = input.contact.get_or_insert_with(Default::default);
        let addresses = input.addresses.get_or_insert_with(Default::default);
        match path.as_str() {
            "contact" => *contact = new_contact.clone(),
            "contact.display_name" => contact.display_name = new_contact.display_name.clone(),
            "contact.phone_e164" => contact.phone_e164 = new_contact.phone_e164.clone(),
            "contact.email" => contact.email = new_contact.email.clone(),
            "preferred_alert_channel" => input.channel = new.preferred_alert_channel,
            "channel_addresses" => *addresses = new_addresses.clone(),
            "channel_addresses.signal_phone_e164" => {
                addresses.signal_phone_e164 = new_addresses.signal_phone_e164.clone();
            }
            "channel_addresses.whatsapp_phone_e164" => {
                addresses.whatsapp_phone_e164 = new_addresses.whatsapp_phone_e164.clone();
            }
            "channel_addresses.telegram_chat_id" => {
                addresses.telegram_chat_id = new_addresses.telegram_chat_id.clone();
            }
            "channel_addresses.push_token" => {
                addresses.push_token = new_addresses.push_token.clone();
            }
            "skill_ids" => input.skill_ids = new.skill_ids.clone(),
            "languages" => input.languages = new.languages.clone(),
            "birth_year" => input.birth_year = new.birth_year,
            "home_location" => input.home = new.home_location,
            "travel_radius_km" => input.travel_radius_km = new.travel_radius_km,
            "messages_opt_out" => input.messages_opt_out = new.messages_opt_out,
            other => v.add(
                "update_mask",
                format!("{other} cannot be updated here (see VolunteerProfile)"),
            ),
        }
    }
    let merged = validation::profile(&input, "profile", Utc::now(), &mut v);
    match merged {
        Some(profile) => v.finish(profile),
        None => Err(v
            .finish(())
            .err()
            .unwrap_or_else(|| ApiError::invalid("profile", "is invalid"))),
    }
}

/// A read of a volunteer's contact, as admins list it.
pub fn contact_read(r: crate::store::matches::ContactReadRow) -> spontan_proto::v1::ContactRead {
    spontan_proto::v1::ContactRead {
        id: r.id,
        read_at: Some(timestamp(r.accessed_at)),
        reader_subject: r.accessor,
        organisation_id: r.organisation_id.unwrap_or_default(),
        task_id: r.task_id.map(|id| id.to_string()).unwrap_or_default(),
        match_id: r.match_id.to_string(),
    }
}
