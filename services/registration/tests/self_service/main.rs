//! The volunteer-token RPCs over real gRPC, PostgreSQL and the broker: token isolation,
//! profile changes with their events, export of everything held, and erasure that leaves no
//! personal data in the database and a tombstone on the topic.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::*;
use prost::Message;
use prost_types::FieldMask;
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tonic::Code;

async fn register(app: &TestApp) -> RegisterResponse {
    app.client()
        .await
        .register(valid_request())
        .await
        .expect("registered")
        .into_inner()
}

fn payload(raw: &Option<Vec<u8>>) -> Payload {
    EventEnvelope::decode(raw.as_deref().expect("a value"))
        .expect("envelope")
        .payload
        .expect("payload")
}

/// The volunteer's next records on the topic are `VolunteerErased` and then a tombstone.
async fn assert_erased_then_tombstone(
    topic: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Option<Vec<u8>>)>,
    volunteer_id: &str,
) {
    let records = records_for(topic, volunteer_id, 2, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 2, "erased, tombstone");
    assert!(
        matches!(payload(&records[0]), Payload::VolunteerErased(e) if e.volunteer_id == volunteer_id),
        "the first record of the volunteer is the erasure"
    );
    assert!(records[1].is_none(), "a tombstone follows");
}

/// Nothing personal left in any table: dumps every row of every table as text and looks for
/// the markers of [`valid_request`].
async fn assert_nothing_personal_left(app: &TestApp) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("tables");
    for table in &tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&app.pool)
            .await
            .expect("rows");
        for row in rows {
            // Parts of the phone number, chat id and coordinates, found inside longer digits
            // too; the birth year only as a number of its own, or the time stamps of every
            // row (`01:58:19.199077`) would hold it.
            for (marker, alone) in [
                ("Quixwell", false),
                ("99887766", false),
                ("zorana", false),
                ("918273645", false),
                ("1990", true),
                ("50.941", false),
            ] {
                let held = if alone {
                    holds_number(&row, marker)
                } else {
                    row.contains(marker)
                };
                assert!(!held, "{table} still holds {marker}: {row}");
            }
        }
    }
}

/// Whether `row` holds the number `number` with no other digit touching it.
fn holds_number(row: &str, number: &str) -> bool {
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    row.match_indices(number).any(|(at, _)| {
        !digit(row[..at].chars().next_back()) && !digit(row[at + number.len()..].chars().next())
    })
}

#[test]
fn a_birth_year_is_found_as_a_number_not_inside_a_time_stamp() {
    assert!(holds_number("(…,1990,…)", "1990"));
    assert!(holds_number("1990", "1990"));
    assert!(!holds_number("\"2026-12-07 01:58:19.199077+00\"", "1990"));
    assert!(!holds_number("219901", "1990"));
}

