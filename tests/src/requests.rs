//! The requests most end-to-end tests send, around one flood in Ahrweiler, and the calls
//! that most tests make with them: each test takes a request as it is or changes a field or
//! two with struct update syntax, so that what a test does differently stands out.

use std::time::Duration;

use spontan_platform::events::timestamp;
use spontan_platform::testkit::{authed, eventually};
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;

/// The centre of the flood the tests play through (Ahrweiler).
const CENTRE: (f64, f64) = (50.5427, 7.1125);

/// A point `north_km` north and `east_km` east of the flood's centre.
pub fn near(north_km: f64, east_km: f64) -> GeoPoint {
    GeoPoint {
        latitude: CENTRE.0 + north_km / 111.2,
        longitude: CENTRE.1 + east_km / 70.6,
    }
}

/// From `from_hours` to `to_hours` from now.
pub fn window(from_hours: i64, to_hours: i64) -> TimeWindow {
    let now = chrono::Utc::now();
    TimeWindow {
        start_time: Some(timestamp(now + chrono::Duration::hours(from_hours))),
        end_time: Some(timestamp(now + chrono::Duration::hours(to_hours))),
    }
}

/// A fresh idempotency key, as an app makes one per form submission.
pub fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A volunteer named `name` with phone `phone`, living at `home`: consent given, alerts by
/// Signal, fills sandbags, speaks German, born 1990, travels 30 km, available for 12 hours
/// from now.
pub fn registration(name: &str, phone: &str, home: GeoPoint) -> RegisterRequest {
    RegisterRequest {
        idempotency_key: key(),
        consent: Some(Consent {
            given: true,
            text_version: "2025-06-de".into(),
        }),
        contact: Some(Contact {
            display_name: name.into(),
            phone_e164: phone.into(),
            email: String::new(),
        }),
        preferred_alert_channel: AlertChannel::Signal.into(),
        channel_addresses: None,
        skill_ids: vec!["sandbag_filling".into()],
        languages: vec!["de".into()],
        birth_year: 1990,
        home_location: Some(home),
        travel_radius_km: 30.0,
        availability: vec![window(0, 12)],
    }
}

/// The flood as `organisation` opens it: 25 km around the centre.
pub fn incident_request(organisation: &str) -> CreateIncidentRequest {
    CreateIncidentRequest {
        idempotency_key: key(),
        organisation_id: organisation.into(),
        name: "Hochwasser Ahr".into(),
        description: String::new(),
        region_centre: Some(near(0.0, 0.0)),
        region_radius_km: 25.0,
    }
}

/// A task of `incident` at the dike by the centre: three people who fill sandbags, aged 16 or
/// more, for three hours from one hour from now, high priority.
pub fn task_request(incident: &str, title: &str) -> CreateTaskRequest {
    CreateTaskRequest {
        idempotency_key: key(),
        incident_id: incident.to_owned(),
        title: title.to_owned(),
        description: "Deich sichern".into(),
        meeting_point: Some(near(0.0, 0.5)),
        address: "Ahrtor, Ahrweiler".into(),
        required_skill_ids: vec!["sandbag_filling".into()],
        preferred_skill_ids: vec![],
        min_age: 16,
        headcount: 3,
        window: Some(window(1, 4)),
        priority: Priority::High.into(),
        max_distance_km: 30.0,
        safety_notes: String::new(),
        required_languages: vec![],
        preferred_languages: vec![],
    }
}

/// Opens the incident of `request` as `token`; its id.
pub async fn create_incident(
    tasks: &TaskServiceClient<Channel>,
    token: &str,
    request: CreateIncidentRequest,
) -> String {
    tasks
        .clone()
        .create_incident(authed(request, token))
        .await
        .expect("incident opened")
        .into_inner()
        .incident
        .expect("an incident")
        .incident_id
}

/// Creates the task of `request` as `token`.
pub async fn create_task(
    tasks: &TaskServiceClient<Channel>,
    token: &str,
    request: CreateTaskRequest,
) -> Task {
    tasks
        .clone()
        .create_task(authed(request, token))
        .await
        .expect("task created")
        .into_inner()
        .task
        .expect("a task")
}

/// The first open offer to the volunteer with `token`, once matching has made one (for at
/// most `within`).
pub async fn open_offer(
    matching: &MatchingServiceClient<Channel>,
    token: &str,
    within: Duration,
) -> Offer {
    eventually(within, "an open offer", || {
        let mut matching = matching.clone();
        async move {
            matching
                .list_my_offers(authed(
                    ListMyOffersRequest {
                        include_finished: false,
                    },
                    token,
                ))
                .await
                .ok()?
                .into_inner()
                .offers
                .into_iter()
                .find(|o| o.state() == MatchState::Offered)
        }
    })
    .await
}
