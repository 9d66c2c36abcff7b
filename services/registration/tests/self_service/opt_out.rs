//! `messages_opt_out`: false at registration, set and cleared through UpdateMyProfile, kept
//! across other changes and a restart, in the export, never published (matching does not
//! need it), reset by the erasure.

use std::sync::Arc;

use prost_types::FieldMask;
use spontan_platform::testkit::{TestBroker, authed, violated_fields};
use spontan_proto::v1::*;
use spontan_registration::clock::SystemClock;
use tonic::Code;

use super::common::*;

fn opt_out(value: bool, paths: &[&str]) -> UpdateMyProfileRequest {
    UpdateMyProfileRequest {
        profile: Some(VolunteerProfile {
            messages_opt_out: value,
            ..Default::default()
        }),
        update_mask: Some(FieldMask {
            paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        }),
    }
}

/// The volunteer's events written to the outbox (published or not).
async fn events_of(app: &TestApp, volunteer_id: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE message_key = $1")
        .bind(volunteer_id)
        .fetch_one(&app.pool)
        .await
        .expect("outbox")
}

#[tokio::test]
async fn messages_opt_out_is_set_kept_exported_and_not_published() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let me = app.register(valid_request()).await;
    let token = me.access_token.clone();
    let profile = |r: GetMyProfileResponse| r.profile.expect("profile");

    let registered = profile(
        client
            .get_my_profile(authed(GetMyProfileRequest {}, &token))
            .await
            .expect("profile")
            .into_inner(),
    );
    assert!(!registered.messages_opt_out, "false at registration");
    assert_eq!(
        events_of(&app, &me.volunteer_id).await,
        1,
        "VolunteerRegistered"
    );

    // Set: a new version, and no event (the flag is not matching data).
    let set = client
        .update_my_profile(authed(opt_out(true, &["messages_opt_out"]), &token))
        .await
        .expect("opt out")
        .into_inner()
        .profile
        .expect("profile");
    assert!(set.messages_opt_out);
    assert_eq!(set.version, registered.version + 1);
    assert_eq!(set.travel_radius_km, registered.travel_radius_km);
    assert_eq!(
        events_of(&app, &me.volunteer_id).await,
        1,
        "nothing published"
    );
    // The same value again changes nothing.
    let again = client
        .update_my_profile(authed(opt_out(true, &["messages_opt_out"]), &token))
        .await
        .expect("again")
        .into_inner()
        .profile
        .expect("profile");
    assert_eq!(again.version, set.version);

    // Paths that are not `messages_opt_out` itself are refused like any unknown path, and
    // nothing is stored.
    for path in [
        "messages_opt_out.value",
        "messagesOptOut",
        "profile.messages_opt_out",
    ] {
        let refused = client
            .update_my_profile(authed(opt_out(false, &[path]), &token))
            .await
            .expect_err(path);
        assert_eq!(refused.code(), Code::InvalidArgument, "{path}");
        assert_eq!(violated_fields(&refused), ["update_mask"], "{path}");
    }

    // Another field changes: the opt-out stays, and only the radius is published.
    let radius = client
        .update_my_profile(authed(
            UpdateMyProfileRequest {
                profile: Some(VolunteerProfile {
                    travel_radius_km: 40.0,
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
    assert!(radius.messages_opt_out, "kept across another change");
    assert_eq!(
        events_of(&app, &me.volunteer_id).await,
        2,
        "VolunteerUpdated"
    );
    client
        .pause_me(authed(PauseMeRequest {}, &token))
        .await
        .expect("pause");
    let resumed = client
        .resume_me(authed(ResumeMeRequest {}, &token))
        .await
        .expect("resume")
        .into_inner()
        .profile
        .expect("profile");
    assert!(resumed.messages_opt_out, "kept across pause and resume");

    let export = client
        .export_my_data(authed(ExportMyDataRequest {}, &token))
        .await
        .expect("export")
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&export.json).expect("json");
    assert_eq!(json["messages_opt_out"], true);

    // Kept in the database: a new instance on the same database reads it back.
    let config = app.config.clone();
    app.stop().await;
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let app = TestApp::start(config, broker, Arc::new(SystemClock)).await;
    let mut client = app.client().await;
    let stored = profile(
        client
            .get_my_profile(authed(GetMyProfileRequest {}, &token))
            .await
            .expect("profile after a restart")
            .into_inner(),
    );
    assert!(stored.messages_opt_out, "kept across a restart");

    // Cleared again.
    let cleared = client
        .update_my_profile(authed(opt_out(false, &["messages_opt_out"]), &token))
        .await
        .expect("opt in")
        .into_inner()
        .profile
        .expect("profile");
    assert!(!cleared.messages_opt_out);
    assert_eq!(cleared.version, stored.version + 1);
    let column: bool =
        sqlx::query_scalar("SELECT messages_opt_out FROM volunteers WHERE id = $1::uuid")
            .bind(&me.volunteer_id)
            .fetch_one(&app.pool)
            .await
            .expect("column");
    assert!(!column);
    assert_eq!(
        events_of(&app, &me.volunteer_id).await,
        4,
        "only pause and resume added"
    );

    // Erasure resets it with the rest of the volunteer's data.
    client
        .update_my_profile(authed(opt_out(true, &["messages_opt_out"]), &token))
        .await
        .expect("opt out once more");
    client
        .erase_me(authed(EraseMeRequest { confirm: true }, &token))
        .await
        .expect("erased");
    let column: bool =
        sqlx::query_scalar("SELECT messages_opt_out FROM volunteers WHERE id = $1::uuid")
            .bind(&me.volunteer_id)
            .fetch_one(&app.pool)
            .await
            .expect("column");
    assert!(!column, "reset by the erasure");
    app.stop().await;
}
