//! Two replicas of every service, racing on the same keys and places.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use spontan_e2e::{Service, Suite, authed, channel, eventually, read_topic, wait_for_health};
use spontan_platform::auth::Role;
use spontan_platform::testkit::TestBroker;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use uuid::Uuid;

use super::{
    ORG, WAIT, count, generous_limits, open_incident, outbox_drained, outbox_event_ids, read_until,
    registration, registration_client, serving, task_request,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_of_every_service_register_book_and_publish_once() {
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let suite = Suite::start_with(broker, generous_limits)
        .await
        .expect("suite");
    let replicas = [
        suite.replica(Service::Registration).await.expect("replica"),
        suite.replica(Service::Task).await.expect("replica"),
        suite.replica(Service::Matching).await.expect("replica"),
    ];
    serving(&suite).await;
    let names = [
        "spontan.v1.RegistrationService",
        "spontan.v1.TaskService",
        "spontan.v1.MatchingService",
    ];
    for (name, replica) in names.iter().zip(&replicas) {
        wait_for_health(replica.grpc, name, ServingStatus::Serving, WAIT)
            .await
            .expect("replica serving");
    }
    let registrations = suite
        .database(Service::Registration)
        .await
        .expect("registration db");
    let matching_db = suite
        .database(Service::Matching)
        .await
        .expect("matching db");
    let task_db = suite.database(Service::Task).await.expect("task db");
    let people = [
        registration_client(&suite).await,
        RegistrationServiceClient::new(channel(replicas[0].grpc).await.expect("channel")),
    ];
    let tasks = [
        TaskServiceClient::new(channel(suite.task.grpc).await.expect("channel")),
        TaskServiceClient::new(channel(replicas[1].grpc).await.expect("channel")),
    ];
    let matching = [
        MatchingServiceClient::new(channel(suite.matching.grpc).await.expect("channel")),
        MatchingServiceClient::new(channel(replicas[2].grpc).await.expect("channel")),
    ];

    // One idempotency key sent to both registration replicas at once: one volunteer.
    let races = 20u32;
    let mut volunteers: Vec<(String, String)> = Vec::new();
    for n in 0..races {
        let request = registration(n);
        let (mut a, mut b) = (people[0].clone(), people[1].clone());
        let (first, second) = tokio::join!(a.register(request.clone()), b.register(request));
        let (first, second) = (
            first.expect("replica A answered").into_inner(),
            second.expect("replica B answered").into_inner(),
        );
        assert_eq!(
            first.volunteer_id, second.volunteer_id,
            "one volunteer per key"
        );
        volunteers.push((first.volunteer_id, first.access_token));
    }
    for n in races..races + 10 {
        let mut client = people[(n % 2) as usize].clone();
        let r = client
            .register(registration(n))
            .await
            .expect("registered")
            .into_inner();
        volunteers.push((r.volunteer_id, r.access_token));
    }
    let people_count = volunteers.len() as i64;
    assert_eq!(
        count(&registrations, "SELECT count(*) FROM volunteers").await,
        people_count,
        "no double registration"
    );

    // Twelve tasks of three at the same time for thirty people, created on both replicas (one
    // of them twice with one key, at once): more places than people, so they compete.
    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-1", Some(ORG));
    let incident = open_incident(&tasks[0], &coordinator).await;
    // The last two are one request sent twice (the same key and body) to both replicas.
    let twice = task_request(&incident, 11, Uuid::new_v4().to_string());
    let created = futures::future::join_all((0..13u32).map(|n| {
        let mut client = tasks[(n % 2) as usize].clone();
        let body = if n >= 11 {
            twice.clone()
        } else {
            task_request(&incident, n, Uuid::new_v4().to_string())
        };
        let request = authed(body, &coordinator);
        async move { client.create_task(request).await }
    }))
    .await;
    let task_ids: Vec<String> = created
        .into_iter()
        .map(|r| {
            r.expect("task created")
                .into_inner()
                .task
                .expect("task")
                .task_id
        })
        .collect();
    let distinct_tasks: HashSet<&String> = task_ids.iter().collect();
    assert_eq!(distinct_tasks.len(), 12, "one task per idempotency key");
    assert_eq!(count(&task_db, "SELECT count(*) FROM tasks").await, 12);

    // Every volunteer gets exactly one offer (the windows overlap), and accepts it on both
    // matching replicas at once.
    eventually(
        Duration::from_secs(120),
        "an offer for every volunteer",
        || async {
            (count(
                &matching_db,
                "SELECT count(DISTINCT volunteer_id) FROM matches WHERE state = 'offered'",
            )
            .await
                == people_count)
                .then_some(())
        },
    )
    .await;
    let mut accept_answers: HashMap<String, u32> = HashMap::new();
    for (id, token) in &volunteers {
        let mut client = matching[0].clone();
        let offers = client
            .list_my_offers(authed(ListMyOffersRequest::default(), token))
            .await
            .expect("offers")
            .into_inner()
            .offers;
        let offered: Vec<&Offer> = offers
            .iter()
            .filter(|o| o.state() == MatchState::Offered)
            .collect();
        assert_eq!(offered.len(), 1, "volunteer {id} holds one offer");
        let accept = |mut client: MatchingServiceClient<Channel>| {
            let request = authed(
                RespondToOfferRequest {
                    match_id: offered[0].match_id.clone(),
                    decision: OfferDecision::Accept.into(),
                    decline_reason: 0,
                },
                token,
            );
            async move { client.respond_to_offer(request).await }
        };
        let (a, b) = tokio::join!(accept(matching[0].clone()), accept(matching[1].clone()));
        for result in [a, b] {
            let label = match result {
                Ok(_) => "ok".to_owned(),
                Err(status) => format!("{:?}", status.code()),
            };
            *accept_answers.entry(label).or_default() += 1;
        }
    }
    assert!(
        accept_answers.get("ok").copied().unwrap_or(0) >= volunteers.len() as u32,
        "every acceptance went through once: {accept_answers:?}"
    );

    let overlapping = count(
        &matching_db,
        "SELECT count(*) FROM matches a JOIN matches b ON a.volunteer_id = b.volunteer_id \
         AND a.id < b.id AND a.slot && b.slot \
         WHERE a.state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         AND b.state IN ('proposed', 'offered', 'accepted', 'checked_in')",
    )
    .await;
    let overfilled = count(
        &matching_db,
        "SELECT count(*) FROM (SELECT m.task_id FROM matches m JOIN tasks t ON t.id = m.task_id \
         WHERE m.state IN ('proposed', 'offered', 'accepted', 'checked_in') \
         GROUP BY m.task_id, t.headcount HAVING count(*) > t.headcount) o",
    )
    .await;
    let repeated_pairs = count(
        &matching_db,
        "SELECT count(*) FROM (SELECT 1 FROM matches GROUP BY task_id, volunteer_id \
         HAVING count(*) > 1) r",
    )
    .await;
    let accepted = count(
        &matching_db,
        "SELECT count(*) FROM matches WHERE state = 'accepted'",
    )
    .await;
    assert_eq!(overlapping, 0, "a volunteer double-booked");
    assert_eq!(overfilled, 0, "a task over-filled");
    assert_eq!(repeated_pairs, 0, "a volunteer offered one task twice");
    assert_eq!(accepted, people_count, "every volunteer accepted once");

    // Two relays per database: each event on its topic once.
    outbox_drained(&registrations, "registration's outbox").await;
    outbox_drained(&matching_db, "matching's outbox").await;
    outbox_drained(&task_db, "task's outbox").await;
    let mut published = Vec::new();
    for (pool, topic) in [
        (&registrations, &suite.kafka.topics.volunteer),
        (&matching_db, &suite.kafka.topics.matching),
        (&task_db, &suite.kafka.topics.task),
    ] {
        let expected = outbox_event_ids(pool, topic).await;
        let stop = CancellationToken::new();
        let mut rx = read_topic(&suite.kafka, topic, stop.clone()).expect("topic");
        let mut seen = HashMap::new();
        read_until(&mut rx, &expected, &mut seen).await;
        stop.cancel();
        let twice: Vec<&String> = seen
            .iter()
            .filter(|(_, (n, _))| *n > 1)
            .map(|(id, _)| id)
            .collect();
        assert!(twice.is_empty(), "published twice on {topic}: {twice:?}");
        assert_eq!(seen.len(), expected.len(), "only outbox events on {topic}");
        published.push(seen.len());
    }
    // The staffing consumers of both task replicas share the match topic: each event once.
    let match_events = published[1] as i64;
    eventually(WAIT, "task staffing to apply every match event", || async {
        (count(
            &task_db,
            "SELECT count(*) FROM processed_events WHERE consumer = 'task-staffing'",
        )
        .await
            == match_events)
            .then_some(())
    })
    .await;

    println!(
        "two replicas: {races} keys raced on both registration replicas, volunteers stored \
         {people_count}; 13 task requests (2 with one key) -> 12 tasks; accepts {accept_answers:?}; \
         accepted {accepted}, overlapping 0, over-filled 0; events published once each: \
         volunteer {}, match {}, task {}; staffing applied {match_events}",
        published[0], published[1], published[2]
    );
    suite.shutdown.cancel();
    for replica in replicas {
        tokio::time::timeout(Duration::from_secs(30), replica.task)
            .await
            .expect("replica stopped in time")
            .expect("replica task")
            .expect("replica ran");
    }
    suite.stop().await.expect("stopped");
}
