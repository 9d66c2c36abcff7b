//! The volunteer events this service publishes, built from the domain. They carry only what
//! matching needs: skills, languages, age band, a location rounded to ~100 m, the travel
//! radius, availability and status, never contact data or the birth year.

use chrono::{DateTime, Utc};
use spontan_platform::events::{envelope, timestamp};
use spontan_platform::outbox::OutboxMessage;
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::{
    GeoPoint, MatchableVolunteer, TimeWindow, VolunteerErased, VolunteerPaused,
    VolunteerRegistered, VolunteerResumed, VolunteerUpdated,
};
use uuid::Uuid;

use crate::domain::{Volunteer, Window, age_band, approximate};

/// `ce_source` of every event of this service.
pub const SOURCE: &str = "/spontan/registration";

/// Which volunteer event to publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Registered,
    Updated,
    Paused,
    Resumed,
}

pub fn window(w: &Window) -> TimeWindow {
    TimeWindow {
        start_time: Some(timestamp(w.start)),
        end_time: Some(timestamp(w.end)),
    }
}

/// The matchable state of `volunteer`; windows already ended are left out.
pub fn matchable(volunteer: &Volunteer, now: DateTime<Utc>) -> MatchableVolunteer {
    let p = &volunteer.profile;
    MatchableVolunteer {
        volunteer_id: volunteer.id.to_string(),
        skill_ids: p.skill_ids.clone(),
        languages: p.languages.clone(),
        age_band: age_band(p.birth_year, now) as i32,
        approximate_location: Some(GeoPoint {
            latitude: approximate(p.contact.home_latitude),
            longitude: approximate(p.contact.home_longitude),
        }),
        travel_radius_km: p.travel_radius_km,
        availability: volunteer
            .windows
            .iter()
            .filter(|w| w.end > now)
            .map(window)
            .collect(),
        status: volunteer.status.to_proto() as i32,
    }
}

/// The outbox record for `change` of `volunteer` at its current version.
pub fn message(topic: &str, change: Change, volunteer: &Volunteer) -> OutboxMessage {
    let state = Some(matchable(volunteer, Utc::now()));
    let payload = match change {
        Change::Registered => {
            Payload::VolunteerRegistered(VolunteerRegistered { volunteer: state })
        }
        Change::Updated => Payload::VolunteerUpdated(VolunteerUpdated { volunteer: state }),
        Change::Paused => Payload::VolunteerPaused(VolunteerPaused { volunteer: state }),
        Change::Resumed => Payload::VolunteerResumed(VolunteerResumed { volunteer: state }),
    };
    let event = envelope(
        volunteer.id.to_string(),
        u64::try_from(volunteer.version).unwrap_or(0),
        payload,
    );
    OutboxMessage::event(topic, SOURCE, &event)
}

/// `VolunteerErased` followed by the tombstone that makes compaction forget the volunteer.
pub fn erased(topic: &str, id: Uuid, version: i64) -> [OutboxMessage; 2] {
    let event = envelope(
        id.to_string(),
        u64::try_from(version).unwrap_or(0),
        Payload::VolunteerErased(VolunteerErased {
            volunteer_id: id.to_string(),
        }),
    );
    [
        OutboxMessage::event(topic, SOURCE, &event),
        OutboxMessage::tombstone(topic, SOURCE, &id.to_string()),
    ]
}