/// A volunteer token signed with the service's key that expired an hour ago.
fn expired_token(app: &TestApp, subject: &str) -> String {
    const PKCS8_ED25519_PREFIX: [u8; 16] = [
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    let seed = spontan_platform::auth::decode_key(app.config.platform.auth.signing_key.expose())
        .expect("seed");
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(&seed);
    let now = chrono::Utc::now().timestamp().unsigned_abs();
    let claims = spontan_platform::auth::Claims {
        sub: subject.into(),
        role: spontan_platform::auth::Role::Volunteer,
        org: None,
        iss: app.config.platform.auth.issuer.clone(),
        iat: now - 7200,
        exp: now - 3600,
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &jsonwebtoken::EncodingKey::from_ed_der(&der),
    )
    .expect("token")
}

#[tokio::test]
async fn a_token_opens_only_its_own_volunteer() {
    let app = spawn_app().await;
    let mut client = app.client().await;
    let alice = register(&app).await;
    let mut other = valid_request();
    other.contact = Some(Contact {
        display_name: "Bob".into(),
        phone_e164: "+4917000000001".into(),
        email: String::new(),
    });
    let bob = client.register(other).await.expect("bob").into_inner();

    let seen = |r: GetMyProfileResponse| r.profile.expect("profile").volunteer_id;
    let a = client
        .get_my_profile(with_token(GetMyProfileRequest {}, &alice.access_token))
        .await
        .expect("alice");
    assert_eq!(seen(a.into_inner()), alice.volunteer_id);
    let b = client
        .get_my_profile(with_token(GetMyProfileRequest {}, &bob.access_token))
        .await
        .expect("bob");
    assert_eq!(seen(b.into_inner()), bob.volunteer_id);

    // Bob pausing changes Bob only.
    client
        .pause_me(with_token(PauseMeRequest {}, &bob.access_token))
        .await
        .expect("pause");
    let a = client
        .get_my_profile(with_token(GetMyProfileRequest {}, &alice.access_token))
        .await
        .expect("alice")
        .into_inner();
    assert_eq!(a.profile.expect("p").status, VolunteerStatus::Active as i32);

    // No token, a forged one, an expired one, a staff one.
    let status = client
        .get_my_profile(GetMyProfileRequest {})
        .await
        .expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated);
    let forged =
        spontan_platform::auth::TokenIssuer::from_config(&spontan_platform::config::AuthConfig {
            signing_key: spontan_platform::config::Secret::new(
                spontan_platform::auth::generate_signing_key(),
            ),
            ..Default::default()
        })
        .expect("issuer")
        .issue(
            &alice.volunteer_id,
            spontan_platform::auth::Role::Volunteer,
            None,
            Duration::from_secs(600),
        )
        .expect("forged");
    let status = client
        .export_my_data(with_token(ExportMyDataRequest {}, &forged))
        .await
        .expect_err("forged");
    assert_eq!(status.code(), Code::Unauthenticated);
    // Signed with the right key but expired an hour ago (beyond the verifier's leeway), and
    // the real token with its signature tampered.
    let expired = expired_token(&app, &alice.volunteer_id);
    let tampered = format!("{}x", &alice.access_token[..alice.access_token.len() - 1]);
    for token in [expired, tampered] {
        let status = client
            .erase_me(with_token(EraseMeRequest { confirm: true }, &token))
            .await
            .expect_err("refused");
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let coordinator = app
        .issuer
        .issue(
            &alice.volunteer_id,
            spontan_platform::auth::Role::Coordinator,
            Some("thw"),
            Duration::from_secs(600),
        )
        .expect("token");
    let status = client
        .get_my_profile(with_token(GetMyProfileRequest {}, &coordinator))
        .await
        .expect_err("staff");
    assert_eq!(status.code(), Code::PermissionDenied);
    // A valid token for a volunteer that does not exist here.
    let stranger = app.volunteer_token(&uuid::Uuid::new_v4().to_string());
    let status = client
        .get_my_profile(with_token(GetMyProfileRequest {}, &stranger))
        .await
        .expect_err("stranger");
    assert_eq!(status.code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test]
async fn profile_changes_publish_what_matching_needs() {
    let app = spawn_app().await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let mut client = app.client().await;
    let me = register(&app).await;
    let token = me.access_token.clone();

    // A contact-only change publishes nothing; a radius change publishes VolunteerUpdated.
    let profile = client
        .update_my_profile(with_token(
            UpdateMyProfileRequest {
                profile: Some(VolunteerProfile {
                    contact: Some(Contact {
                        display_name: "Zori".into(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["contact.display_name".into()],
                }),
            },
            &token,
        ))
        .await
        .expect("rename")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(profile.contact.expect("c").display_name, "Zori");
    assert_eq!(profile.version, 2);
    let profile = client
        .update_my_profile(with_token(
            UpdateMyProfileRequest {
                profile: Some(VolunteerProfile {
                    travel_radius_km: 60.0,
                    version: 2,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["travel_radius_km".into()],
                }),
            },
            &token,
        ))
        .await
        .expect("radius")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(profile.travel_radius_km, 60.0);

    // Stale version, bad value, bad path.
    let stale = client
        .update_my_profile(with_token(
            UpdateMyProfileRequest {
                profile: Some(VolunteerProfile {
                    travel_radius_km: 70.0,
                    version: 1,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["travel_radius_km".into()],
                }),
            },
            &token,
        ))
        .await
        .expect_err("stale");
    assert_eq!(stale.code(), Code::Aborted);
    let bad = client
        .update_my_profile(with_token(
            UpdateMyProfileRequest {
                profile: Some(VolunteerProfile {
                    travel_radius_km: 700.0,
                    ..Default::default()
                }),
                update_mask: Some(FieldMask {
                    paths: vec!["travel_radius_km".into(), "status".into()],
                }),
            },
            &token,
        ))
        .await
        .expect_err("invalid");
    assert_eq!(
        violated_fields(&bad),
        ["update_mask", "profile.travel_radius_km"]
    );

    let now = chrono::Utc::now();
    let windows = client
        .set_availability(with_token(
            SetAvailabilityRequest {
                availability: vec![TimeWindow {
                    start_time: Some(ts(now + chrono::Duration::days(1))),
                    end_time: Some(ts(now + chrono::Duration::days(2))),
                }],
            },
            &token,
        ))
        .await
        .expect("availability")
        .into_inner()
        .profile
        .expect("p")
        .availability;
    assert_eq!(windows.len(), 1);
    client
        .pause_me(with_token(PauseMeRequest {}, &token))
        .await
        .expect("pause");
    client
        .pause_me(with_token(PauseMeRequest {}, &token))
        .await
        .expect("pause again is fine");
    let resumed = client
        .resume_me(with_token(ResumeMeRequest {}, &token))
        .await
        .expect("resume")
        .into_inner();
    assert_eq!(
        resumed.profile.expect("p").status,
        VolunteerStatus::Active as i32
    );

    let records = records_for(&mut topic, &me.volunteer_id, 5, Duration::from_secs(30)).await;
    let kinds: Vec<&str> = records
        .iter()
        .map(|r| match payload(r) {
            Payload::VolunteerRegistered(_) => "registered",
            Payload::VolunteerUpdated(_) => "updated",
            Payload::VolunteerPaused(_) => "paused",
            Payload::VolunteerResumed(_) => "resumed",
            _ => "other",
        })
        .collect();
    assert_eq!(
        kinds,
        ["registered", "updated", "updated", "paused", "resumed"]
    );
    let Payload::VolunteerUpdated(updated) = payload(&records[1]) else {
        panic!("updated");
    };
    assert_eq!(updated.volunteer.expect("v").travel_radius_km, 60.0);

    let renewed = client
        .renew_my_token(with_token(RenewMyTokenRequest {}, &token))
        .await
        .expect("renew")
        .into_inner();
    client
        .get_my_profile(with_token(GetMyProfileRequest {}, &renewed.access_token))
        .await
        .expect("renewed token works");
    app.stop().await;
}

#[tokio::test]
async fn export_holds_everything_and_erasure_leaves_nothing_personal() {
    let app = spawn_app().await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let mut client = app.client().await;
    let me = register(&app).await;
    let token = me.access_token.clone();
    let registered = records_for(&mut topic, &me.volunteer_id, 1, Duration::from_secs(30)).await;
    assert!(
        matches!(
            registered.first().map(payload),
            Some(Payload::VolunteerRegistered(_))
        ),
        "the registration is published before the erasure"
    );

    let export = client
        .export_my_data(with_token(ExportMyDataRequest {}, &token))
        .await
        .expect("export")
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&export.json).expect("json");
    assert_eq!(json["volunteer_id"], me.volunteer_id.as_str());
    assert_eq!(json["contact"]["display_name"], NAME_MARKER);
    assert_eq!(json["contact"]["phone_e164"], PHONE_MARKER);
    assert_eq!(json["contact"]["email"], EMAIL_MARKER);
    assert_eq!(json["channel_addresses"]["telegram_chat_id"], "918273645");
    assert_eq!(json["birth_year"], 1990);
    assert_eq!(json["home_location"]["latitude"], 50.941_278);
    assert_eq!(json["skill_ids"][1], "first_aid");
    assert_eq!(json["availability"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["consent"][0]["text_version"], "2025-06-de");
    assert_eq!(json["tokens_issued"].as_array().map(Vec::len), Some(1));
    assert!(json["alerts"].is_array() && json["matches"].is_array());

    let refused = client
        .erase_me(with_token(EraseMeRequest { confirm: false }, &token))
        .await
        .expect_err("needs confirm");
    assert_eq!(violated_fields(&refused), ["confirm"]);
    let erased = client
        .erase_me(with_token(EraseMeRequest { confirm: true }, &token))
        .await
        .expect("erased")
        .into_inner();
    let again = client
        .erase_me(with_token(EraseMeRequest { confirm: true }, &token))
        .await
        .expect("erasing twice answers the same")
        .into_inner();
    assert_eq!(erased.erased_at, again.erased_at);
    let status = client
        .get_my_profile(with_token(GetMyProfileRequest {}, &token))
        .await
        .expect_err("token revoked");
    assert_eq!(status.code(), Code::Unauthenticated);

    assert_nothing_personal_left(&app).await;
    type Shredded = (String, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);
    let row: Shredded = sqlx::query_as(
        "SELECT status, contact_ciphertext, wrapped_key, phone_hash FROM volunteers WHERE id = $1::uuid",
    )
    .bind(&me.volunteer_id)
    .fetch_one(&app.pool)
    .await
    .expect("row");
    assert_eq!(row, ("erased".to_owned(), None, None, None));
    let audit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM erasure_audit WHERE volunteer_id = $1::uuid AND reason = 'request'",
    )
    .bind(&me.volunteer_id)
    .fetch_one(&app.pool)
    .await
    .expect("audit");
    assert_eq!(audit, 1);

    assert_erased_then_tombstone(&mut topic, &me.volunteer_id).await;
    app.stop().await;
}

#[tokio::test]
async fn an_erasure_before_publication_keeps_the_registration_from_going_out() {
    let app = spawn_app().await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    // Holding the relay's lock holds the relay back, as a second replica publishing would.
    let mut holder = app.pool.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(spontan_platform::outbox::RELAY_LOCK)
        .execute(&mut *holder)
        .await
        .expect("relay lock");
    let me = register(&app).await;
    app.client()
        .await
        .erase_me(with_token(
            EraseMeRequest { confirm: true },
            &me.access_token,
        ))
        .await
        .expect("erased");

    assert_nothing_personal_left(&app).await;
    let queued: Vec<bool> =
        sqlx::query_scalar("SELECT payload IS NULL FROM outbox WHERE message_key = $1 ORDER BY id")
            .bind(&me.volunteer_id)
            .fetch_all(&app.pool)
            .await
            .expect("outbox");
    assert_eq!(
        queued,
        [false, true],
        "only the erasure and its tombstone wait"
    );

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(spontan_platform::outbox::RELAY_LOCK)
        .execute(&mut *holder)
        .await
        .expect("unlock");
    drop(holder);
    assert_erased_then_tombstone(&mut topic, &me.volunteer_id).await;
    app.stop().await;
}

#[tokio::test]
async fn inactive_volunteers_are_erased_and_live_ones_republished_yearly() {
    let app = spawn_app_with(|c| {
        c.privacy.retention_days = 30;
        c.privacy.retention_sweep_secs = 1;
    })
    .await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let idle = register(&app).await;
    let busy = register(&app).await;
    // Nothing happened for 40 days for the idle one.
    for statement in [
        "UPDATE volunteers SET updated_at = now() - interval '40 days' WHERE id = $1::uuid",
        "UPDATE tokens_issued SET issued_at = now() - interval '40 days' WHERE volunteer_id = $1::uuid",
    ] {
        sqlx::query(statement)
            .bind(&idle.volunteer_id)
            .execute(&app.pool)
            .await
            .expect("backdate");
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let reason: Option<String> =
            sqlx::query_scalar("SELECT reason FROM erasure_audit WHERE volunteer_id = $1::uuid")
                .bind(&idle.volunteer_id)
                .fetch_optional(&app.pool)
                .await
                .expect("audit");
        if let Some(reason) = reason {
            assert_eq!(reason, "retention");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never erased");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let statuses: Vec<(String, String)> =
        sqlx::query_as("SELECT id::text, status FROM volunteers ORDER BY status")
            .fetch_all(&app.pool)
            .await
            .expect("statuses");
    assert_eq!(
        statuses,
        [
            (busy.volunteer_id.clone(), "active".to_owned()),
            (idle.volunteer_id.clone(), "erased".to_owned()),
        ]
    );
    let records = records_for(&mut topic, &idle.volunteer_id, 3, Duration::from_secs(30)).await;
    assert!(records.last().is_some_and(Option::is_none), "tombstone");

    // Last published in an earlier year: republished under a new version.
    sqlx::query(
        "UPDATE volunteers SET last_published_at = now() - interval '1 year' WHERE id = $1::uuid",
    )
    .bind(&busy.volunteer_id)
    .execute(&app.pool)
    .await
    .expect("backdate");
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let records = records_for(&mut topic, &busy.volunteer_id, 2, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 2, "registered, then republished");
    let envelope = EventEnvelope::decode(records[1].as_deref().expect("value")).expect("envelope");
    assert_eq!(envelope.aggregate_version, 2);
    assert!(matches!(
        envelope.payload,
        Some(Payload::VolunteerUpdated(_))
    ));
    app.stop().await;
}
