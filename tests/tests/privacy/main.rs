//! No personal field reaches logs, traces, events or the other services' databases.
//!
//! Two volunteers register with a distinctive marker in every personal field (name, phone,
//! e-mail, Signal and WhatsApp numbers, Telegram chat id, push token, the exact home
//! location). The whole flow runs over real gRPC, PostgreSQL and the broker: an incident and
//! a task, the offer (sent to a real webhook receiver), acceptance, the coordinator reading
//! the contact of the match, a profile change, the export and an erasure. Then everything
//! the suite wrote is scanned for the markers:
//!
//! - every log event and every span with all its fields, captured at TRACE for all crates;
//! - every record on every topic: key, value bytes and headers;
//! - every column of every table in the registration, task and matching databases (text as
//!   text, bytea as bytes): registration keeps contact data only sealed.
//!
//! None may be found. As controls that make the scan able to fail, the same scanner finds
//! every marker in the volunteers' own exports, the capture holds the volunteers' ids, and
//! the topics carry their events.
//!
//! `scan.rs` holds the markers and the scanners of topics and databases.

mod scan;

use std::collections::HashMap;
use std::time::Duration;

use spontan_e2e::{
    Clients, Suite, authed, create_incident, create_task, eventually, incident_request, near,
    open_offer, task_request,
};
use spontan_platform::auth::Role;
use spontan_platform::testkit::gateway::Gateway;
use spontan_platform::testkit::{self, TestBroker};
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;

use scan::{ERASES, KEEPS, RawRecord, found, raw_topic, scan_database};

const ORG: &str = "thw-ov-privacy";
const WAIT: Duration = Duration::from_secs(60);

struct Registered {
    id: String,
    token: String,
}

async fn export(
    client: &mut RegistrationServiceClient<tonic::transport::Channel>,
    token: &str,
) -> String {
    client
        .export_my_data(authed(ExportMyDataRequest {}, token))
        .await
        .expect("export")
        .into_inner()
        .json
}

