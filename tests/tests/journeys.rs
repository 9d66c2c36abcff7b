//! A flood day as its users live it, across all three services, PostgreSQL and the broker:
//! a coordinator opens an incident and creates tasks; volunteers register on a phone (one of
//! them retries); offers reach the messaging gateway; volunteers accept and decline; a task is
//! cancelled and its people are offered elsewhere; a volunteer erases themself and is
//! replaced; the dashboard sees every change exactly once and no personal data; and the trace
//! a phone started at registration is still on the match events.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use spontan_e2e::{
    Clients, Record, Suite, authed, create_incident, create_task, eventually, incident_request,
    key, near, read_topic, task_request,
};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_platform::testkit::gateway::Gateway;
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

const ORG: &str = "thw-ov-ahrweiler";
const WAIT: Duration = Duration::from_secs(30);

fn registration(key: &str, n: u32) -> RegisterRequest {
    RegisterRequest {
        idempotency_key: key.to_owned(),
        skill_ids: vec!["sandbag_filling".into(), "heavy_lifting".into()],
        ..spontan_e2e::registration(
            &format!("Marker Helferin {n}"),
            &format!("+4915100000{n:03}"),
            near(0.5 * f64::from(n), 0.0),
        )
    }
}

struct Volunteer {
    id: String,
    token: String,
    phone: String,
}

async fn register(client: &mut RegistrationServiceClient<Channel>, n: u32) -> Volunteer {
    let request = registration(&key(), n);
    let phone = request
        .contact
        .as_ref()
        .map(|c| c.phone_e164.clone())
        .unwrap_or_default();
    let response = client
        .register(request)
        .await
        .expect("registration accepted")
        .into_inner();
    Volunteer {
        id: response.volunteer_id,
        token: response.access_token,
        phone,
    }
}

/// The volunteer's offers in state `state`, by task id.
async fn offers(
    client: &mut MatchingServiceClient<Channel>,
    volunteer: &Volunteer,
    state: MatchState,
) -> Vec<Offer> {
    client
        .list_my_offers(authed(
            ListMyOffersRequest {
                include_finished: true,
            },
            &volunteer.token,
        ))
        .await
        .expect("offers")
        .into_inner()
        .offers
        .into_iter()
        .filter(|o| o.state() == state)
        .collect()
}

async fn wait_for_offer(
    client: &mut MatchingServiceClient<Channel>,
    volunteer: &Volunteer,
    task_id: &str,
) -> Offer {
    let what = format!("an offer of task {task_id} to volunteer {}", volunteer.id);
    eventually(WAIT, &what, || {
        let mut client = client.clone();
        async move {
            offers(&mut client, volunteer, MatchState::Offered)
                .await
                .into_iter()
                .find(|o| o.task_id == task_id)
        }
    })
    .await
}

/// A task for two at the dike with `priority`, preferring people who can lift heavy loads.
fn dike_task(incident: &str, title: &str, priority: Priority) -> CreateTaskRequest {
    CreateTaskRequest {
        preferred_skill_ids: vec!["heavy_lifting".into()],
        headcount: 2,
        priority: priority.into(),
        ..task_request(incident, title)
    }
}

