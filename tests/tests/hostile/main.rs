//! Hostile input over real gRPC, against all three services running with PostgreSQL and the
//! broker: messages over the size limit, invalid UTF-8 and deep nesting sent as hand-made
//! protobuf bytes, non-finite coordinates, backwards windows, ten thousand skills, SQL and
//! HTML in names, and a client over Register's rate limit. Each must be refused with a clear
//! code (and field violations where the request was readable), stored text must come back
//! byte for byte, and the service must go on serving.
//!
//! `raw.rs` makes and sends the requests that no generated client would encode.

mod raw;

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
    misleading_text_is_refused_and_names_are_kept_composed(
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

/// Text that misleads its readers is refused at its field: a right-to-left override that
/// reorders what an SMS or a dashboard line shows, and names with nothing visible. A name
/// typed with combining accents is stored composed (NFC), as the same name typed with
/// precomposed letters.
async fn misleading_text_is_refused_and_names_are_kept_composed(
    registration: &mut RegistrationServiceClient<Channel>,
    tasks: &mut TaskServiceClient<Channel>,
    coordinator: &str,
) {
    for name in [
        "\u{202e}evil\u{202c} Name",
        "Eva \u{2067}nnA\u{2069}",
        "\u{200b}\u{200d}\u{2060}",
        " \u{3164} ",
    ] {
        let status = registration
            .register(volunteer(name))
            .await
            .expect_err(name);
        assert_eq!(violations(&status), ["contact.display_name"], "{name:?}");
    }
    let registered = registration
        .register(volunteer("Jose\u{301} Nun\u{303}ez"))
        .await
        .expect("a name with combining accents")
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
        Some("Jos\u{e9} Nu\u{f1}ez")
    );

    let status = tasks
        .create_incident(authed(
            CreateIncidentRequest {
                idempotency_key: Uuid::new_v4().to_string(),
                organisation_id: ORG.into(),
                name: "Hochwasser \u{202e}tsoP".into(),
                description: "\u{200b}".into(),
                region_centre: Some(GeoPoint {
                    latitude: 50.0,
                    longitude: 7.0,
                }),
                region_radius_km: 10.0,
            },
            coordinator,
        ))
        .await
        .expect_err("a bidi override in an incident name");
    assert_eq!(violations(&status), ["name", "description"]);
}

#[tokio::test]
async fn callers_without_the_role_are_refused_before_their_request_is_read() {
    let (suite, _) = start(1000, 600).await;
    let Clients {
        mut registration,
        mut tasks,
        mut matching,
    } = suite.clients().await.expect("clients");
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-rollen", Some(ORG));
    let dashboard = suite.token(Role::Dashboard, "leitstelle-rollen", Some(ORG));
    let volunteer = registration
        .register(volunteer("Rolle Ehrenamt"))
        .await
        .expect("registers")
        .into_inner()
        .access_token;
    let incident = tasks
        .create_incident(authed(
            CreateIncidentRequest {
                idempotency_key: Uuid::new_v4().to_string(),
                organisation_id: ORG.into(),
                name: "Rollenprobe".into(),
                description: String::new(),
                region_centre: Some(GeoPoint {
                    latitude: 50.0,
                    longitude: 7.0,
                }),
                region_radius_km: 10.0,
            },
            &coordinator,
        ))
        .await
        .expect("incident")
        .into_inner()
        .incident
        .expect("an incident")
        .incident_id;
    let garbage = |n: usize| ListTasksRequest {
        incident_id: incident.clone(),
        statuses: vec![99; n],
        ..Default::default()
    };

    // A volunteer's token on a staff method: refused for the role, whatever the request
    // holds; 20,000 bad entries are not even looked at.
    for n in [500, 20_000] {
        let status = tasks
            .list_tasks(authed(garbage(n), &volunteer))
            .await
            .expect_err("a volunteer lists tasks");
        assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    }
    let status = tasks.list_tasks(garbage(500)).await.expect_err("no token");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    let status = tasks
        .create_task(authed(CreateTaskRequest::default(), &dashboard))
        .await
        .expect_err("a dashboard creates a task");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = matching
        .list_match_changes(authed(
            ListMatchChangesRequest {
                incident_id: "not a uuid".into(),
                ..Default::default()
            },
            &volunteer,
        ))
        .await
        .expect_err("a volunteer reads the change log");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = registration
        .get_volunteer_contact(authed(
            GetVolunteerContactRequest {
                match_id: "not a uuid".into(),
            },
            &volunteer,
        ))
        .await
        .expect_err("a volunteer asks for a contact");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = matching
        .list_my_offers(authed(ListMyOffersRequest::default(), &coordinator))
        .await
        .expect_err("a coordinator asks for a volunteer's offers");
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // The coordinator's 20,000 bad entries: one violation for the list, in an answer a
    // standard gRPC client reads (500 violations used to overflow its metadata limit).
    let status = tasks
        .list_tasks(authed(garbage(20_000), &coordinator))
        .await
        .expect_err("20,000 statuses");
    assert_eq!(violations(&status), ["statuses"]);
    let status = tasks
        .list_tasks(authed(garbage(10), &coordinator))
        .await
        .expect_err("10 unknown statuses");
    assert_eq!(violations(&status).len(), 10);

    suite.stop().await.expect("stops cleanly");
}

