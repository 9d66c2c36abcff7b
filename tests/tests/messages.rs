//! Messages to volunteers across all three services: a volunteer accepts an offer in
//! matching, registration hears of it from the match topic, and a coordinator's message to
//! the task reaches that volunteer — and not one who only has an open offer.

use std::time::Duration;

use spontan_e2e::{
    Clients, Suite, authed, create_incident, create_task, eventually, incident_request, near,
    registration, task_request,
};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::*;

const ORG: &str = "drk-kv-ahrweiler";
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_message_to_a_task_reaches_the_volunteer_who_accepted_it() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start(broker).await.expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let coordinator = suite.token(Role::Coordinator, "einsatzleiterin", Some(ORG));
    let Clients {
        registration: mut people,
        tasks,
        matching,
    } = suite.clients().await.expect("clients");

    let mut tokens = Vec::new();
    for (name, phone) in [("Ada", "+4915100000941"), ("Ben", "+4915100000942")] {
        tokens.push(
            people
                .register(registration(name, phone, near(0.3, 0.1)))
                .await
                .expect("registered")
                .into_inner()
                .access_token,
        );
    }
    let incident = create_incident(&tasks, &coordinator, incident_request(ORG)).await;
    let request = CreateTaskRequest {
        headcount: 2,
        ..task_request(&incident, "Sandsäcke am Ahrtor")
    };
    let task = create_task(&tasks, &coordinator, request).await.task_id;
    let mut offers = Vec::new();
    for token in &tokens {
        let offer = eventually(WAIT, "an offer", || {
            let (matching, token) = (&matching, token);
            async move {
                matching
                    .clone()
                    .list_my_offers(authed(ListMyOffersRequest::default(), token))
                    .await
                    .expect("offers")
                    .into_inner()
                    .offers
                    .into_iter()
                    .next()
            }
        })
        .await;
        offers.push(offer);
    }
    // Ada accepts; Ben leaves his offer open.
    matching
        .clone()
        .respond_to_offer(authed(
            RespondToOfferRequest {
                match_id: offers[0].match_id.clone(),
                decision: OfferDecision::Accept as i32,
                decline_reason: 0,
            },
            &tokens[0],
        ))
        .await
        .expect("accepted");
    // Registration has heard of the acceptance once it hands out Ada's contact on its own.
    eventually(WAIT, "registration knows the acceptance", || {
        let mut people = people.clone();
        let (coordinator, match_id) = (&coordinator, &offers[0].match_id);
        async move {
            people
                .get_volunteer_contact(authed(
                    GetVolunteerContactRequest {
                        match_id: match_id.clone(),
                        ..Default::default()
                    },
                    coordinator,
                ))
                .await
                .ok()
        }
    })
    .await;

    let sent = people
        .send_volunteer_message(authed(
            SendVolunteerMessageRequest {
                message_id: spontan_e2e::key(),
                incident_id: incident.clone(),
                task_id: task.clone(),
                text: "Treffpunkt verlegt: Parkplatz Ahrtor".into(),
                essential: false,
            },
            &coordinator,
        ))
        .await
        .expect("sent")
        .into_inner()
        .message
        .expect("message");
    let delivery = sent.delivery.expect("delivery");
    assert_eq!(delivery.recipients, 1, "only Ada accepted: {delivery:?}");
    let listed = people
        .list_volunteer_messages(authed(
            ListVolunteerMessagesRequest {
                incident_id: incident.clone(),
                task_id: task.clone(),
                limit: 0,
            },
            &coordinator,
        ))
        .await
        .expect("listed")
        .into_inner()
        .messages;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].message_id, sent.message_id);
    assert_eq!(listed[0].task_id, task);
}
