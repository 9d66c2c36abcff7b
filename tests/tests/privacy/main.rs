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

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use spontan_e2e::{Suite, authorized, channel, eventually, webhook_receiver};
use spontan_platform::auth::Role;
use spontan_platform::config::KafkaConfig;
use spontan_platform::events::timestamp;
use spontan_platform::testkit::{self, TestBroker};
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;

const ORG: &str = "thw-ov-privacy";
const WAIT: Duration = Duration::from_secs(60);

/// Personal values of one volunteer, each unlike anything else the suite writes.
struct Markers {
    name: &'static str,
    phone: &'static str,
    email: &'static str,
    signal: &'static str,
    whatsapp: &'static str,
    telegram: &'static str,
    push: &'static str,
    /// Exact home location; events carry it rounded to 3 decimals.
    latitude: f64,
    longitude: f64,
    /// A name the volunteer changes to later.
    new_name: &'static str,
}

const KEEPS: Markers = Markers {
    name: "Quorvina Zeltmarker",
    phone: "+4915177720413",
    email: "quorvina.zeltmarker@example.org",
    signal: "+4915177720414",
    whatsapp: "+4915177720415",
    telegram: "783201946551",
    push: "pushtok-QZM-5f1e9c",
    latitude: 50.543_183_7,
    longitude: 7.112_946_1,
    new_name: "Quorvina Neumarker",
};

const ERASES: Markers = Markers {
    name: "Xaverio Pflockmarker",
    phone: "+4915166630817",
    email: "xaverio.pflockmarker@example.net",
    signal: "+4915166630818",
    whatsapp: "+4915166630819",
    telegram: "619204837752",
    push: "pushtok-XPM-8a2d41",
    latitude: 50.546_271_9,
    longitude: 7.114_382_3,
    new_name: "Xaverio Neumarker",
};

impl Markers {
    /// Every marker as the text a leak would contain.
    fn texts(&self) -> Vec<String> {
        vec![
            self.name.into(),
            self.phone.into(),
            self.email.into(),
            self.signal.into(),
            self.whatsapp.into(),
            self.telegram.into(),
            self.push.into(),
            self.latitude.to_string(),
            self.longitude.to_string(),
            self.new_name.into(),
        ]
    }

    fn request(&self) -> RegisterRequest {
        let now = chrono::Utc::now();
        RegisterRequest {
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            consent: Some(Consent {
                given: true,
                text_version: "2025-06-de".into(),
            }),
            contact: Some(Contact {
                display_name: self.name.into(),
                phone_e164: self.phone.into(),
                email: self.email.into(),
            }),
            preferred_alert_channel: AlertChannel::Signal.into(),
            channel_addresses: Some(ChannelAddresses {
                signal_phone_e164: self.signal.into(),
                whatsapp_phone_e164: self.whatsapp.into(),
                telegram_chat_id: self.telegram.into(),
                push_token: self.push.into(),
            }),
            skill_ids: vec!["sandbag_filling".into()],
            languages: vec!["de".into()],
            birth_year: 1988,
            home_location: Some(GeoPoint {
                latitude: self.latitude,
                longitude: self.longitude,
            }),
            travel_radius_km: 30.0,
            availability: vec![TimeWindow {
                start_time: Some(timestamp(now)),
                end_time: Some(timestamp(now + chrono::Duration::hours(12))),
            }],
        }
    }
}

/// The markers found in `haystack`.
fn found(haystack: &[u8], markers: &[String]) -> Vec<String> {
    markers
        .iter()
        .filter(|m| haystack.windows(m.len()).any(|w| w == m.as_bytes()))
        .cloned()
        .collect()
}

/// One record as read from the broker.
struct RawRecord {
    key: Vec<u8>,
    /// Key, header names and values, and value bytes, one after the other.
    blob: Vec<u8>,
    tombstone: bool,
}