#[tokio::test]
async fn no_personal_field_reaches_logs_traces_events_or_other_databases() {
    let captured = testkit::capture_logs().expect("the capture is the first subscriber");
    let Gateway {
        url: webhook,
        messages: mut alerts,
        ..
    } = Gateway::start().await.expect("messaging gateway");
    let broker = TestBroker::shared_or_start().await.expect("broker");
    let mut databases = HashMap::new();
    let suite = Suite::start_with(broker, |config| {
        config.registration.alerts.webhook_url = webhook.clone();
        for (name, platform) in [
            ("registration", &config.registration.platform),
            ("task", &config.task.platform),
            ("matching", &config.matching.platform),
        ] {
            databases.insert(name, platform.database.url.expose().to_owned());
        }
    })
    .await
    .expect("suite");
    suite.serving(WAIT).await.expect("serving");
    let stop = CancellationToken::new();
    let topics = [
        suite.kafka.topics.volunteer.clone(),
        suite.kafka.topics.task.clone(),
        suite.kafka.topics.matching.clone(),
    ];
    let mut readers: Vec<_> = topics
        .iter()
        .map(|t| raw_topic(&suite.kafka, t, stop.clone()))
        .collect();

    let coordinator = suite.token(Role::Coordinator, "einsatzleiter-privacy", Some(ORG));
    let Clients {
        registration: mut people,
        tasks,
        mut matching,
    } = suite.clients().await.expect("clients");

    let incident = create_incident(
        &tasks,
        &coordinator,
        CreateIncidentRequest {
            name: "Hochwasser Datenschutz".into(),
            ..incident_request(ORG)
        },
    )
    .await;
    create_task(
        &tasks,
        &coordinator,
        CreateTaskRequest {
            description: "Sandsäcke".into(),
            meeting_point: Some(near(0.0, 0.0)),
            headcount: 2,
            ..task_request(&incident, "Deich Datenschutz")
        },
    )
    .await;

    let mut registered = Vec::new();
    for markers in [&KEEPS, &ERASES] {
        let r = people
            .register(markers.request())
            .await
            .expect("registered")
            .into_inner();
        registered.push(Registered {
            id: r.volunteer_id,
            token: r.access_token,
        });
    }
    let (keeps, erases) = (&registered[0], &registered[1]);

    // Both are offered the task; the offers reach the gateway at their Signal numbers.
    let mut offers = Vec::new();
    for volunteer in &registered {
        let offer = open_offer(&matching, &volunteer.token, WAIT).await;
        offers.push(offer);
    }
    let mut alerted = Vec::new();
    while alerted.len() < 2 {
        let alert = tokio::time::timeout(WAIT, alerts.recv())
            .await
            .expect("an alert")
            .expect("receiver open");
        alerted.push(alert["to"].as_str().unwrap_or_default().to_owned());
    }
    alerted.sort();
    let mut expected = vec![KEEPS.signal.to_owned(), ERASES.signal.to_owned()];
    expected.sort();
    assert_eq!(alerted, expected, "offers go to the Signal numbers");

    // Both accept; the coordinator reads the contact of one accepted match.
    for (volunteer, offer) in registered.iter().zip(&offers) {
        matching
            .respond_to_offer(authed(
                RespondToOfferRequest {
                    match_id: offer.match_id.clone(),
                    decision: OfferDecision::Accept.into(),
                    decline_reason: DeclineReason::Unspecified.into(),
                },
                &volunteer.token,
            ))
            .await
            .expect("accepted");
    }
    let contact = eventually(WAIT, "the contact of the accepted match", || {
        let mut people = people.clone();
        let request = authed(
            GetVolunteerContactRequest {
                match_id: offers[0].match_id.clone(),
                ..Default::default()
            },
            &coordinator,
        );
        async move { people.get_volunteer_contact(request).await.ok() }
    })
    .await
    .into_inner()
    .contact
    .expect("contact");
    assert_eq!(contact.display_name, KEEPS.name);

    // Both change their name (a contact-only change).
    for (volunteer, markers) in registered.iter().zip([&KEEPS, &ERASES]) {
        people
            .update_my_profile(authed(
                UpdateMyProfileRequest {
                    profile: Some(VolunteerProfile {
                        contact: Some(Contact {
                            display_name: markers.new_name.into(),
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["contact.display_name".into()],
                    }),
                },
                &volunteer.token,
            ))
            .await
            .expect("renamed");
    }

    // Control: the volunteers' own exports hold every marker, so the scanner finds them.
    for (volunteer, markers) in registered.iter().zip([&KEEPS, &ERASES]) {
        let json = export(&mut people, &volunteer.token).await;
        let mut wanted = markers.texts();
        wanted.retain(|m| m != markers.name); // renamed since
        assert_eq!(
            found(json.as_bytes(), &wanted),
            wanted,
            "the export holds all personal data"
        );
    }

    // One erases themself; wait until the tombstone is on the topic.
    people
        .erase_me(authed(EraseMeRequest { confirm: true }, &erases.token))
        .await
        .expect("erased");

    let markers: Vec<String> = KEEPS.texts().into_iter().chain(ERASES.texts()).collect();

    // Topics: every record until the volunteer topic has the tombstone and the match topic
    // has the accepted matches; nothing may hold a marker.
    let mut records: Vec<Vec<RawRecord>> = readers.iter().map(|_| Vec::new()).collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        for (i, reader) in readers.iter_mut().enumerate() {
            while let Ok(record) = reader.try_recv() {
                records[i].push(record);
            }
        }
        let tombstone = records[0]
            .iter()
            .any(|r| r.tombstone && r.key == erases.id.as_bytes());
        // At least an offer and an acceptance for each of the two.
        let matches = records[2].len() >= 4;
        if tombstone && matches {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "topics incomplete: {} volunteer, {} task, {} match records",
            records[0].len(),
            records[1].len(),
            records[2].len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Let the last outbox rows and consumers settle before the databases are read.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (i, reader) in readers.iter_mut().enumerate() {
        while let Ok(record) = reader.try_recv() {
            records[i].push(record);
        }
    }
    for (topic, records) in topics.iter().zip(&records) {
        for record in records {
            let leaked = found(&record.blob, &markers);
            assert!(leaked.is_empty(), "topic {topic} carries {leaked:?}");
        }
    }
    // Control: the volunteers' ids are on the volunteer topic (the scan read real records).
    for volunteer in &registered {
        assert!(
            records[0].iter().any(|r| r.key == volunteer.id.as_bytes()),
            "no record of volunteer {} read",
            volunteer.id
        );
    }

    // Databases of all three services.
    for (name, url) in &databases {
        let (columns, hits) = scan_database(url, &markers).await;
        assert!(columns > 10, "{name}: only {columns} columns scanned");
        assert!(hits.is_empty(), "{name} database holds {hits:?}");
    }
    // Control: the registration database does hold the kept volunteer (sealed).
    let (_, hits) =
        scan_database(&databases["registration"], std::slice::from_ref(&keeps.id)).await;
    assert!(
        !hits.is_empty(),
        "the kept volunteer's id is not in registration's database"
    );

    // Logs and spans of all three services, at TRACE.
    let logs = captured.text();
    let leaked = found(logs.as_bytes(), &markers);
    assert!(
        leaked.is_empty(),
        "logs or spans carry {leaked:?}; lines: {:#?}",
        logs.lines()
            .filter(|l| !found(l.as_bytes(), &markers).is_empty())
            .take(20)
            .collect::<Vec<_>>()
    );
    // Control: the capture saw the flow (ids in fields, spans of the handlers).
    for volunteer in &registered {
        assert!(
            logs.contains(&volunteer.id),
            "capture lacks {}",
            volunteer.id
        );
    }
    assert!(logs.contains("register"), "capture lacks the register span");

    stop.cancel();
    suite.stop().await.expect("stopped");
}
