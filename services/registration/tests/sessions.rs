//! Volunteer sessions over real gRPC and PostgreSQL: Register opens a session with a refresh
//! token; RefreshSession rotates it, takes the one before once more only within a minute
//! (a lost answer), and ends the session when a replaced token comes back later; "sign out
//! everywhere" ends the other sessions and refuses every older access token; erasure ends
//! them all; an idempotency key opens sessions for 24 hours only.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use common::*;
use spontan_platform::testkit::{authed, violated_fields};
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::*;
use spontan_registration::clock::ManualClock;
use tonic::Code;
use tonic::transport::Channel;

async fn refresh(
    client: &mut RegistrationServiceClient<Channel>,
    refresh_token: &str,
) -> Result<RefreshSessionResponse, tonic::Status> {
    client
        .refresh_session(RefreshSessionRequest {
            refresh_token: refresh_token.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn profile(client: &mut RegistrationServiceClient<Channel>, token: &str) -> Result<(), Code> {
    client
        .get_my_profile(authed(GetMyProfileRequest {}, token))
        .await
        .map(|_| ())
        .map_err(|status| status.code())
}

fn seconds_from_now(at: &Option<prost_types::Timestamp>) -> i64 {
    at.as_ref().expect("a time").seconds - Utc::now().timestamp()
}

#[tokio::test]
async fn refresh_tokens_rotate_and_one_used_again_later_ends_the_session() {
    let clock = ManualClock::starting_at(Utc::now().trunc_subsecs(6));
    let app = TestApp::spawn_with_clock(|_| {}, Arc::new(clock.clone())).await;
    let mut client = app.client().await;
    let registered = app.register(valid_request()).await;
    assert_eq!(
        registered.refresh_token.len(),
        43,
        "32 random bytes, base64url"
    );
    let access_life = seconds_from_now(&registered.access_token_expires_at);
    assert!(
        (14 * 60..=15 * 60).contains(&access_life),
        "access tokens live minutes: {access_life} s"
    );
    let session_life = seconds_from_now(&registered.refresh_token_expires_at);
    assert!(
        (179 * 86_400..=180 * 86_400 + 60).contains(&session_life),
        "the session lives 180 days: {session_life} s"
    );
    let stored: Vec<u8> =
        sqlx::query_scalar("SELECT refresh_hash FROM volunteer_sessions WHERE volunteer_id = $1")
            .bind(uuid::Uuid::parse_str(&registered.volunteer_id).expect("uuid"))
            .fetch_one(&app.pool)
            .await
            .expect("the session");
    assert_ne!(
        stored,
        registered.refresh_token.as_bytes(),
        "the database keeps a hash, not the token"
    );

    // A refresh: new tokens for the same volunteer, and the access token works.
    let first = refresh(&mut client, &registered.refresh_token)
        .await
        .expect("refreshed");
    assert_eq!(first.volunteer_id, registered.volunteer_id);
    assert_ne!(first.refresh_token, registered.refresh_token);
    profile(&mut client, &first.access_token)
        .await
        .expect("the new access token works");

    // The answer was lost and the phone retries with the same token, at once: taken once more.
    let retried = refresh(&mut client, &registered.refresh_token)
        .await
        .expect("a retry within the leeway is answered");
    let second = refresh(&mut client, &retried.refresh_token)
        .await
        .expect("the retried answer's token works");
    assert_eq!(
        refresh(&mut client, &first.refresh_token)
            .await
            .expect_err("the lost answer's token was never used")
            .code(),
        Code::Unauthenticated
    );

    // Two minutes on, the replaced token comes back (a copy): the session ends for everyone.
    clock.advance(chrono::Duration::minutes(2));
    let reused = refresh(&mut client, &retried.refresh_token)
        .await
        .expect_err("a replaced token is refused");
    assert_eq!(reused.code(), Code::Unauthenticated);
    assert_eq!(
        refresh(&mut client, &second.refresh_token)
            .await
            .expect_err("the session ended")
            .code(),
        Code::Unauthenticated
    );
    let reason: Option<String> =
        sqlx::query_scalar("SELECT revoked_reason FROM volunteer_sessions WHERE volunteer_id = $1")
            .bind(uuid::Uuid::parse_str(&registered.volunteer_id).expect("uuid"))
            .fetch_one(&app.pool)
            .await
            .expect("the session");
    assert_eq!(reason.as_deref(), Some("reused"));

    // A session not refreshed for 180 days has ended.
    let other = app.register(valid_request()).await;
    clock.advance(chrono::Duration::days(181));
    assert_eq!(
        refresh(&mut client, &other.refresh_token)
            .await
            .expect_err("expired")
            .code(),
        Code::Unauthenticated
    );
    let empty = refresh(&mut client, " ").await.expect_err("empty");
    assert_eq!(empty.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&empty), ["refresh_token"]);
    app.stop().await;
}

#[tokio::test]
async fn signing_out_everywhere_ends_the_other_sessions_and_refuses_older_access_tokens() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let request = valid_request();
    let phone = app.register(request.clone()).await;
    // The same request again (its answer lost): the same volunteer, a second session.
    let tablet = app.register(request).await;
    assert_eq!(tablet.volunteer_id, phone.volunteer_id);
    assert_ne!(tablet.refresh_token, phone.refresh_token);
    // Tokens issued in the second of the sign-out stay good: let that second pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let kept = client
        .sign_out_everywhere(authed(
            SignOutEverywhereRequest {
                keep_this_session: true,
            },
            &phone.access_token,
        ))
        .await
        .expect("signed out elsewhere")
        .into_inner();
    assert_eq!(kept.ended_sessions, 1, "the tablet's session");
    assert!(!kept.access_token.is_empty() && !kept.refresh_token.is_empty());

    for old in [&tablet.access_token, &phone.access_token] {
        assert_eq!(
            profile(&mut client, old).await,
            Err(Code::Unauthenticated),
            "access tokens issued before the sign-out are refused at once"
        );
    }
    for old in [&tablet.refresh_token, &phone.refresh_token] {
        assert_eq!(
            refresh(&mut client, old).await.expect_err("ended").code(),
            Code::Unauthenticated
        );
    }
    profile(&mut client, &kept.access_token)
        .await
        .expect("the kept session's new access token works");
    let next = refresh(&mut client, &kept.refresh_token)
        .await
        .expect("and its new refresh token");

    // Without a session in the token there is nothing to keep.
    let sessionless = app.volunteer_token(&phone.volunteer_id);
    let refused = client
        .sign_out_everywhere(authed(
            SignOutEverywhereRequest {
                keep_this_session: true,
            },
            &sessionless,
        ))
        .await
        .expect_err("nothing to keep");
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&refused), ["keep_this_session"]);

    // Everywhere, this device too.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let all = client
        .sign_out_everywhere(authed(
            SignOutEverywhereRequest {
                keep_this_session: false,
            },
            &next.access_token,
        ))
        .await
        .expect("signed out everywhere")
        .into_inner();
    assert_eq!(all.ended_sessions, 1);
    assert!(all.access_token.is_empty());
    assert_eq!(
        refresh(&mut client, &next.refresh_token)
            .await
            .expect_err("ended")
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        profile(&mut client, &next.access_token).await,
        Err(Code::Unauthenticated)
    );
    app.stop().await;
}

