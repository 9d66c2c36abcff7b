//! A coordinator reaches an accepted volunteer at once (issue #19, item 6): the moment
//! matching has the acceptance, the staffing view carries matching's contact grant, and
//! registration hands out the contact with it — even when the acceptance event has not
//! reached registration yet. Dashboards get no grant, and neither does an open offer.

use std::time::Duration;

use spontan_e2e::{
    Clients, Suite, authed, create_incident, create_task, eventually, incident_request, key, near,
    task_request,
};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::*;

const ORG: &str = "drk-kv-ahrweiler";
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn the_contact_of_an_accepted_volunteer_is_there_as_soon_as_matching_has_the_accept() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start(broker).await.expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let coordinator = suite.token(Role::Coordinator, "einsatzleiterin", Some(ORG));
    let dashboard = suite.token(Role::Dashboard, "lagezentrum", Some(ORG));
    let Clients {
        registration: mut people,
        tasks,
        matching,
    } = suite.clients().await.expect("clients");

    let request = RegisterRequest {
        idempotency_key: key(),
        ..spontan_e2e::registration("Greta Grant", "+4915100000921", near(0.2, 0.2))
    };
    let volunteer = people
        .register(request)
        .await
        .expect("registered")
        .into_inner()
        .access_token;
    let incident = create_incident(&tasks, &coordinator, incident_request(ORG)).await;
    let task = create_task(
        &tasks,
        &coordinator,
        task_request(&incident, "Deich sichern"),
    )
    .await
    .task_id;
    let offer = eventually(WAIT, "an offer", || {
        let mut matching = matching.clone();
        let (volunteer, task) = (&volunteer, &task);
        async move {
            let request = ListMyOffersRequest {
                include_finished: false,
            };
            matching
                .list_my_offers(authed(request, volunteer))
                .await
                .ok()?
                .into_inner()
                .offers
                .into_iter()
                .find(|o| &o.task_id == task)
        }
    })
    .await;

    let staffing = |token: String| {
        let mut matching = matching.clone();
        let task = task.clone();
        async move {
            matching
                .get_task_staffing(authed(
                    GetTaskStaffingRequest {
                        task_id: task,
                        ..Default::default()
                    },
                    &token,
                ))
                .await
                .expect("staffing")
                .into_inner()
                .matches
        }
    };
    let open = staffing(coordinator.clone()).await;
    assert_eq!(open.len(), 1);
    assert!(
        open[0].contact_grant.is_empty(),
        "no grant for an open offer"
    );

    matching
        .clone()
        .respond_to_offer(authed(
            RespondToOfferRequest {
                match_id: offer.match_id.clone(),
                decision: OfferDecision::Accept.into(),
                decline_reason: DeclineReason::Unspecified.into(),
            },
            &volunteer,
        ))
        .await
        .expect("accepted");

    // Straight away, without waiting for registration to hear of the accept.
    let accepted = staffing(coordinator.clone()).await;
    assert_eq!(accepted[0].state, MatchState::Accepted as i32);
    let grant = accepted[0].contact_grant.clone();
    assert!(
        !grant.is_empty(),
        "the coordinator's view carries the grant"
    );
    let contact = people
        .get_volunteer_contact(authed(
            GetVolunteerContactRequest {
                match_id: offer.match_id.clone(),
                contact_grant: grant,
            },
            &coordinator,
        ))
        .await
        .expect("the contact, at once")
        .into_inner()
        .contact
        .expect("contact");
    assert_eq!(contact.display_name, "Greta Grant");

    let watched = staffing(dashboard).await;
    assert!(
        watched[0].contact_grant.is_empty(),
        "dashboards never get a grant"
    );
}
