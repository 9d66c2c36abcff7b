//! The volunteer as this service understands it, valid by construction: values here have
//! passed [`crate::validation`], so the rest of the service never re-checks them.

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use spontan_proto::v1::{AgeBand, AlertChannel, VolunteerStatus};
use uuid::Uuid;

/// Everything personal about a volunteer: sealed as one blob with their data key, never in
/// an event, never in a log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactData {
    pub display_name: String,
    pub phone_e164: Option<String>,
    pub email: Option<String>,
    pub signal_phone_e164: Option<String>,
    pub whatsapp_phone_e164: Option<String>,
    pub telegram_chat_id: Option<String>,
    pub push_token: Option<String>,
    /// Exact home location; only a ~100 m rounding is stored outside the blob.
    pub home_latitude: f64,
    pub home_longitude: f64,
}

/// A volunteer's self-declared data, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub contact: ContactData,
    pub channel: AlertChannel,
    pub skill_ids: Vec<String>,
    pub languages: Vec<String>,
    pub birth_year: i32,
    pub travel_radius_km: f64,
    /// No non-essential messages and no reminders. A preference of how the volunteer is
    /// reached, not matching data: it never goes into an event.
    pub messages_opt_out: bool,
}

/// One availability window, start before end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// A valid registration: profile, windows and the consent version agreed to.
#[derive(Debug, Clone)]
pub struct Registration {
    pub idempotency_key: Uuid,
    pub profile: Profile,
    pub windows: Vec<Window>,
    pub consent_text_version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    Paused,
    Erased,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Erased => "erased",
        }
    }

    pub fn parse(text: &str) -> Self {
        match text {
            "active" => Self::Active,
            "paused" => Self::Paused,
            _ => Self::Erased,
        }
    }

    pub fn to_proto(self) -> VolunteerStatus {
        match self {
            Self::Active => VolunteerStatus::Active,
            Self::Paused => VolunteerStatus::Paused,
            Self::Erased => VolunteerStatus::Erased,
        }
    }
}

/// A stored, not erased volunteer with their contact data opened.
#[derive(Debug, Clone)]
pub struct Volunteer {
    pub id: Uuid,
    pub status: Status,
    pub profile: Profile,
    pub windows: Vec<Window>,
    pub consent_text_version: String,
    pub consent_given_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
    /// When the volunteer confirmed a contact with a one-time code; `None` until then.
    pub contact_confirmed_at: Option<DateTime<Utc>>,
}

/// The smallest age a volunteer with this birth year can have in `year`: a birth year alone
/// leaves the birthday open, so the band is the one they belong to for certain.
pub fn minimum_age(birth_year: i32, now: DateTime<Utc>) -> i32 {
    now.year() - birth_year - 1
}

pub fn age_band(birth_year: i32, now: DateTime<Utc>) -> AgeBand {
    match minimum_age(birth_year, now) {
        ..16 => AgeBand::Unspecified,
        16..=17 => AgeBand::Aged16To17,
        18..=25 => AgeBand::Aged18To25,
        26..=40 => AgeBand::Aged26To40,
        41..=60 => AgeBand::Aged41To60,
        61..=70 => AgeBand::Aged61To70,
        _ => AgeBand::Aged71AndOver,
    }
}

/// Rounds a coordinate to 3 decimal places (about 100 m), what leaves this service.
pub fn approximate(degrees: f64) -> f64 {
    (degrees * 1000.0).round() / 1000.0
}

/// Normalises an e-mail address for the duplicate lookup: trimmed and lowercased.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_band_is_the_certain_one() {
        let now = Utc
            .with_ymd_and_hms(2026, 6, 1, 0, 0, 0)
            .single()
            .expect("date");
        // Born 2009: 16 or 17 in 2026, for certain 16.
        assert_eq!(age_band(2009, now), AgeBand::Aged16To17);
        assert_eq!(age_band(2000, now), AgeBand::Aged18To25);
        assert_eq!(age_band(1950, now), AgeBand::Aged71AndOver);
    }

    #[test]
    fn locations_leave_rounded() {
        assert_eq!(approximate(50.941_278), 50.941);
        assert_eq!(approximate(-6.958_6), -6.959);
    }
}