#[tokio::test]
async fn renewing_an_access_token_needs_a_live_session() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let registered = app.register(valid_request()).await;
    let renewed = client
        .renew_my_token(authed(RenewMyTokenRequest {}, &registered.access_token))
        .await
        .expect("renewed while the session lives")
        .into_inner();
    profile(&mut client, &renewed.access_token)
        .await
        .expect("works");
    // A token naming no session (as issued before sessions) renews nothing any more.
    let sessionless = app.volunteer_token(&registered.volunteer_id);
    let refused = client
        .renew_my_token(authed(RenewMyTokenRequest {}, &sessionless))
        .await
        .expect_err("no session");
    assert_eq!(refused.code(), Code::Unauthenticated);
    app.stop().await;
}

#[tokio::test]
async fn erasure_ends_every_session() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let registered = app.register(valid_request()).await;
    client
        .erase_me(authed(
            EraseMeRequest { confirm: true },
            &registered.access_token,
        ))
        .await
        .expect("erased");
    assert_eq!(
        refresh(&mut client, &registered.refresh_token)
            .await
            .expect_err("no session after erasure")
            .code(),
        Code::Unauthenticated
    );
    assert_eq!(
        profile(&mut client, &registered.access_token).await,
        Err(Code::Unauthenticated)
    );
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM volunteer_sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(left, 0, "the sessions are deleted with the volunteer");
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_opens_sessions_for_a_day_only() {
    let app = TestApp::spawn().await;
    let mut client = app.client().await;
    let request = valid_request();
    let first = app.register(request.clone()).await;
    sqlx::query(
        "UPDATE idempotency_keys SET created_at = created_at - interval '25 hours' \
         WHERE idempotency_key = $1::uuid",
    )
    .bind(&request.idempotency_key)
    .execute(&app.pool)
    .await
    .expect("aged");
    let late = client
        .register(request)
        .await
        .expect_err("an old request is no credential");
    assert_eq!(late.code(), Code::FailedPrecondition);
    assert_eq!(
        spontan_platform::testkit::error_reason(&late).as_deref(),
        Some("IDEMPOTENCY_KEY_EXPIRED")
    );
    let sessions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM volunteer_sessions WHERE volunteer_id = $1")
            .bind(uuid::Uuid::parse_str(&first.volunteer_id).expect("uuid"))
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(sessions, 1, "no session was opened by the late replay");
    app.stop().await;
}
