//! Confirming a contact over real gRPC, PostgreSQL, the real volunteer topic and a messaging
//! gateway served here over HTTP: the code reaches the gateway, a wrong code is counted, the
//! right one confirms, and where confirmation is required matching hears of the volunteer
//! only then. Resends are spaced, a code dies after its tries or its time, and a gateway
//! that fails leaves nothing behind.

mod common;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{SubsecRound, Utc};
use common::*;
use prost::Message;
use spontan_platform::testkit::gateway::Gateway;
use spontan_platform::testkit::{authed, error_reason, violated_fields};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::*;
use spontan_registration::clock::ManualClock;
use tonic::Code;
use tonic::transport::Channel;

async fn send(
    client: &mut RegistrationServiceClient<Channel>,
    token: &str,
) -> Result<SendContactCodeResponse, tonic::Status> {
    let request = SendContactCodeRequest {
        channel: AlertChannel::Sms as i32,
    };
    client
        .send_contact_code(authed(request, token))
        .await
        .map(tonic::Response::into_inner)
}

async fn confirm(
    client: &mut RegistrationServiceClient<Channel>,
    token: &str,
    code: &str,
) -> Result<VolunteerProfile, tonic::Status> {
    let request = ConfirmContactRequest { code: code.into() };
    client
        .confirm_contact(authed(request, token))
        .await
        .map(|r| r.into_inner().profile.expect("profile"))
}

async fn my_profile(
    client: &mut RegistrationServiceClient<Channel>,
    token: &str,
) -> VolunteerProfile {
    client
        .get_my_profile(authed(GetMyProfileRequest {}, token))
        .await
        .expect("profile")
        .into_inner()
        .profile
        .expect("profile")
}

/// A code that is not `code`.
fn other_than(code: &str) -> String {
    let n: u32 = code.parse().expect("digits");
    format!("{:06}", (n + 1) % 1_000_000)
}

#[tokio::test]
async fn matching_hears_of_a_volunteer_only_once_their_phone_is_confirmed() {
    let mut gateway = Gateway::start().await.expect("gateway");
    let url = gateway.url.clone();
    let app = TestApp::spawn_with(|c| {
        c.privacy.require_confirmed_contact = true;
        c.alerts.webhook_url = url;
    })
    .await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let mut client = app.client().await;
    let registered = app.register(valid_request()).await;
    let token = registered.access_token.as_str();

    let profile = my_profile(&mut client, token).await;
    assert!(profile.contact_confirmation_required);
    assert!(profile.contact_confirmed_at.is_none());

    let sent = send(&mut client, token).await.expect("code sent");
    assert_eq!(sent.channel, AlertChannel::Sms as i32);
    assert_eq!(sent.sent_to, "+49 ••• 7766", "the number, mostly hidden");
    let code = gateway.code_sent_to(PHONE_MARKER).await.expect("code");

    let wrong = confirm(&mut client, token, &other_than(&code))
        .await
        .expect_err("a wrong code");
    assert_eq!(wrong.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&wrong), ["code"]);

    let confirmed = confirm(
        &mut client,
        token,
        &format!("{} {}", &code[..3], &code[3..]),
    )
    .await
    .expect("the right code, spaced as people type it");
    assert!(confirmed.contact_confirmed_at.is_some());
    assert!(!confirmed.contact_confirmation_required);
    let again = confirm(&mut client, token, &code)
        .await
        .expect("confirming again");
    assert_eq!(again.contact_confirmed_at, confirmed.contact_confirmed_at);

    // The topic is read from its beginning: the volunteer's first record is the one the
    // confirmation published, with the version the confirmation gave them.
    let records = records_for(
        &mut topic,
        &registered.volunteer_id,
        1,
        Duration::from_secs(20),
    )
    .await;
    let raw = records
        .first()
        .cloned()
        .flatten()
        .expect("VolunteerRegistered after the confirmation");
    let envelope = EventEnvelope::decode(raw.as_slice()).expect("envelope");
    assert!(
        matches!(envelope.payload, Some(Payload::VolunteerRegistered(_))),
        "first record: {}",
        envelope.event_type
    );
    assert_eq!(envelope.aggregate_version, confirmed.version);
    assert!(confirmed.version >= 2, "registration was version 1");

    let after = send(&mut client, token)
        .await
        .expect_err("nothing left to confirm");
    assert_eq!(after.code(), Code::FailedPrecondition);
    assert_eq!(
        error_reason(&after).as_deref(),
        Some("CONTACT_ALREADY_CONFIRMED")
    );
}

