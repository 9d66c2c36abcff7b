//! Arbitrary bytes as RegistrationService requests, through the registration validators:
//! `validation::registration` (Register), `convert::merge` (UpdateMyProfile, into a stored
//! volunteer) and `validation::windows` (SetAvailability).
#![no_main]

use std::sync::LazyLock;

use chrono::Utc;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use spontan_platform::error::Violations;
use spontan_proto::v1::*;
use spontan_registration::domain::{Status, Volunteer};
use spontan_registration::{convert, validation};

const CONSENT: &str = "2025-06-de";

static STORED: LazyLock<Volunteer> = LazyLock::new(|| {
    let now = Utc::now();
    let request = RegisterRequest {
        idempotency_key: "0193a3f0-0000-7000-8000-000000000001".into(),
        consent: Some(Consent {
            given: true,
            text_version: CONSENT.into(),
        }),
        contact: Some(Contact {
            display_name: "Anna".into(),
            phone_e164: "+4915112345678".into(),
            email: String::new(),
        }),
        preferred_alert_channel: AlertChannel::Sms.into(),
        languages: vec!["de".into()],
        birth_year: 1990,
        home_location: Some(GeoPoint {
            latitude: 50.0,
            longitude: 7.0,
        }),
        travel_radius_km: 10.0,
        ..Default::default()
    };
    let registration =
        validation::registration(&request, CONSENT, now).expect("the seed volunteer is valid");
    Volunteer {
        id: registration.idempotency_key,
        status: Status::Active,
        profile: registration.profile,
        windows: Vec::new(),
        consent_text_version: CONSENT.into(),
        consent_given_at: now,
        created_at: now,
        updated_at: now,
        version: 1,
        contact_confirmed_at: None,
    }
});

fuzz_target!(|data: &[u8]| {
    let now = Utc::now();
    if let Ok(request) = RegisterRequest::decode(data) {
        if let Err(error) = validation::registration(&request, CONSENT, now) {
            spontan_fuzz::assert_refusal(error);
        }
    }
    if let Ok(request) = UpdateMyProfileRequest::decode(data) {
        let new = request.profile.unwrap_or_default();
        let paths = request.update_mask.map(|m| m.paths).unwrap_or_default();
        if let Err(error) = convert::merge(&STORED, &new, &paths) {
            spontan_fuzz::assert_refusal(error);
        }
    }
    if let Ok(request) = SetAvailabilityRequest::decode(data) {
        let mut v = Violations::new();
        let windows = validation::windows(&request.availability, "availability", now, &mut v);
        if v.is_empty() {
            assert_eq!(windows.len(), request.availability.len());
            assert!(windows.windows(2).all(|w| w[0].end <= w[1].start));
        }
        spontan_fuzz::check(v);
    }
});
