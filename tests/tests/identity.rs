//! Staff identity in a production-shaped suite: the suite's own key signs volunteer tokens
//! only, and coordinators and dashboards sign in at an OpenID Connect provider (a local issuer
//! serving discovery and keys over HTTP). Every call goes over real gRPC to the running
//! services.

use std::time::Duration;

use spontan_e2e::{Suite, authed, channel, eventually};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_platform::testkit::oidc::TestIssuer;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tonic::Code;
use uuid::Uuid;

const ORG: &str = "thw-ov-sinzig";
const ALL_SERVICES: [&str; 3] = ["spontan-registration", "spontan-task", "spontan-matching"];
const WAIT: Duration = Duration::from_secs(60);

async fn production_suite(issuer: &TestIssuer) -> Suite {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let provider = issuer.provider();
    let suite = Suite::start_with(broker, move |config| {
        for platform in [
            &mut config.registration.platform,
            &mut config.task.platform,
            &mut config.matching.platform,
        ] {
            platform.auth.key_roles = vec![Role::Volunteer];
            platform.auth.oidc = vec![provider.clone()];
        }
    })
    .await
    .expect("suite");
    suite.serving(WAIT).await.expect("serving");
    suite
}

fn incident(organisation: &str) -> CreateIncidentRequest {
    CreateIncidentRequest {
        idempotency_key: Uuid::new_v4().to_string(),
        organisation_id: organisation.into(),
        name: "Hochwasser Sinzig".into(),
        description: String::new(),
        region_centre: Some(GeoPoint {
            latitude: 50.544,
            longitude: 7.247,
        }),
        region_radius_km: 15.0,
    }
}

#[tokio::test]
async fn staff_work_with_provider_tokens_and_the_suites_key_signs_volunteers_only() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let suite = production_suite(&issuer).await;
    let mut tasks = TaskServiceClient::new(channel(suite.task.grpc).await.expect("task"));
    let mut matching =
        MatchingServiceClient::new(channel(suite.matching.grpc).await.expect("matching"));

    // A coordinator signed in at the provider, with a token for all three services.
    let coordinator = issuer.staff_token("kc-user-4711", "coordinator", Some(ORG), &ALL_SERVICES);
    let created = tasks
        .create_incident(authed(incident(ORG), &coordinator))
        .await
        .expect("the provider's coordinator creates an incident")
        .into_inner()
        .incident
        .expect("the incident");
    assert_eq!(created.organisation_id, ORG);
    let summary = GetIncidentSummaryRequest {
        incident_id: created.incident_id.clone(),
    };
    let dashboard = issuer.staff_token("leitstelle-1", "dashboard", Some(ORG), &ALL_SERVICES);
    // Matching learns of the incident from its event: until then NotFound, which is an
    // answer past authentication too; an Unauthenticated would fail at once.
    eventually(WAIT, "the provider's dashboard reads the summary", || {
        let mut matching = matching.clone();
        let request = authed(summary.clone(), &dashboard);
        async move {
            match matching.get_incident_summary(request).await {
                Ok(_) => Some(()),
                Err(status) if status.code() == Code::NotFound => None,
                Err(status) => panic!("the dashboard's summary: {status:?}"),
            }
        }
    })
    .await;

    // Organisation from the token, not the request: another organisation's incident is not
    // the coordinator's to create.
    let status = tasks
        .create_incident(authed(incident("drk-woanders"), &coordinator))
        .await
        .expect_err("another organisation");
    assert_eq!(status.code(), Code::PermissionDenied);

    // A token for the task service alone is refused by matching.
    let task_only = issuer.staff_token("kc-user-4711", "coordinator", Some(ORG), &["spontan-task"]);
    tasks
        .list_incidents(authed(
            ListIncidentsRequest {
                organisation_id: ORG.into(),
                ..Default::default()
            },
            &task_only,
        ))
        .await
        .expect("the task service is the audience");
    let status = matching
        .get_incident_summary(authed(summary.clone(), &task_only))
        .await
        .expect_err("matching is not the audience");
    assert_eq!(status.code(), Code::Unauthenticated);

    // The suite's key is the registration service's: it may sign a volunteer's token, but a
    // staff token signed with it is refused everywhere.
    let volunteer = suite.token(Role::Volunteer, &Uuid::new_v4().to_string(), None);
    matching
        .list_my_offers(authed(ListMyOffersRequest::default(), &volunteer))
        .await
        .expect("a volunteer token from the suite's key");
    for role in [Role::Coordinator, Role::Admin] {
        let forged = suite.token(role, "leaked-key", Some(ORG));
        let status = tasks
            .list_incidents(authed(
                ListIncidentsRequest {
                    organisation_id: ORG.into(),
                    ..Default::default()
                },
                &forged,
            ))
            .await
            .expect_err("a staff token from the volunteer key");
        assert_eq!(status.code(), Code::Unauthenticated, "{role:?}");
    }

    // The provider rotates its key while the services run: new tokens work at once.
    issuer.rotate();
    let rotated = issuer.staff_token("leitstelle-1", "dashboard", Some(ORG), &ALL_SERVICES);
    matching
        .get_incident_summary(authed(summary, &rotated))
        .await
        .expect("a token signed with the provider's new key");
    suite.stop().await.expect("stop");
}

#[tokio::test]
async fn a_provider_token_outlives_nothing_it_was_not_granted() {
    let issuer = TestIssuer::start().await.expect("issuer");
    let suite = production_suite(&issuer).await;
    let mut tasks = TaskServiceClient::new(channel(suite.task.grpc).await.expect("task"));
    let list = || ListIncidentsRequest {
        organisation_id: ORG.into(),
        ..Default::default()
    };
    // A token the provider issued for a day: staff tokens are short-lived, so it is refused.
    let mut claims = issuer.staff_claims("kc-user-1", "coordinator", Some(ORG), &ALL_SERVICES);
    let issued = claims["iat"].as_u64().expect("iat");
    claims["exp"] = (issued + Duration::from_secs(24 * 3600).as_secs()).into();
    let status = tasks
        .list_incidents(authed(list(), &issuer.sign(&claims)))
        .await
        .expect_err("a day-long staff token");
    assert_eq!(status.code(), Code::Unauthenticated);
    // An admin token under the provider's kid but signed by a key it never published.
    let forged = issuer.forge(&issuer.staff_claims("kc-user-1", "admin", None, &ALL_SERVICES));
    let status = tasks
        .list_incidents(authed(list(), &forged))
        .await
        .expect_err("forged");
    assert_eq!(status.code(), Code::Unauthenticated);
    suite.stop().await.expect("stop");
}
