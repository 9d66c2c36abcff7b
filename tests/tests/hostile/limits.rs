//! Limits on callers: a caller without the method's role is refused before its request is
//! read; Register's limits per client and for all clients, behind trusted proxies.

use super::*;

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
                ..Default::default()
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