/// A client on its own loopback address, so that it has its own rate-limit bucket.
async fn channel_from(address: std::net::SocketAddr, local: IpAddr) -> Channel {
    Endpoint::from_shared(format!("http://{address}"))
        .expect("endpoint")
        .local_address(Some(local))
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect from a second loopback address")
}

#[tokio::test]
async fn register_floods_get_resource_exhausted_with_retry_info() {
    let (suite, _) = start(3, 1).await;
    let mut registration =
        RegistrationServiceClient::new(channel(suite.registration.grpc).await.expect("channel"));
    // The limit counts every attempt, valid or not: a script cannot probe for free.
    for _ in 0..3 {
        let status = registration
            .register(RegisterRequest::default())
            .await
            .expect_err("an empty request");
        assert_eq!(status.code(), Code::InvalidArgument);
    }
    let status = registration
        .register(volunteer("Zu viele"))
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let retry = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .expect("a RetryInfo detail with a delay");
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_secs(60),
        "one token per minute: {retry:?}"
    );
    // Other public calls are not limited, and another client has its own bucket.
    registration
        .list_skills(ListSkillsRequest::default())
        .await
        .expect("ListSkills is not throttled");
    let mut other = RegistrationServiceClient::new(
        channel_from(suite.registration.grpc, [127, 0, 0, 2].into()).await,
    );
    other
        .register(volunteer("Anderer Client"))
        .await
        .expect("another client is not throttled by the first");
    suite.stop().await.expect("stops cleanly");
}

/// A Register request as forwarded by a proxy for `client`.
fn forwarded_for(client: &str, name: &str) -> tonic::Request<RegisterRequest> {
    let mut request = tonic::Request::new(volunteer(name));
    request
        .metadata_mut()
        .insert("x-forwarded-for", client.parse().expect("a header value"));
    request
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_limit_and_all_share_one() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start_with(broker, |config| {
        let limit = &mut config.registration.register_limit;
        (limit.burst, limit.per_minute) = (2, 1);
        (limit.global_burst, limit.global_per_minute) = (8, 1);
        // 127.0.0.1 plays the ingress controller; 127.0.0.2 is a client on its own.
        config.registration.platform.grpc.trusted_proxies =
            vec!["127.0.0.1/32".parse().expect("a CIDR block")];
    })
    .await
    .expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let exhausted = |status: Status, what: &str| {
        assert_eq!(status.code(), Code::ResourceExhausted, "{what}: {status:?}");
    };

    // A caller who is not a trusted proxy cannot pick their bucket with the header: their
    // claim is ignored, and their own address counts.
    let mut direct = RegistrationServiceClient::new(
        channel_from(suite.registration.grpc, [127, 0, 0, 2].into()).await,
    );
    for n in 0..2 {
        direct
            .register(forwarded_for(&format!("192.0.2.{n}"), "Direkt"))
            .await
            .unwrap_or_else(|s| panic!("direct registration {n}: {s:?}"));
    }
    let refused = direct
        .register(forwarded_for("192.0.2.99", "Direkt, gefälscht"))
        .await
        .expect_err("a forged header does not make a new client");
    exhausted(refused, "forged header");

    // Two clients behind the ingress: each has its own burst of two.
    let mut ingress =
        RegistrationServiceClient::new(channel(suite.registration.grpc).await.expect("channel"));
    for client in ["203.0.113.10", "203.0.113.11"] {
        for n in 0..2 {
            ingress
                .register(forwarded_for(client, &format!("Hinter dem Ingress {n}")))
                .await
                .unwrap_or_else(|s| panic!("{client} registration {n}: {s:?}"));
        }
        let refused = ingress
            .register(forwarded_for(client, "Einer zu viel"))
            .await
            .expect_err("over the client's own limit");
        exhausted(refused, client);
    }
    // An IPv6 client is its /64: another address in the same network shares the bucket.
    for address in ["2001:db8:7:1::a", "2001:db8:7:1::b"] {
        ingress
            .register(forwarded_for(address, "Sechs"))
            .await
            .unwrap_or_else(|s| panic!("{address}: {s:?}"));
    }
    let refused = ingress
        .register(forwarded_for("2001:db8:7:1:ffff::1", "Sechs zu viel"))
        .await
        .expect_err("the /64's bucket is empty");
    exhausted(refused, "same /64");

    // Eight admitted, the shared burst: a new client, with its own bucket full, meets the
    // admission limit for everyone.
    let refused = ingress
        .register(forwarded_for("198.51.100.20", "Botnetz"))
        .await
        .expect_err("the admission limit for everyone");
    exhausted(refused, "admission limit");
    suite.stop().await.expect("stops cleanly");
}