#[tokio::test]
async fn codes_are_spaced_and_die_after_five_wrong_tries_or_ten_minutes() {
    let mut gateway = Gateway::start().await.expect("gateway");
    let url = gateway.url.clone();
    let clock = ManualClock::starting_at(Utc::now().trunc_subsecs(6));
    let app = TestApp::spawn_with_clock(
        |c| {
            c.privacy.require_confirmed_contact = true;
            c.alerts.webhook_url = url;
        },
        Arc::new(clock.clone()),
    )
    .await;
    let mut client = app.client().await;
    let registered = app.register(valid_request()).await;
    let token = registered.access_token.as_str();

    send(&mut client, token).await.expect("first code");
    let first = gateway.code_sent_to(PHONE_MARKER).await.expect("code");
    let soon = send(&mut client, token)
        .await
        .expect_err("a second code at once");
    assert_eq!(soon.code(), Code::ResourceExhausted);

    for _ in 0..5 {
        let wrong = confirm(&mut client, token, &other_than(&first)).await;
        assert_eq!(wrong.expect_err("wrong").code(), Code::InvalidArgument);
    }
    let used_up = confirm(&mut client, token, &first)
        .await
        .expect_err("the right code after five wrong tries");
    assert_eq!(used_up.code(), Code::FailedPrecondition);
    assert_eq!(error_reason(&used_up).as_deref(), Some("CODE_EXPIRED"));

    clock.advance(chrono::Duration::seconds(61));
    send(&mut client, token)
        .await
        .expect("a new code a minute later");
    let second = gateway.code_sent_to(PHONE_MARKER).await.expect("code");
    clock.advance(chrono::Duration::minutes(11));
    let late = confirm(&mut client, token, &second)
        .await
        .expect_err("a code eleven minutes old");
    assert_eq!(error_reason(&late).as_deref(), Some("CODE_EXPIRED"));

    send(&mut client, token).await.expect("a third code");
    let third = gateway.code_sent_to(PHONE_MARKER).await.expect("code");
    let profile = confirm(&mut client, token, &third)
        .await
        .expect("confirmed in time");
    assert!(profile.contact_confirmed_at.is_some());
}

#[tokio::test]
async fn a_failing_gateway_leaves_nothing_behind_and_bad_requests_name_their_field() {
    let mut gateway = Gateway::start().await.expect("gateway");
    let url = gateway.url.clone();
    let app = TestApp::spawn_with(|c| c.alerts.webhook_url = url).await;
    let mut client = app.client().await;
    let registered = app.register(named_request("Ada", "+4915199990000")).await;
    let token = registered.access_token.as_str();

    let profile = my_profile(&mut client, token).await;
    assert!(
        !profile.contact_confirmation_required,
        "not required in this deployment"
    );

    let email = SendContactCodeRequest {
        channel: AlertChannel::Email as i32,
    };
    let no_email = client
        .send_contact_code(authed(email, token))
        .await
        .expect_err("no e-mail address in the profile");
    assert_eq!(violated_fields(&no_email), ["channel"]);
    let signal = SendContactCodeRequest {
        channel: AlertChannel::Signal as i32,
    };
    let not_a_code_channel = client
        .send_contact_code(authed(signal, token))
        .await
        .expect_err("codes go by SMS or e-mail");
    assert_eq!(violated_fields(&not_a_code_channel), ["channel"]);
    let empty = confirm(&mut client, token, " ").await.expect_err("no code");
    assert_eq!(violated_fields(&empty), ["code"]);
    let none_sent = confirm(&mut client, token, "123456")
        .await
        .expect_err("no code was sent");
    assert_eq!(error_reason(&none_sent).as_deref(), Some("CODE_EXPIRED"));

    gateway.failing.store(true, Ordering::SeqCst);
    let down = send(&mut client, token)
        .await
        .expect_err("the gateway fails");
    assert_eq!(down.code(), Code::Unavailable);
    gateway.failing.store(false, Ordering::SeqCst);
    send(&mut client, token)
        .await
        .expect("at once again: the failed send counted for nothing");
    let code = gateway.code_sent_to("+4915199990000").await.expect("code");
    let confirmed = confirm(&mut client, token, &code).await.expect("confirmed");
    assert!(confirmed.contact_confirmed_at.is_some());
}
