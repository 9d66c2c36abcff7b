//! Hostile input over real gRPC, against all three services running with PostgreSQL and the
//! broker: messages over the size limit, invalid UTF-8 and deep nesting sent as hand-made
//! protobuf bytes, non-finite coordinates, backwards windows, ten thousand skills, SQL and
//! HTML in names, and a client over Register's rate limit. Each must be refused with a clear
//! code (and field violations where the request was readable), stored text must come back
//! byte for byte, and the service must go on serving.
//!
//! `raw.rs` makes and sends the requests that no generated client would encode; `text.rs`
//! holds the misleading-text checks, `limits.rs` the limits on callers (roles before
//! validation, Register's rate limits behind trusted proxies).

mod limits;
mod raw;
mod text;

use std::net::IpAddr;
use std::time::Duration;

use prost::Message;
use spontan_e2e::{Clients, Suite, authed, channel, violated_fields, window};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use raw::{assert_no_recursive_messages, raw_call, with_invalid_utf8};

const ORG: &str = "thw-ov-feindlich";
const WAIT: Duration = Duration::from_secs(60);

/// A volunteer in Berlin with a random phone number, so that any number of them register.
fn volunteer(name: &str) -> RegisterRequest {
    let n = Uuid::new_v4().as_u128() % 100_000_000;
    RegisterRequest {
        preferred_alert_channel: AlertChannel::Sms.into(),
        skill_ids: vec!["first_aid".into()],
        birth_year: 1975,
        travel_radius_km: 10.0,
        availability: vec![window(1, 5)],
        ..spontan_e2e::registration(
            name,
            &format!("+49153{n:08}"),
            GeoPoint {
                latitude: 52.52,
                longitude: 13.40,
            },
        )
    }
}

/// The field paths of an InvalidArgument's BadRequest detail.
fn violations(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    violated_fields(status)
}

/// A suite with Register's limit set, and the message size limit the services run with (the
/// default configuration's, the same for all three).
async fn start(burst: u32, per_minute: u32) -> (Suite, usize) {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let mut limits = Vec::new();
    let suite = Suite::start_with(broker, |config| {
        config.registration.register_limit.burst = burst;
        config.registration.register_limit.per_minute = per_minute;
        limits = vec![
            config.registration.platform.grpc.max_message_bytes,
            config.task.platform.grpc.max_message_bytes,
            config.matching.platform.grpc.max_message_bytes,
        ];
    })
    .await
    .expect("suite");
    assert!(limits.windows(2).all(|w| w[0] == w[1]), "{limits:?}");
    suite.serving(WAIT).await.expect("serving");
    (suite, limits[0])
}

/// Every service still answers a normal call.
async fn all_still_serving(suite: &Suite, coordinator: &str) {
    let Clients {
        mut registration,
        mut tasks,
        mut matching,
    } = suite.clients().await.expect("clients");
    registration
        .list_skills(ListSkillsRequest::default())
        .await
        .expect("registration still serves");
    tasks
        .list_incidents(authed(ListIncidentsRequest::default(), coordinator))
        .await
        .expect("task still serves");
    let status = matching
        .get_incident_summary(authed(
            GetIncidentSummaryRequest {
                incident_id: Uuid::new_v4().to_string(),
            },
            coordinator,
        ))
        .await
        .expect_err("no such incident");
    assert_eq!(
        status.code(),
        Code::NotFound,
        "matching still serves: {status:?}"
    );
}