/// Every record of `topic` from the beginning.
fn raw_topic(
    kafka: &KafkaConfig,
    topic: &str,
    stop: CancellationToken,
) -> tokio::sync::mpsc::UnboundedReceiver<RawRecord> {
    let consumer: StreamConsumer = spontan_platform::kafka::client_config(kafka)
        .set("group.id", format!("privacy-scan-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                message = consumer.recv() => {
                    let Ok(m) = message else { continue };
                    let mut blob = m.key().unwrap_or_default().to_vec();
                    if let Some(headers) = m.headers() {
                        for h in headers.iter() {
                            blob.extend_from_slice(h.key.as_bytes());
                            blob.extend_from_slice(h.value.unwrap_or_default());
                        }
                    }
                    blob.extend_from_slice(m.payload().unwrap_or_default());
                    let record = RawRecord {
                        key: m.key().unwrap_or_default().to_vec(),
                        blob,
                        tombstone: m.payload().is_none(),
                    };
                    if tx.send(record).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// `(table.column, markers found)` for every column of every table in `database` holding a
/// marker: text-like columns compared as text, bytea as bytes.
async fn scan_database(url: &str, markers: &[String]) -> (usize, Vec<(String, String)>) {
    let pool = sqlx::PgPool::connect(url).await.expect("database");
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text \
         FROM information_schema.columns c JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
         ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .expect("columns");
    let mut hits = Vec::new();
    for (table, column, data_type) in &columns {
        let condition = if data_type == "bytea" {
            format!("position(convert_to($1, 'UTF8') in \"{column}\") > 0")
        } else {
            format!("position($1 in \"{column}\"::text) > 0")
        };
        for marker in markers {
            let count: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM \"{table}\" WHERE {condition}"
            ))
            .bind(marker)
            .fetch_one(&pool)
            .await
            .expect("scan");
            if count > 0 {
                hits.push((format!("{table}.{column}"), marker.clone()));
            }
        }
    }
    pool.close().await;
    (columns.len(), hits)
}

struct Registered {
    id: String,
    token: String,
}

async fn export(
    client: &mut RegistrationServiceClient<tonic::transport::Channel>,
    token: &str,
) -> String {
    client
        .export_my_data(authorized(ExportMyDataRequest {}, token))
        .await
        .expect("export")
        .into_inner()
        .json
}

#[tokio::test]
async fn no_personal_field_reaches_logs_traces_events_or_other_databases() {
    let captured = testkit::capture_logs().expect("the capture is the first subscriber");
    let (webhook, mut alerts) = webhook_receiver().await.expect("webhook receiver");
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
    for (name, service) in suite.services() {
        spontan_e2e::wait_for_health(
            service.grpc,
            name,
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            WAIT,
        )
        .await
        .expect("serving");
    }
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
    let mut tasks = TaskServiceClient::new(channel(suite.task.grpc).await.expect("task"));
    let mut people =
        RegistrationServiceClient::new(channel(suite.registration.grpc).await.expect("reg"));
    let mut matching =
        MatchingServiceClient::new(channel(suite.matching.grpc).await.expect("matching"));

    let centre = GeoPoint {
        latitude: 50.5427,
        longitude: 7.1125,
    };
    let incident = tasks
        .create_incident(authorized(
            CreateIncidentRequest {
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                organisation_id: ORG.into(),
                name: "Hochwasser Datenschutz".into(),
                description: String::new(),
                region_centre: Some(centre),
                region_radius_km: 25.0,
            },
            &coordinator,
        ))
        .await
        .expect("incident")
        .into_inner()
        .incident
        .expect("an incident");
    let now = chrono::Utc::now();
    tasks
        .create_task(authorized(
            CreateTaskRequest {
                idempotency_key: uuid::Uuid::new_v4().to_string(),
                incident_id: incident.incident_id.clone(),
                title: "Deich Datenschutz".into(),
                description: "Sandsäcke".into(),
                meeting_point: Some(centre),
                address: "Ahrtor, Ahrweiler".into(),
                required_skill_ids: vec!["sandbag_filling".into()],
                preferred_skill_ids: vec![],
                min_age: 16,
                headcount: 2,
                window: Some(TimeWindow {
                    start_time: Some(timestamp(now + chrono::Duration::hours(1))),
                    end_time: Some(timestamp(now + chrono::Duration::hours(4))),
                }),
                priority: Priority::High.into(),
                max_distance_km: 30.0,
                safety_notes: String::new(),
            },
            &coordinator,
        ))
        .await
        .expect("task");

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
        let offer = eventually(WAIT, "an offer", || {
            let mut matching = matching.clone();
            let token = volunteer.token.clone();
            async move {
                matching
                    .list_my_offers(authorized(
                        ListMyOffersRequest {
                            include_finished: false,
                        },
                        &token,
                    ))
                    .await
                    .ok()?
                    .into_inner()
                    .offers
                    .into_iter()
                    .find(|o| o.state() == MatchState::Offered)
            }
        })
        .await;
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
            .respond_to_offer(authorized(
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
        let request = authorized(
            GetVolunteerContactRequest {
                match_id: offers[0].match_id.clone(),
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
            .update_my_profile(authorized(
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
        .erase_me(authorized(EraseMeRequest { confirm: true }, &erases.token))
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
