//! A regional control room across all three services: the Red Cross shares its incident with
//! the THW; THW's dashboard and coordinator then read the incident, its tasks, its summary,
//! staffing and match changes — without contact grants — and change nothing; unsharing ends it.

use std::time::Duration;

use spontan_e2e::{
    Clients, Suite, authed, create_incident, create_task, eventually, incident_request, near,
    registration, task_request,
};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::*;
use tonic::transport::Channel;

const OWNER: &str = "drk-kv-ahrweiler";
const GUEST: &str = "thw-ov-ahrweiler";
const WAIT: Duration = Duration::from_secs(30);

async fn summary(
    matching: &MatchingServiceClient<Channel>,
    token: &str,
    incident: &str,
) -> Result<GetIncidentSummaryResponse, tonic::Status> {
    matching
        .clone()
        .get_incident_summary(authed(
            GetIncidentSummaryRequest {
                incident_id: incident.to_owned(),
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_shared_incident_is_read_by_the_guest_organisation_and_changed_by_nobody_else() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start(broker).await.expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let owner = suite.token(Role::Coordinator, "einsatzleiterin", Some(OWNER));
    let guest_board = suite.token(Role::Dashboard, "leitstelle", Some(GUEST));
    let guest_coordinator = suite.token(Role::Coordinator, "zugfuehrer", Some(GUEST));
    let Clients {
        registration: mut people,
        tasks,
        matching,
    } = suite.clients().await.expect("clients");

    let volunteer = people
        .register(registration("Ada", "+4915100000951", near(0.3, 0.1)))
        .await
        .expect("registered")
        .into_inner()
        .access_token;
    let incident = create_incident(&tasks, &owner, incident_request(OWNER)).await;
    let task = create_task(
        &tasks,
        &owner,
        CreateTaskRequest {
            headcount: 1,
            ..task_request(&incident, "Sandsäcke am Ahrtor")
        },
    )
    .await
    .task_id;
    let offer = eventually(WAIT, "an offer", || {
        let (matching, volunteer) = (&matching, &volunteer);
        async move {
            matching
                .clone()
                .list_my_offers(authed(ListMyOffersRequest::default(), volunteer))
                .await
                .expect("offers")
                .into_inner()
                .offers
                .into_iter()
                .next()
        }
    })
    .await;
    matching
        .clone()
        .respond_to_offer(authed(
            RespondToOfferRequest {
                match_id: offer.match_id.clone(),
                decision: OfferDecision::Accept as i32,
                decline_reason: 0,
            },
            &volunteer,
        ))
        .await
        .expect("accepted");

    // Not shared yet: the THW sees nothing of it.
    let get = |token: &str| {
        let mut tasks = tasks.clone();
        let request = authed(
            GetIncidentRequest {
                incident_id: incident.clone(),
            },
            token,
        );
        async move { tasks.get_incident(request).await }
    };
    assert_eq!(
        get(&guest_board).await.expect_err("not shared").code(),
        tonic::Code::PermissionDenied
    );
    assert_eq!(
        summary(&matching, &guest_board, &incident)
            .await
            .expect_err("not shared")
            .code(),
        tonic::Code::PermissionDenied
    );
    let listed = |token: String| {
        let mut tasks = tasks.clone();
        async move {
            tasks
                .list_incidents(authed(ListIncidentsRequest::default(), &token))
                .await
                .expect("listed")
                .into_inner()
                .incidents
                .into_iter()
                .map(|i| i.incident_id)
                .collect::<Vec<_>>()
        }
    };
    assert!(!listed(guest_board.clone()).await.contains(&incident));

    // Only the owner shares; a repeated owner or an unknown shape is refused at its field.
    let share = |token: &str, organisations: &[&str]| {
        let mut tasks = tasks.clone();
        let request = authed(
            ShareIncidentRequest {
                incident_id: incident.clone(),
                organisation_ids: organisations.iter().map(|o| (*o).to_owned()).collect(),
            },
            token,
        );
        async move { tasks.share_incident(request).await }
    };
    assert_eq!(
        share(&guest_coordinator, &[GUEST])
            .await
            .expect_err("not the owner")
            .code(),
        tonic::Code::PermissionDenied
    );
    let refused = share(&owner, &[GUEST, OWNER])
        .await
        .expect_err("the owner is not a guest");
    assert_eq!(
        spontan_platform::testkit::violated_fields(&refused),
        ["organisation_ids[1]"]
    );
    let shared = share(&owner, &[GUEST])
        .await
        .expect("shared")
        .into_inner()
        .incident
        .expect("incident");
    assert_eq!(shared.shared_with_organisation_ids, [GUEST]);

    // The guest reads the incident, its tasks, and in matching its summary and staffing.
    assert_eq!(
        get(&guest_board)
            .await
            .expect("readable")
            .into_inner()
            .incident
            .expect("incident")
            .incident_id,
        incident
    );
    assert!(listed(guest_board.clone()).await.contains(&incident));
    let their_tasks = tasks
        .clone()
        .list_tasks(authed(
            ListTasksRequest {
                incident_id: incident.clone(),
                ..Default::default()
            },
            &guest_board,
        ))
        .await
        .expect("tasks")
        .into_inner()
        .tasks;
    assert_eq!(their_tasks.len(), 1);
    let seen = eventually(WAIT, "matching knows the sharing", || {
        let (matching, guest_board, incident) = (&matching, &guest_board, &incident);
        async move { summary(matching, guest_board, incident).await.ok() }
    })
    .await;
    assert_eq!(seen.incident_id, incident);
    for token in [&guest_board, &guest_coordinator] {
        let staffing = matching
            .clone()
            .get_task_staffing(authed(
                GetTaskStaffingRequest {
                    task_id: task.clone(),
                    include_finished: false,
                },
                token,
            ))
            .await
            .expect("staffing")
            .into_inner();
        assert_eq!(staffing.matches.len(), 1);
        assert!(
            staffing.matches[0].contact_grant.is_empty(),
            "no way to the volunteer's contact for a guest"
        );
    }
    let changes = matching
        .clone()
        .list_match_changes(authed(
            ListMatchChangesRequest {
                incident_id: incident.clone(),
                after_sequence: 0,
                limit: 0,
            },
            &guest_board,
        ))
        .await
        .expect("changes")
        .into_inner()
        .changes;
    assert!(!changes.is_empty());
    // The owner's coordinator still gets the grant.
    let own = matching
        .clone()
        .get_task_staffing(authed(
            GetTaskStaffingRequest {
                task_id: task.clone(),
                include_finished: false,
            },
            &owner,
        ))
        .await
        .expect("staffing")
        .into_inner();
    assert!(!own.matches[0].contact_grant.is_empty());

    // The guest changes nothing.
    let create = tasks
        .clone()
        .create_task(authed(
            task_request(&incident, "Fremde Aufgabe"),
            &guest_coordinator,
        ))
        .await
        .expect_err("not theirs to write");
    assert_eq!(create.code(), tonic::Code::PermissionDenied);
    let optimise = matching
        .clone()
        .optimize_incident(authed(
            OptimizeIncidentRequest {
                incident_id: incident.clone(),
                dry_run: true,
                move_cost_km: None,
            },
            &guest_coordinator,
        ))
        .await
        .expect_err("not theirs to optimise");
    assert_eq!(optimise.code(), tonic::Code::PermissionDenied);
    let contact = people
        .get_volunteer_contact(authed(
            GetVolunteerContactRequest {
                match_id: offer.match_id.clone(),
                ..Default::default()
            },
            &guest_coordinator,
        ))
        .await
        .expect_err("no contacts for guests");
    assert_eq!(contact.code(), tonic::Code::PermissionDenied);

    // Unshared: the guest is out again, in both services.
    share(&owner, &[]).await.expect("unshared");
    assert_eq!(
        get(&guest_board).await.expect_err("unshared").code(),
        tonic::Code::PermissionDenied
    );
    eventually(WAIT, "matching knows the unsharing", || {
        let (matching, guest_board, incident) = (&matching, &guest_board, &incident);
        async move {
            summary(matching, guest_board, incident)
                .await
                .err()
                .filter(|s| s.code() == tonic::Code::PermissionDenied)
        }
    })
    .await;
}
