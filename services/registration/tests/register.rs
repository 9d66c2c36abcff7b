//! Register over real gRPC, PostgreSQL and the broker: a valid registration, every invalid
//! field reported at once, idempotent retries, the event on the topic without contact data,
//! no enumeration through duplicates, and the per-client rate limit.

mod common;

use std::time::Duration;

use common::*;
use prost::Message;
use spontan_platform::testkit::{authed, violated_fields};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tonic::Code;

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn a_valid_registration_gets_an_id_a_token_and_a_contact_free_event() {
    let app = TestApp::spawn().await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let mut client = app.client().await;
    let response = client
        .register(valid_request())
        .await
        .expect("registered")
        .into_inner();
    let id = response.volunteer_id.clone();
    assert!(uuid::Uuid::parse_str(&id).is_ok());
    assert!(response.access_token_expires_at.is_some());

    let profile = client
        .get_my_profile(authed(GetMyProfileRequest {}, &response.access_token))
        .await
        .expect("own profile")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(profile.volunteer_id, id);
    assert_eq!(profile.contact.expect("contact").phone_e164, PHONE_MARKER);
    assert_eq!(profile.languages, ["de", "en"]);
    assert_eq!(profile.status, VolunteerStatus::Active as i32);

    let records = records_for(&mut topic, &id, 1, Duration::from_secs(30)).await;
    let raw = records
        .first()
        .and_then(Clone::clone)
        .expect("VolunteerRegistered on the topic");
    for marker in [
        NAME_MARKER,
        PHONE_MARKER,
        EMAIL_MARKER,
        "Quixwell",
        "99887766",
        "918273645",
    ] {
        assert!(!contains(&raw, marker), "event leaks {marker}");
    }
    let envelope = EventEnvelope::decode(raw.as_slice()).expect("envelope");
    let Some(Payload::VolunteerRegistered(event)) = envelope.payload else {
        panic!("not VolunteerRegistered: {}", envelope.event_type);
    };
    let v = event.volunteer.expect("matchable volunteer");
    assert_eq!(v.volunteer_id, id);
    assert_eq!(v.skill_ids, ["sandbag_filling", "first_aid"]);
    assert_eq!(v.age_band, AgeBand::Aged26To40 as i32);
    let location = v.approximate_location.expect("location");
    assert_eq!((location.latitude, location.longitude), (50.941, 6.958));
    assert_eq!(v.availability.len(), 1);

    // Nothing personal in clear in the database either.
    let row: (Vec<u8>, Option<Vec<u8>>) =
        sqlx::query_as("SELECT contact_ciphertext, phone_hash FROM volunteers WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&app.pool)
            .await
            .expect("row");
    assert!(!contains(&row.0, "Quixwell"));
    assert!(row.1.is_some_and(|h| h.len() == 32));
    app.stop().await;
}

#[tokio::test]
async fn every_invalid_field_is_reported_in_one_answer() {
    // Many attempts from one address: lift the rate limit for this test.
    let app = TestApp::spawn_with(|c| c.register_limit.burst = 1000).await;
    let mut client = app.client().await;
    let now = chrono::Utc::now();
    let mut request = valid_request();
    request.idempotency_key = "not-a-uuid".into();
    request.consent = Some(Consent {
        given: true,
        text_version: "2019-01-de".into(),
    });
    request.contact = Some(Contact {
        display_name: "   ".into(),
        phone_e164: "0151 123".into(),
        email: "no-at-sign".into(),
    });
    request.preferred_alert_channel = AlertChannel::Telegram as i32;
    request.channel_addresses = None;
    request.skill_ids = vec!["juggling".into()];
    request.languages = vec!["klingon-language-x".into()];
    request.birth_year = 2020;
    request.home_location = Some(GeoPoint {
        latitude: 91.0,
        longitude: f64::NAN,
    });
    request.travel_radius_km = 500.0;
    request.availability = vec![
        TimeWindow {
            start_time: Some(ts(now - chrono::Duration::hours(5))),
            end_time: Some(ts(now - chrono::Duration::hours(1))),
        },
        TimeWindow {
            start_time: Some(ts(now + chrono::Duration::hours(2))),
            end_time: Some(ts(now + chrono::Duration::hours(1))),
        },
    ];
    let status = client.register(request).await.expect_err("invalid");
    assert_eq!(status.code(), Code::InvalidArgument);
    let mut fields = violated_fields(&status);
    fields.sort();
    let mut expected = vec![
        "idempotency_key",
        "consent.text_version",
        "contact.display_name",
        "contact.phone_e164",
        "contact.email",
        "preferred_alert_channel",
        "skill_ids[0]",
        "languages[0]",
        "birth_year",
        "home_location.latitude",
        "home_location.longitude",
        "travel_radius_km",
        "availability[0].end_time",
        "availability[1].end_time",
    ];
    expected.sort_unstable();
    assert_eq!(fields, expected);

    // And each on its own, with everything else valid.
    type Breaker = fn(&mut RegisterRequest);
    let cases: Vec<(&str, Breaker)> = vec![
        ("idempotency_key", |r| r.idempotency_key = "retry-1".into()),
        ("consent.given", |r| r.consent = None),
        ("consent.text_version", |r| {
            r.consent = Some(Consent {
                given: true,
                text_version: "2019-01-de".into(),
            });
        }),
        ("contact.display_name", |r| {
            if let Some(c) = r.contact.as_mut() {
                c.display_name = "x".repeat(81);
            }
        }),
        ("contact.email", |r| {
            if let Some(c) = r.contact.as_mut() {
                c.email = "zorana@@example".into();
            }
        }),
        ("preferred_alert_channel", |r| {
            r.preferred_alert_channel = AlertChannel::AppPush as i32;
        }),
        ("channel_addresses.telegram_chat_id", |r| {
            r.channel_addresses = Some(ChannelAddresses {
                telegram_chat_id: "@zorana".into(),
                ..Default::default()
            });
        }),
        ("channel_addresses.signal_phone_e164", |r| {
            r.channel_addresses = Some(ChannelAddresses {
                signal_phone_e164: "12345".into(),
                ..Default::default()
            });
        }),
        ("skill_ids[0]", |r| r.skill_ids = vec!["juggling".into()]),
        ("languages[1]", |r| {
            r.languages = vec!["de".into(), "deutsch".into()]
        }),
        ("home_location.latitude", |r| {
            r.home_location = Some(GeoPoint {
                latitude: -90.5,
                longitude: 7.0,
            });
        }),
        ("home_location.longitude", |r| {
            r.home_location = Some(GeoPoint {
                latitude: 50.0,
                longitude: f64::INFINITY,
            });
        }),
        ("availability[0].end_time", |r| {
            let now = chrono::Utc::now();
            r.availability = vec![TimeWindow {
                start_time: Some(ts(now)),
                end_time: Some(ts(now + chrono::Duration::days(40))),
            }];
        }),
        ("contact.phone_e164", |r| {
            r.contact = Some(Contact {
                display_name: "A".into(),
                ..Default::default()
            });
            r.preferred_alert_channel = AlertChannel::Telegram as i32;
        }),
        ("preferred_alert_channel", |r| r.preferred_alert_channel = 0),
        ("languages", |r| r.languages.clear()),
        ("birth_year", |r| {
            r.birth_year = chrono::Datelike::year(&chrono::Utc::now()) - 15
        }),
        ("home_location", |r| r.home_location = None),
        ("travel_radius_km", |r| r.travel_radius_km = 0.5),
        ("skill_ids[1]", |r| {
            r.skill_ids = vec!["first_aid".into(), "first_aid".into()]
        }),
        ("availability[1]", |r| {
            let w = r.availability[0];
            r.availability.push(w);
        }),
    ];
    for (field, breaker) in cases {
        let mut request = valid_request();
        breaker(&mut request);
        let status = client.register(request).await.expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}");
        assert_eq!(violated_fields(&status), [field], "{field}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_retry_returns_the_same_volunteer_and_a_changed_retry_is_refused() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let request = valid_request();
    let first = client
        .register(request.clone())
        .await
        .expect("first")
        .into_inner();
    let again = client
        .register(request.clone())
        .await
        .expect("retry")
        .into_inner();
    assert_eq!(first.volunteer_id, again.volunteer_id);
    // The retry's token works for the same volunteer.
    let profile = client
        .get_my_profile(authed(GetMyProfileRequest {}, &again.access_token))
        .await
        .expect("token of the retry works")
        .into_inner();
    assert_eq!(
        profile.profile.expect("profile").volunteer_id,
        first.volunteer_id
    );
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM volunteers")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(count, 1, "a retry never creates a second volunteer");

    let mut changed = request.clone();
    changed.travel_radius_km = 30.0;
    let status = client
        .register(changed)
        .await
        .expect_err("same key, other content");
    assert_eq!(status.code(), Code::AlreadyExists);
    assert!(
        status.message().contains("idempotency_key"),
        "{}",
        status.message()
    );

    // Concurrent retries of one attempt also make one volunteer.
    let concurrent = valid_request();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let mut c = client.clone();
        let r = concurrent.clone();
        tasks.push(tokio::spawn(async move { c.register(r).await }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(
            t.await
                .expect("join")
                .expect("registered")
                .into_inner()
                .volunteer_id,
        );
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_known_phone_number_gets_the_same_answer_as_a_new_one() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let first = client
        .register(valid_request())
        .await
        .expect("first")
        .into_inner();
    // Someone else, with a new key, enters the same phone and e-mail.
    let second = client
        .register(valid_request())
        .await
        .expect("same answer shape, no hint that the number is known")
        .into_inner();
    assert_ne!(first.volunteer_id, second.volunteer_id);
    assert!(!second.access_token.is_empty());
    // The link is kept for operators, through the keyed hash only.
    let duplicate_of: Option<uuid::Uuid> =
        sqlx::query_scalar("SELECT duplicate_of FROM volunteers WHERE id = $1::uuid")
            .bind(&second.volunteer_id)
            .fetch_one(&app.pool)
            .await
            .expect("row");
    assert_eq!(
        duplicate_of.map(|d| d.to_string()),
        Some(first.volunteer_id)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_client_registering_too_fast_is_told_when_to_retry() {
    let app = TestApp::spawn_with(|c| {
        c.register_limit.burst = 2;
        c.register_limit.per_minute = 6;
    })
    .await;
    let mut client = app.client().await;
    client.register(valid_request()).await.expect("1");
    client.register(valid_request()).await.expect("2");
    let status = client.register(valid_request()).await.expect_err("limited");
    assert_eq!(status.code(), Code::ResourceExhausted);
    use tonic_types::StatusExt;
    let retry = status
        .get_error_details()
        .retry_info()
        .and_then(|r| r.retry_delay);
    assert!(retry.is_some_and(|d| d > Duration::ZERO && d <= Duration::from_secs(10)));
    // Public reads are not limited.
    let skills = client
        .list_skills(ListSkillsRequest::default())
        .await
        .expect("skills")
        .into_inner()
        .skills;
    assert!(
        skills
            .iter()
            .any(|s| s.id == "sandbag_filling" && s.label_de == "Sandsäcke füllen")
    );
    app.stop().await;
}
