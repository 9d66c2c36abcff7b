//! Language requirements across all three services: a coordinator's task that requires
//! Ukrainian is offered only to volunteers who gave Ukrainian at registration (with or
//! without a region), the coordinator sees which languages matched, and a preferred language
//! is named in the explanation of the volunteer who speaks it.

use std::time::Duration;

use spontan_e2e::{
    Clients, Suite, authed, create_incident, create_task, eventually, incident_request, key, near,
    task_request,
};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;

const ORG: &str = "drk-kv-ahrweiler";
const WAIT: Duration = Duration::from_secs(30);

async fn register(
    people: &mut RegistrationServiceClient<Channel>,
    name: &str,
    phone: &str,
    languages: &[&str],
) -> String {
    let request = RegisterRequest {
        idempotency_key: key(),
        languages: languages.iter().map(|l| (*l).to_owned()).collect(),
        ..spontan_e2e::registration(name, phone, near(0.3, 0.1))
    };
    people
        .register(request)
        .await
        .expect("registered")
        .into_inner()
        .access_token
}

async fn offered(matching: &MatchingServiceClient<Channel>, token: &str, task: &str) -> bool {
    let request = ListMyOffersRequest {
        include_finished: false,
    };
    matching
        .clone()
        .list_my_offers(authed(request, token))
        .await
        .expect("offers")
        .into_inner()
        .offers
        .iter()
        .any(|o| o.task_id == task)
}

#[tokio::test]
async fn a_task_that_requires_ukrainian_is_offered_only_to_those_who_speak_it() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start(broker).await.expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let coordinator = suite.token(Role::Coordinator, "einsatzleiterin", Some(ORG));
    let Clients {
        registration: mut people,
        tasks,
        matching,
    } = suite.clients().await.expect("clients");

    let german = register(&mut people, "Nur Deutsch", "+4915100000911", &["de"]).await;
    let ukrainian = register(
        &mut people,
        "Mit Ukrainisch",
        "+4915100000912",
        &["de", "uk-UA"],
    )
    .await;
    let arabic = register(
        &mut people,
        "Ukrainisch und Arabisch",
        "+4915100000913",
        &["uk", "ar"],
    )
    .await;

    let incident = create_incident(&tasks, &coordinator, incident_request(ORG)).await;
    let request = CreateTaskRequest {
        headcount: 3,
        required_languages: vec!["uk".into()],
        preferred_languages: vec!["ar".into()],
        ..task_request(&incident, "Übersetzen in der Notunterkunft")
    };
    let task = create_task(&tasks, &coordinator, request).await.task_id;

    // One matching pass offers the task to everyone eligible at once: the two speakers'
    // offers show that the pass happened without the third.
    eventually(WAIT, "offers to both Ukrainian speakers", || {
        let matching = matching.clone();
        let (ukrainian, arabic, task) = (&ukrainian, &arabic, &task);
        async move {
            (offered(&matching, ukrainian, task).await && offered(&matching, arabic, task).await)
                .then_some(())
        }
    })
    .await;
    assert!(
        !offered(&matching, &german, &task).await,
        "no offer to a volunteer who does not speak the required language"
    );

    let staffing = matching
        .clone()
        .get_task_staffing(authed(
            GetTaskStaffingRequest {
                task_id: task.clone(),
                ..Default::default()
            },
            &coordinator,
        ))
        .await
        .expect("staffing")
        .into_inner();
    assert_eq!(staffing.matches.len(), 2, "{:?}", staffing.matches);
    let explanations: Vec<&MatchExplanation> = staffing
        .matches
        .iter()
        .map(|m| m.explanation.as_ref().expect("explained"))
        .collect();
    for e in &explanations {
        assert_eq!(e.required_languages_matched, ["uk"]);
    }
    let preferring: Vec<&&MatchExplanation> = explanations
        .iter()
        .filter(|e| e.preferred_languages_matched == ["ar"])
        .collect();
    assert_eq!(
        preferring.len(),
        1,
        "only the Arabic speaker: {explanations:?}"
    );
    assert!(
        preferring[0].summary.contains("1 of 1 preferred languages"),
        "{}",
        preferring[0].summary
    );
}
