//! The volunteer-token RPCs over real gRPC, PostgreSQL and the broker: token isolation,
//! profile changes with their events, export of everything held, and erasure that leaves no
//! personal data in the database and a tombstone on the topic (`erasure.rs`); the
//! messages opt-out (`opt_out.rs`).

#[path = "../common/mod.rs"]
mod common;
mod erasure;
mod opt_out;

use std::time::Duration;

use common::*;
use prost::Message;
use prost_types::FieldMask;
use spontan_platform::testkit::{authed, violated_fields};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tonic::Code;

/// The payload of a record's value.
fn payload(raw: &Option<Vec<u8>>) -> Payload {
    EventEnvelope::decode(raw.as_deref().expect("a value"))
        .expect("envelope")
        .payload
        .expect("payload")
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
        sid: None,
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
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let alice = app.register(valid_request()).await;
    let mut other = valid_request();
    other.contact = Some(Contact {
        display_name: "Bob".into(),
        phone_e164: "+4917000000001".into(),
        email: String::new(),
    });
    let bob = client.register(other).await.expect("bob").into_inner();

    let seen = |r: GetMyProfileResponse| r.profile.expect("profile").volunteer_id;
    let a = client
        .get_my_profile(authed(GetMyProfileRequest {}, &alice.access_token))
        .await
        .expect("alice");
    assert_eq!(seen(a.into_inner()), alice.volunteer_id);
    let b = client
        .get_my_profile(authed(GetMyProfileRequest {}, &bob.access_token))
        .await
        .expect("bob");
    assert_eq!(seen(b.into_inner()), bob.volunteer_id);

    // Bob pausing changes Bob only.
    client
        .pause_me(authed(PauseMeRequest {}, &bob.access_token))
        .await
        .expect("pause");
    let a = client
        .get_my_profile(authed(GetMyProfileRequest {}, &alice.access_token))
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
        .export_my_data(authed(ExportMyDataRequest {}, &forged))
        .await
        .expect_err("forged");
    assert_eq!(status.code(), Code::Unauthenticated);
    // Signed with the right key but expired an hour ago (beyond the verifier's leeway), and
    // the real token with its signature tampered.
    let expired = expired_token(&app, &alice.volunteer_id);
    let tampered = format!("{}x", &alice.access_token[..alice.access_token.len() - 1]);
    for token in [expired, tampered] {
        let status = client
            .erase_me(authed(EraseMeRequest { confirm: true }, &token))
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
        .get_my_profile(authed(GetMyProfileRequest {}, &coordinator))
        .await
        .expect_err("staff");
    assert_eq!(status.code(), Code::PermissionDenied);
    // A valid token for a volunteer that does not exist here.
    let stranger = app.volunteer_token(&uuid::Uuid::new_v4().to_string());
    let status = client
        .get_my_profile(authed(GetMyProfileRequest {}, &stranger))
        .await
        .expect_err("stranger");
    assert_eq!(status.code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test]
async fn profile_changes_publish_what_matching_needs() {
    let app = TestApp::spawn().await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let mut client = app.client().await;
    let me = app.register(valid_request()).await;
    let token = me.access_token.clone();

    // A contact-only change publishes nothing; a radius change publishes VolunteerUpdated.
    let profile = client
        .update_my_profile(authed(
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
        .update_my_profile(authed(
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
        .update_my_profile(authed(
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
        .update_my_profile(authed(
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
        .set_availability(authed(
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
        .pause_me(authed(PauseMeRequest {}, &token))
        .await
        .expect("pause");
    client
        .pause_me(authed(PauseMeRequest {}, &token))
        .await
        .expect("pause again is fine");
    let resumed = client
        .resume_me(authed(ResumeMeRequest {}, &token))
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
        .renew_my_token(authed(RenewMyTokenRequest {}, &token))
        .await
        .expect("renew")
        .into_inner();
    client
        .get_my_profile(authed(GetMyProfileRequest {}, &renewed.access_token))
        .await
        .expect("renewed token works");
    app.stop().await;
}
