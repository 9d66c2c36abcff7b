//! The suite as an operator first meets it: all three services start against real PostgreSQL
//! and the real broker, report their health over gRPC, describe themselves by reflection,
//! refuse bad tokens, expose metrics, and stop cleanly.

use std::time::Duration;

use spontan_e2e::{Suite, channel, health, scrape_metrics, wait_for_health};
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::ListSkillsRequest;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use tokio_stream::StreamExt;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

#[tokio::test]
async fn every_service_serves_health_reflection_and_metrics_then_stops_cleanly() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start(broker).await.expect("suite starts");

    for (name, service) in suite.services() {
        wait_for_health(
            service.grpc,
            "",
            ServingStatus::Serving,
            Duration::from_secs(60),
        )
        .await
        .expect("server serving");
        assert_eq!(
            health(service.grpc, name).await.expect("health"),
            ServingStatus::Serving,
            "{name}"
        );

        // Reflection lists the service, its health and reflection itself.
        let mut reflection =
            ServerReflectionClient::new(channel(service.grpc).await.expect("channel"));
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        let mut responses = reflection
            .server_reflection_info(tokio_stream::iter([request]))
            .await
            .expect("reflection")
            .into_inner();
        let response = responses
            .next()
            .await
            .expect("one answer")
            .expect("no error");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            panic!("unexpected reflection answer for {name}");
        };
        let listed: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
        assert!(listed.contains(&name), "{name} not in {listed:?}");
        assert!(listed.contains(&"grpc.health.v1.Health"), "{listed:?}");
    }

    let mut registration =
        RegistrationServiceClient::new(channel(suite.registration.grpc).await.expect("channel"));

    // A token that is sent must be valid.
    let mut request = tonic::Request::new(ListSkillsRequest::default());
    request.metadata_mut().insert(
        "authorization",
        "Bearer eyJhbGciOiJFZERTQSJ9.e30.AAAA"
            .parse()
            .expect("header"),
    );
    let status = registration
        .list_skills(request)
        .await
        .expect_err("forged token");
    assert_eq!(status.code(), Code::Unauthenticated);

    // The calls above are counted per method and code.
    let metrics = scrape_metrics(suite.registration.metrics)
        .await
        .expect("metrics");
    let counted = metrics.lines().any(|line| {
        line.starts_with("grpc_server_requests_total")
            && line.contains("method=\"/spontan.v1.RegistrationService/ListSkills\"")
            && line.contains("code=\"Unauthenticated\"")
    });
    assert!(counted, "no request counter for ListSkills in:\n{metrics}");
    assert!(
        metrics.contains("grpc_server_request_duration_seconds_bucket"),
        "no latency histogram"
    );

    suite.stop().await.expect("every service stops cleanly");
}

#[tokio::test]
async fn a_service_is_not_serving_until_its_broker_is_reachable() {
    let mut broker = TestBroker::start_owned().await.expect("broker");
    broker.stop().await.expect("broker stopped");
    let suite = Suite::start(broker)
        .await
        .expect("services start without a broker");

    for (name, service) in suite.services() {
        // Give the services time to migrate and try the broker.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            health(service.grpc, name).await.expect("health answers"),
            ServingStatus::NotServing,
            "{name} must not serve without its broker"
        );
    }

    let mut suite = suite;
    suite.broker.restart().await.expect("broker back");
    for (name, service) in suite.services() {
        wait_for_health(
            service.grpc,
            name,
            ServingStatus::Serving,
            Duration::from_secs(60),
        )
        .await
        .expect("serving once the broker is back");
    }
    suite.stop().await.expect("stops cleanly");
}