#[tokio::test]
async fn a_flood_day_from_registration_to_dashboard() {
    let Gateway {
        url: webhook,
        messages: mut alerts,
        ..
    } = Gateway::start().await.expect("messaging gateway");
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start_with(broker, |config| {
        config.registration.alerts.webhook_url = webhook.clone();
    })
    .await
    .expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let stop = CancellationToken::new();
    let mut match_events =
        read_topic(&suite.kafka, &suite.kafka.topics.matching, stop.clone()).expect("match topic");

    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-1", Some(ORG));
    let dashboard = suite.token(Role::Dashboard, "leitstelle", Some(ORG));
    let Clients {
        registration: mut people,
        mut tasks,
        mut matching,
    } = suite.clients().await.expect("clients");

    // A coordinator opens the incident and two tasks at the same time, critical and low.
    let incident = create_incident(&tasks, &coordinator, incident_request(ORG)).await;
    let dike = create_task(
        &tasks,
        &coordinator,
        dike_task(&incident, "Deich Ahrtor", Priority::Critical),
    )
    .await;
    let depot = create_task(
        &tasks,
        &coordinator,
        dike_task(&incident, "Sandsackdepot", Priority::Low),
    )
    .await;

    // Matching learns of the tasks from their events; only once it knows them does a
    // registration cause an offer in the registration's own trace (otherwise the task's event
    // would make it).
    for task in [&dike, &depot] {
        eventually(WAIT, "matching knows the tasks", || {
            let mut matching = matching.clone();
            let request = authed(
                GetTaskStaffingRequest {
                    task_id: task.task_id.clone(),
                    include_finished: true,
                },
                &coordinator,
            );
            async move { matching.get_task_staffing(request).await.ok().map(|_| ()) }
        })
        .await;
    }

    // Volunteers register on a phone; the first one's app retries on a flaky network, and the
    // phone started a trace that must survive into matching.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let first_request = registration(&key(), 1);
    let mut with_trace = tonic::Request::new(first_request.clone());
    with_trace.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .expect("header"),
    );
    let first = people
        .register(with_trace)
        .await
        .expect("registered")
        .into_inner();
    let retried = people
        .register(first_request)
        .await
        .expect("retry accepted")
        .into_inner();
    assert_eq!(
        retried.volunteer_id, first.volunteer_id,
        "a retry never makes a second volunteer"
    );
    let anna = Volunteer {
        id: first.volunteer_id,
        token: first.access_token,
        phone: "+4915100000001".into(),
    };
    let ben = register(&mut people, 2).await;
    let clara = register(&mut people, 3).await;

    // The critical task is offered first: two people for two places; the third goes to the depot.
    let mut offered_dike = Vec::new();
    let mut offered_depot = Vec::new();
    for volunteer in [&anna, &ben, &clara] {
        let offer = eventually(WAIT, "an offer for every volunteer", || {
            let mut matching = matching.clone();
            async move {
                offers(&mut matching, volunteer, MatchState::Offered)
                    .await
                    .into_iter()
                    .next()
            }
        })
        .await;
        if offer.task_id == dike.task_id {
            offered_dike.push((volunteer, offer));
        } else {
            assert_eq!(offer.task_id, depot.task_id);
            offered_depot.push((volunteer, offer));
        }
    }
    assert_eq!(
        offered_dike.len(),
        2,
        "the critical task gets its two offers first"
    );
    assert_eq!(offered_depot.len(), 1);

    // Every offer reaches the messaging gateway, addressed to the volunteer's phone.
    let mut alerted: HashSet<String> = HashSet::new();
    while alerted.len() < 3 {
        let alert = tokio::time::timeout(WAIT, alerts.recv())
            .await
            .expect("an alert within 30 s")
            .expect("receiver open");
        assert_eq!(alert["channel"], "ALERT_CHANNEL_SIGNAL", "{alert}");
        alerted.insert(alert["to"].as_str().unwrap_or_default().to_owned());
    }
    for volunteer in [&anna, &ben, &clara] {
        assert!(
            alerted.contains(&volunteer.phone),
            "no alert to {}",
            volunteer.phone
        );
    }

    // One accepts the dike, the other declines it: the place is offered again to a newcomer.
    let (accepting, accepted_offer) = &offered_dike[0];
    let (declining, declined_offer) = &offered_dike[1];
    matching
        .respond_to_offer(authed(
            RespondToOfferRequest {
                match_id: accepted_offer.match_id.clone(),
                decision: OfferDecision::Accept.into(),
                decline_reason: DeclineReason::Unspecified.into(),
            },
            &accepting.token,
        ))
        .await
        .expect("accepted");
    matching
        .respond_to_offer(authed(
            RespondToOfferRequest {
                match_id: declined_offer.match_id.clone(),
                decision: OfferDecision::Decline.into(),
                decline_reason: DeclineReason::NotAvailable.into(),
            },
            &declining.token,
        ))
        .await
        .expect("declined");
    let dora = register(&mut people, 4).await;
    wait_for_offer(&mut matching, &dora, &dike.task_id).await;

    // Answering someone else's offer is refused.
    let status = matching
        .respond_to_offer(authed(
            RespondToOfferRequest {
                match_id: accepted_offer.match_id.clone(),
                decision: OfferDecision::Decline.into(),
                decline_reason: DeclineReason::Unspecified.into(),
            },
            &dora.token,
        ))
        .await
        .expect_err("not dora's offer");
    assert!(
        matches!(
            status.code(),
            tonic::Code::PermissionDenied | tonic::Code::NotFound
        ),
        "{status:?}"
    );

    // The dike is cancelled: its volunteers are freed and offered the depot, which has room.
    tasks
        .cancel_task(authed(
            CancelTaskRequest {
                task_id: dike.task_id.clone(),
                reason: "Deich hält".into(),
            },
            &coordinator,
        ))
        .await
        .expect("cancelled");
    let freed = [*accepting, &dora];
    let moved = eventually(WAIT, "a freed volunteer offered the depot", || {
        let matching = matching.clone();
        let depot_id = depot.task_id.clone();
        async move {
            for volunteer in freed {
                let mut matching = matching.clone();
                if offers(&mut matching, volunteer, MatchState::Offered)
                    .await
                    .iter()
                    .any(|o| o.task_id == depot_id)
                {
                    return Some(volunteer.id.clone());
                }
            }
            None
        }
    })
    .await;
    assert!(freed.iter().any(|v| v.id == moved));

    // The depot volunteer from the start erases themself: gone everywhere, and replaced.
    let (leaver, _) = &offered_depot[0];
    people
        .erase_me(authed(EraseMeRequest { confirm: true }, &leaver.token))
        .await
        .expect("erased");
    let status = people
        .get_my_profile(authed(GetMyProfileRequest::default(), &leaver.token))
        .await
        .expect_err("no profile after erasure");
    assert!(
        matches!(
            status.code(),
            tonic::Code::NotFound | tonic::Code::Unauthenticated | tonic::Code::PermissionDenied
        ),
        "{status:?}"
    );
    // Matching refuses the erased volunteer's token, still unexpired, once the erasure event
    // has arrived.
    eventually(
        WAIT,
        "matching refusing the erased volunteer's token",
        || {
            let mut matching = matching.clone();
            let token = leaver.token.clone();
            async move {
                let answer = matching
                    .list_my_offers(authed(ListMyOffersRequest::default(), &token))
                    .await;
                matches!(answer, Err(s) if s.code() == tonic::Code::Unauthenticated).then_some(())
            }
        },
    )
    .await;
    // Whoever is free and nearest takes the place: the other freed volunteer, or the one who
    // declined the dike earlier (they never declined the depot).
    let mut remaining: Vec<&Volunteer> = freed.iter().copied().filter(|v| v.id != moved).collect();
    remaining.push(*declining);
    eventually(WAIT, "the erased volunteer replaced on the depot", || {
        let matching = matching.clone();
        let depot_id = depot.task_id.clone();
        let remaining = remaining.clone();
        async move {
            for volunteer in remaining {
                let mut matching = matching.clone();
                if offers(&mut matching, volunteer, MatchState::Offered)
                    .await
                    .iter()
                    .any(|o| o.task_id == depot_id)
                {
                    return Some(());
                }
            }
            None
        }
    })
    .await;

    // The dashboard polls with its cursor: every change exactly once, in order, no personal data.
    let mut seen: Vec<MatchChange> = Vec::new();
    let mut cursor = 0;
    for _ in 0..50 {
        let page = matching
            .list_match_changes(authed(
                ListMatchChangesRequest {
                    incident_id: incident.clone(),
                    after_sequence: cursor,
                    limit: 3,
                },
                &dashboard,
            ))
            .await
            .expect("dashboard poll")
            .into_inner();
        seen.extend(page.changes);
        cursor = page.next_after_sequence;
        if !page.has_more {
            break;
        }
    }
    let sequences: Vec<u64> = seen.iter().map(|c| c.sequence).collect();
    assert!(
        sequences.windows(2).all(|w| w[0] < w[1]),
        "in order, no repeats: {sequences:?}"
    );
    let states: HashSet<MatchState> = seen.iter().map(MatchChange::state).collect();
    for state in [
        MatchState::Offered,
        MatchState::Accepted,
        MatchState::Declined,
        MatchState::Cancelled,
    ] {
        assert!(
            states.contains(&state),
            "the dashboard never saw {state:?}: {states:?}"
        );
    }
    let personal: Vec<String> = [&anna, &ben, &clara, &dora]
        .iter()
        .flat_map(|v| [v.id.clone(), v.phone.clone()])
        .collect();
    let feed = format!("{seen:?}");
    for secret in &personal {
        assert!(
            !feed.contains(secret.as_str()),
            "the dashboard feed leaks {secret}"
        );
    }
    assert!(!feed.contains("Marker Helferin"));

    // The phone's trace reaches the match events that its registration caused.
    let mut records: Vec<Record> = Vec::new();
    let traced = eventually(WAIT, "a match event carrying the phone's trace id", || {
        while let Ok(record) = match_events.try_recv() {
            records.push(record);
        }
        let found = records.iter().any(|(headers, envelope)| {
            let offered = matches!(
                envelope.as_ref().and_then(|e| e.payload.as_ref()),
                Some(Payload::MatchOffered(_))
            );
            offered
                && headers
                    .iter()
                    .any(|(k, v)| k == "traceparent" && v.contains(trace_id))
        });
        std::future::ready(found.then_some(()))
    })
    .await;
    let _: () = traced;
    let by_type: HashMap<String, usize> =
        records
            .iter()
            .fold(HashMap::new(), |mut counts, (_, envelope)| {
                if let Some(e) = envelope {
                    *counts.entry(e.event_type.clone()).or_default() += 1;
                }
                counts
            });
    assert!(
        by_type.contains_key("spontan.v1.MatchAccepted"),
        "{by_type:?}"
    );

    stop.cancel();
    suite.stop().await.expect("stops cleanly");
}
