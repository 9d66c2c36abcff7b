//! A confirmed contact before matching, across all three services: where the deployment
//! requires it, a volunteer who has not confirmed their phone gets no offer while one who
//! has gets it at once, and the first is offered the task as soon as they type in the code
//! the messaging gateway received.

use std::time::Duration;

use spontan_e2e::{
    Clients, Suite, authed, create_incident, create_task, eventually, incident_request, key, near,
    task_request,
};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_platform::testkit::gateway::Gateway;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;

const ORG: &str = "drk-kv-ahrweiler";
const WAIT: Duration = Duration::from_secs(30);

struct Person {
    token: String,
    phone: String,
}

async fn register(
    people: &mut RegistrationServiceClient<Channel>,
    name: &str,
    phone: &str,
) -> Person {
    let request = RegisterRequest {
        idempotency_key: key(),
        ..spontan_e2e::registration(name, phone, near(0.2, 0.0))
    };
    let token = people
        .register(request)
        .await
        .expect("registered")
        .into_inner()
        .access_token;
    Person {
        token,
        phone: phone.to_owned(),
    }
}

async fn confirm(
    people: &mut RegistrationServiceClient<Channel>,
    gateway: &mut Gateway,
    who: &Person,
) {
    let send = SendContactCodeRequest {
        channel: AlertChannel::Sms as i32,
    };
    people
        .send_contact_code(authed(send, &who.token))
        .await
        .expect("code sent");
    let code = gateway.code_sent_to(&who.phone).await.expect("the code");
    people
        .confirm_contact(authed(ConfirmContactRequest { code }, &who.token))
        .await
        .expect("confirmed");
}

async fn offered(matching: &MatchingServiceClient<Channel>, who: &Person, task: &str) -> bool {
    let request = ListMyOffersRequest {
        include_finished: false,
    };
    matching
        .clone()
        .list_my_offers(authed(request, &who.token))
        .await
        .expect("offers")
        .into_inner()
        .offers
        .iter()
        .any(|o| o.task_id == task)
}

#[tokio::test]
async fn a_volunteer_is_offered_tasks_only_after_confirming_their_phone() {
    let mut gateway = Gateway::start().await.expect("gateway");
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let url = gateway.url.clone();
    let suite = Suite::start_with(broker, |config| {
        config.registration.privacy.require_confirmed_contact = true;
        config.registration.alerts.webhook_url = url;
    })
    .await
    .expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let coordinator = suite.token(Role::Coordinator, "einsatzleiterin", Some(ORG));
    let Clients {
        registration: mut people,
        tasks,
        matching,
    } = suite.clients().await.expect("clients");

    let waiting = register(&mut people, "Marker Unbestätigt", "+4915100000901").await;
    let confirmed = register(&mut people, "Marker Bestätigt", "+4915100000902").await;
    confirm(&mut people, &mut gateway, &confirmed).await;

    let incident = create_incident(&tasks, &coordinator, incident_request(ORG)).await;
    let request = CreateTaskRequest {
        headcount: 2,
        ..task_request(&incident, "Sandsäcke füllen")
    };
    let task = create_task(&tasks, &coordinator, request).await.task_id;

    // One matching pass offers the task to everyone it knows: the confirmed volunteer's
    // offer shows that the pass happened without the other.
    eventually(WAIT, "an offer to the confirmed volunteer", || {
        let matching = matching.clone();
        let (confirmed, task) = (&confirmed, &task);
        async move { offered(&matching, confirmed, task).await.then_some(()) }
    })
    .await;
    assert!(
        !offered(&matching, &waiting, &task).await,
        "no offer before the phone is confirmed"
    );

    confirm(&mut people, &mut gateway, &waiting).await;
    eventually(WAIT, "an offer once the phone is confirmed", || {
        let matching = matching.clone();
        let (waiting, task) = (&waiting, &task);
        async move { offered(&matching, waiting, task).await.then_some(()) }
    })
    .await;
}