#[tokio::test]
async fn hostile_requests_are_refused_and_the_services_keep_serving() {
    let (suite, limit) = start(1000, 600).await;
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-feindlich", Some(ORG));
    let registration_channel = channel(suite.registration.grpc).await.expect("channel");
    let task_channel = channel(suite.task.grpc).await.expect("channel");
    let matching_channel = channel(suite.matching.grpc).await.expect("channel");
    let mut registration = RegistrationServiceClient::new(registration_channel.clone());
    let mut tasks = TaskServiceClient::new(task_channel.clone());
    let mut matching = MatchingServiceClient::new(matching_channel.clone());

    // Over the server's message size limit: refused by the transport before any handler.
    let huge = "x".repeat(limit + 1024);
    let status = registration
        .register(volunteer(&huge))
        .await
        .expect_err("oversized registration");
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "registration: {status:?}"
    );
    let status = tasks
        .create_incident(authed(
            CreateIncidentRequest {
                idempotency_key: Uuid::new_v4().to_string(),
                organisation_id: ORG.into(),
                name: "Gross".into(),
                description: huge.clone(),
                region_centre: Some(GeoPoint {
                    latitude: 50.0,
                    longitude: 7.0,
                }),
                region_radius_km: 10.0,
            },
            &coordinator,
        ))
        .await
        .expect_err("oversized incident");
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "task: {status:?}"
    );
    let status = matching
        .list_match_changes(authed(
            ListMatchChangesRequest {
                incident_id: huge.clone(),
                after_sequence: 0,
                limit: 0,
            },
            &coordinator,
        ))
        .await
        .expect_err("oversized poll");
    assert!(
        matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
        "matching: {status:?}"
    );
    // Just under the limit, the same request is read and refused for its content instead.
    let big = "x".repeat(limit - 4096);
    let status = registration
        .register(volunteer(&big))
        .await
        .expect_err("a 250 kB name");
    assert_eq!(violations(&status), ["contact.display_name"]);

    // Invalid UTF-8 in a string field: a protobuf parse error, INTERNAL as the gRPC status
    // code table has it for parse failures; never a panic, never stored.
    let bytes = with_invalid_utf8(volunteer("PLACEHOLDER").encode_to_vec(), "PLACEHOLDER");
    assert!(
        RegisterRequest::decode(bytes.as_slice()).is_err(),
        "prost refuses it too"
    );
    let status = raw_call(
        registration_channel.clone(),
        "/spontan.v1.RegistrationService/Register",
        bytes,
        None,
    )
    .await
    .expect_err("invalid UTF-8 in a name");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("UTF-8"), "{status:?}");
    let incident = CreateIncidentRequest {
        idempotency_key: Uuid::new_v4().to_string(),
        organisation_id: ORG.into(),
        name: "PLACEHOLDER".into(),
        description: String::new(),
        region_centre: Some(GeoPoint {
            latitude: 50.0,
            longitude: 7.0,
        }),
        region_radius_km: 10.0,
    };
    let status = raw_call(
        task_channel.clone(),
        "/spontan.v1.TaskService/CreateIncident",
        with_invalid_utf8(incident.encode_to_vec(), "PLACEHOLDER"),
        Some(&coordinator),
    )
    .await
    .expect_err("invalid UTF-8 in an incident name");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    let poll = ListMatchChangesRequest {
        incident_id: "PLACEHOLDER".into(),
        after_sequence: 0,
        limit: 0,
    };
    let status = raw_call(
        matching_channel.clone(),
        "/spontan.v1.MatchingService/ListMatchChanges",
        with_invalid_utf8(poll.encode_to_vec(), "PLACEHOLDER"),
        Some(&coordinator),
    )
    .await
    .expect_err("invalid UTF-8 in an id");
    assert_eq!(status.code(), Code::Internal, "{status:?}");

    // Deep nesting: the schema has no recursive message, so only unknown groups can nest;
    // 100,000 levels of them hit the decoder's recursion limit instead of the stack.
    assert_no_recursive_messages();
    let deep: Vec<u8> = std::iter::repeat_n((15 << 3) | 3, 100_000).collect();
    for (channel, method) in [
        (
            registration_channel.clone(),
            "/spontan.v1.RegistrationService/Register",
        ),
        (
            task_channel.clone(),
            "/spontan.v1.TaskService/CreateIncident",
        ),
        (
            matching_channel.clone(),
            "/spontan.v1.MatchingService/ListMatchChanges",
        ),
    ] {
        let status = raw_call(channel, method, deep.clone(), Some(&coordinator))
            .await
            .expect_err("deeply nested groups");
        assert_eq!(status.code(), Code::Internal, "{method}: {status:?}");
    }

    // NaN and infinite coordinates, and a window that ends before it starts: field by field.
    let mut request = volunteer("Nan Nanson");
    request.home_location = Some(GeoPoint {
        latitude: f64::NAN,
        longitude: f64::INFINITY,
    });
    request.travel_radius_km = f64::NEG_INFINITY;
    request.availability = vec![window(5, 1)];
    let status = registration.register(request).await.expect_err("NaN home");
    assert_eq!(
        violations(&status),
        [
            "home_location.latitude",
            "home_location.longitude",
            "travel_radius_km",
            "availability[0].end_time"
        ]
    );
    let status = tasks
        .create_incident(authed(
            CreateIncidentRequest {
                idempotency_key: Uuid::new_v4().to_string(),
                organisation_id: ORG.into(),
                name: "NaN".into(),
                description: String::new(),
                region_centre: Some(GeoPoint {
                    latitude: f64::NAN,
                    longitude: f64::NEG_INFINITY,
                }),
                region_radius_km: f64::INFINITY,
            },
            &coordinator,
        ))
        .await
        .expect_err("NaN centre");
    assert_eq!(
        violations(&status),
        [
            "region_centre.latitude",
            "region_centre.longitude",
            "region_radius_km"
        ]
    );

    // Ten thousand skills: one violation for the list, not one per entry.
    let mut request = volunteer("Viele Faehigkeiten");
    request.skill_ids = (0..10_000).map(|i| format!("skill-{i}")).collect();
    let status = registration
        .register(request)
        .await
        .expect_err("10,000 skills");
    assert_eq!(violations(&status), ["skill_ids"]);

    // SQL and HTML in names are stored as text and come back byte for byte.
    let names = [
        "Robert'); DROP TABLE volunteers;--",
        "<script>alert('x')</script>",
        "ñ 名前 🚒 Олена \u{0644}\u{064a}\u{0644}\u{0649}\u{200f}",
    ];
    for name in names {
        let registered = registration
            .register(volunteer(name))
            .await
            .expect("a hostile name is still a name")
            .into_inner();
        let profile = registration
            .get_my_profile(authed(GetMyProfileRequest {}, &registered.access_token))
            .await
            .expect("profile")
            .into_inner()
            .profile
            .expect("a profile");
        assert_eq!(
            profile.contact.map(|c| c.display_name).as_deref(),
            Some(name)
        );
    }
    let incident = tasks
        .create_incident(authed(
            CreateIncidentRequest {
                idempotency_key: Uuid::new_v4().to_string(),
                organisation_id: ORG.into(),
                name: names[0].into(),
                description: names[1].into(),
                region_centre: Some(GeoPoint {
                    latitude: 50.0,
                    longitude: 7.0,
                }),
                region_radius_km: 10.0,
            },
            &coordinator,
        ))
        .await
        .expect("a hostile incident name is still a name")
        .into_inner()
        .incident
        .expect("an incident");
    let read = tasks
        .get_incident(authed(
            GetIncidentRequest {
                incident_id: incident.incident_id.clone(),
            },
            &coordinator,
        ))
        .await
        .expect("read back")
        .into_inner()
        .incident
        .expect("an incident");
    assert_eq!(
        (read.name.as_str(), read.description.as_str()),
        (names[0], names[1])
    );
    text::misleading_text_is_refused_and_names_are_kept_composed(
        &mut registration,
        &mut tasks,
        &coordinator,
    )
    .await;
    // The tables are intact: a new volunteer registers, and the earlier ones are still there.
    let later = registration
        .register(volunteer("Nach dem Angriff"))
        .await
        .expect("volunteers table intact")
        .into_inner();
    registration
        .export_my_data(authed(ExportMyDataRequest {}, &later.access_token))
        .await
        .expect("export still works");

    all_still_serving(&suite, &coordinator).await;
    suite.stop().await.expect("stops cleanly");
}
