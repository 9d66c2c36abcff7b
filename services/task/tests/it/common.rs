//! Spawns the real task service (port 0, fresh database, real broker) and offers tokens,
//! requests, a producer into the match topic and a consumer of the task topic. The helpers every
//! test crate shares (`authed`, `violated_fields`) come from `spontan_platform::testkit`.

use std::time::Duration;

use chrono::Utc;
use prost::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use spontan_platform::auth::{Role, TokenIssuer};
use spontan_platform::events::{envelope, timestamp};
use spontan_platform::testkit::{self, TestBroker};
pub use spontan_platform::testkit::{authed, violated_fields};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::*;
use spontan_task::{Application, Config};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

pub const ORG: &str = "thw-ov-bonn";
pub const OTHER_ORG: &str = "drk-koeln";

/// One running task service and what a test needs around it.
pub struct TestApp {
    pub client: TaskServiceClient<Channel>,
    pub config: Config,
    issuer: TokenIssuer,
    shutdown: CancellationToken,
    service: Option<JoinHandle<anyhow::Result<()>>>,
    readers: Vec<JoinHandle<()>>,
    // Dropped last: the broker outlives the service.
    _broker: TestBroker,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// Stops the service and the test's consumers while the broker is still up, so that they
    /// commit and leave their groups at once (a consumer closing against a dead broker can
    /// block the runtime's shutdown for a long time).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(service) = self.service.take() {
            let stopped = tokio::time::timeout(Duration::from_secs(30), service).await;
            assert!(
                matches!(stopped, Ok(Ok(Ok(())))),
                "service stopped cleanly: {stopped:?}"
            );
        }
        for reader in self.readers.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(30), reader).await;
        }
    }

    pub async fn spawn() -> anyhow::Result<Self> {
        testkit::init_logging();
        let broker = TestBroker::shared_or_start().await?;
        let db = testkit::fresh_database().await?;
        let config = Config {
            platform: testkit::platform_config("task", &db, broker.brokers()),
        };
        let shutdown = CancellationToken::new();
        let app = Application::build(config.clone(), shutdown.clone()).await?;
        let address = app.platform().grpc_addr();
        let service = Some(tokio::spawn(app.run()));
        let channel = Channel::from_shared(format!("http://{address}"))?
            .connect()
            .await?;
        testkit::wait_for_health(
            address,
            "spontan.v1.TaskService",
            ServingStatus::Serving,
            Duration::from_secs(60),
        )
        .await?;
        let issuer = TokenIssuer::from_config(&config.platform.auth)?;
        Ok(Self {
            client: TaskServiceClient::new(channel),
            config,
            issuer,
            shutdown,
            service,
            readers: Vec::new(),
            _broker: broker,
        })
    }

    pub fn token(&self, subject: &str, role: Role, organisation: Option<&str>) -> String {
        self.issuer
            .issue(subject, role, organisation, Duration::from_secs(600))
            .expect("token")
    }

    /// A coordinator of [`ORG`].
    pub fn coordinator(&self) -> String {
        self.token("coordinator-1", Role::Coordinator, Some(ORG))
    }

    /// Opens an incident of [`ORG`] and returns its id.
    pub async fn incident(&self) -> String {
        let response = self
            .client
            .clone()
            .create_incident(authed(incident_request(ORG), &self.coordinator()))
            .await
            .expect("incident created");
        response
            .into_inner()
            .incident
            .expect("incident")
            .incident_id
    }

    /// Creates a task in `incident_id` and returns it.
    pub async fn task(&self, incident_id: &str, headcount: u32) -> Task {
        let mut request = task_request(incident_id);
        request.headcount = headcount;
        self.client
            .clone()
            .create_task(authed(request, &self.coordinator()))
            .await
            .expect("task created")
            .into_inner()
            .task
            .expect("task")
    }

    pub async fn get_task(&self, task_id: &str) -> Task {
        self.client
            .clone()
            .get_task(authed(
                GetTaskRequest {
                    task_id: task_id.into(),
                },
                &self.coordinator(),
            ))
            .await
            .expect("task read")
            .into_inner()
            .task
            .expect("task")
    }

    /// Reads the task topic from the beginning, in a group of its own.
    pub fn task_events(&mut self) -> mpsc::UnboundedReceiver<Seen> {
        let kafka = &self.config.platform.kafka;
        let (rx, reader) =
            testkit::read_events(kafka, &kafka.topics.task, self.shutdown.clone(), |event| {
                Some((event.envelope.clone()?, event.key.clone()))
            })
            .expect("consumer");
        self.readers.push(reader);
        rx
    }

    pub fn match_producer(&self) -> FutureProducer {
        spontan_platform::kafka::producer(&self.config.platform.kafka).expect("producer")
    }
}

pub fn incident_request(organisation: &str) -> CreateIncidentRequest {
    CreateIncidentRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        organisation_id: organisation.into(),
        name: "Hochwasser Ahr".into(),
        description: "Pegel über 7 m, Keller in der Altstadt geflutet".into(),
        region_centre: Some(GeoPoint {
            latitude: 50.5446,
            longitude: 7.1127,
        }),
        region_radius_km: 25.0,
    }
}

pub fn task_request(incident_id: &str) -> CreateTaskRequest {
    let now = Utc::now();
    CreateTaskRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        incident_id: incident_id.into(),
        title: "Sandsäcke füllen am Marktplatz".into(),
        description: "Sandsäcke füllen und zum Deich tragen".into(),
        meeting_point: Some(GeoPoint {
            latitude: 50.5431,
            longitude: 7.1123,
        }),
        address: "Marktplatz 1, 53474 Ahrweiler, Feuerwehrhaus".into(),
        required_skill_ids: vec!["sandbag_filling".into()],
        preferred_skill_ids: vec!["heavy_lifting".into()],
        min_age: 18,
        headcount: 2,
        window: Some(TimeWindow {
            start_time: Some(timestamp(now + chrono::Duration::hours(1))),
            end_time: Some(timestamp(now + chrono::Duration::hours(5))),
        }),
        priority: Priority::High as i32,
        max_distance_km: 30.0,
        safety_notes: "Gummistiefel und Handschuhe".into(),
        required_languages: vec!["DE".into()],
        preferred_languages: vec![],
    }
}

/// What the test consumer saw of one record: the envelope and the record key.
pub type Seen = (EventEnvelope, Option<String>);

/// Receives until `done` holds for what was received, or `within` passes.
pub async fn receive_until(
    rx: &mut mpsc::UnboundedReceiver<Seen>,
    within: Duration,
    done: impl Fn(&[Seen]) -> bool,
) -> Vec<Seen> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) => seen.push(item),
            _ => break,
        }
    }
    seen
}

/// Publishes one match event into the match topic, keyed by task id as matching does.
pub async fn publish_match(
    producer: &FutureProducer,
    topic: &str,
    match_id: &str,
    task_id: &str,
    version: u64,
    state: MatchState,
) -> EventEnvelope {
    let snapshot = Some(MatchSnapshot {
        match_id: match_id.into(),
        task_id: task_id.into(),
        state: state as i32,
        ..Default::default()
    });
    let payload = match state {
        MatchState::Offered => Payload::MatchOffered(MatchOffered {
            snapshot,
            ..Default::default()
        }),
        MatchState::Accepted => Payload::MatchAccepted(MatchAccepted { snapshot }),
        MatchState::Declined => Payload::MatchDeclined(MatchDeclined {
            snapshot,
            ..Default::default()
        }),
        MatchState::CheckedIn => Payload::MatchCheckedIn(MatchCheckedIn { snapshot }),
        other => panic!("no payload for {other:?} in this test"),
    };
    let event = envelope(match_id, version, payload);
    republish(producer, topic, task_id, &event).await;
    event
}

/// Sends `event` (again) to the match topic.
pub async fn republish(
    producer: &FutureProducer,
    topic: &str,
    task_id: &str,
    event: &EventEnvelope,
) {
    let bytes = event.encode_to_vec();
    producer
        .send(
            FutureRecord::to(topic).key(task_id).payload(&bytes),
            Duration::from_secs(10),
        )
        .await
        .map_err(|(e, _)| e)
        .expect("match event published");
}

/// Polls GetTask until `done` holds, or fails after 30 s.
pub async fn wait_for_task(app: &TestApp, task_id: &str, done: impl Fn(&Task) -> bool) -> Task {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let task = app.get_task(task_id).await;
        if done(&task) {
            return task;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "task never reached the expected state: {task:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
