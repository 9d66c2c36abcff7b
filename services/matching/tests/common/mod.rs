//! The matching service under test: real PostgreSQL, the real broker, one or more
//! instances of the real application, and a producer that publishes volunteer and task
//! events into the topics the way registration and task would.

#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rdkafka::producer::{FutureProducer, FutureRecord};
use spontan_matching::{Application, Config, MatchingSettings};
use spontan_platform::auth::{Role, TokenIssuer};
use spontan_platform::events::{envelope, timestamp};
use spontan_platform::testkit::{self, TestBroker};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use uuid::Uuid;

/// Where every test's incident happens (Berlin).
pub const CENTRE: (f64, f64) = (52.52, 13.405);
pub const ORG: &str = "thw-berlin";

pub struct Instance {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<anyhow::Result<()>>,
}

pub struct Harness {
    pub broker: TestBroker,
    pub config: Config,
    pub settings: MatchingSettings,
    pub producer: FutureProducer,
    pub issuer: TokenIssuer,
    pub instances: Vec<Option<Instance>>,
    pub pool: sqlx::PgPool,
    /// The window of every task unless a test says otherwise: tomorrow, two hours.
    pub window: (DateTime<Utc>, DateTime<Utc>),
}

/// Settings with short timers for tests.
pub fn fast_settings() -> MatchingSettings {
    MatchingSettings {
        offer_timeout_secs: 3600,
        over_offer_factor: 1.0,
        expiry_interval_ms: 200,
        sweep_interval_secs: 2,
        ..MatchingSettings::default()
    }
}

impl Harness {
    pub async fn start(settings: MatchingSettings) -> anyhow::Result<Self> {
        testkit::init_logging();
        let broker = TestBroker::shared_or_start().await?;
        let db = testkit::fresh_database().await?;
        let config = Config {
            platform: testkit::platform_config("matching", &db, broker.brokers()),
        };
        let producer = spontan_platform::kafka::producer(&config.platform.kafka)?;
        let issuer = TokenIssuer::from_config(&config.platform.auth)?;
        let pool = sqlx::PgPool::connect(&db).await?;
        let start = Utc::now() + chrono::Duration::days(1);
        let mut harness = Self {
            broker,
            config,
            settings,
            producer,
            issuer,
            instances: Vec::new(),
            pool,
            window: (start, start + chrono::Duration::hours(2)),
        };
        harness.spawn_instance().await?;
        Ok(harness)
    }

    /// Starts one more instance on the same database and consumer group.
    pub async fn spawn_instance(&mut self) -> anyhow::Result<usize> {
        let shutdown = CancellationToken::new();
        let app =
            Application::build_with(self.config.clone(), self.settings.clone(), shutdown.clone())
                .await?;
        let addr = app.grpc_addr();
        let handle = tokio::spawn(app.run());
        wait_for_serving(addr).await?;
        self.instances.push(Some(Instance {
            addr,
            shutdown,
            handle,
        }));
        Ok(self.instances.len() - 1)
    }

    /// Stops an instance and waits until it has drained.
    pub async fn stop_instance(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(instance) = self.instances.get_mut(i).and_then(Option::take) {
            instance.shutdown.cancel();
            tokio::time::timeout(Duration::from_secs(30), instance.handle)
                .await
                .context("instance did not stop")???;
        }
        Ok(())
    }

    pub async fn client(&self, i: usize) -> anyhow::Result<MatchingServiceClient<Channel>> {
        let addr = self.instances[i].as_ref().context("instance stopped")?.addr;
        let channel = Channel::from_shared(format!("http://{addr}"))?
            .connect()
            .await?;
        Ok(MatchingServiceClient::new(channel))
    }

    pub fn token(&self, subject: &str, role: Role) -> String {
        let org = matches!(role, Role::Coordinator | Role::Dashboard).then_some(ORG);
        self.issuer
            .issue(subject, role, org, Duration::from_secs(3600))
            .expect("token")
    }

    pub fn volunteer_token(&self, id: Uuid) -> String {
        self.token(&id.to_string(), Role::Volunteer)
    }

    pub fn dashboard_token(&self) -> String {
        self.token("screen-1", Role::Dashboard)
    }

    pub fn coordinator_token(&self) -> String {
        self.token("coordinator-1", Role::Coordinator)
    }

    /// Publishes an envelope (or a tombstone for `None`) with a real producer.
    pub async fn publish(
        &self,
        topic: &str,
        key: &str,
        event: Option<&EventEnvelope>,
    ) -> anyhow::Result<()> {
        let bytes = event.map(prost::Message::encode_to_vec);
        let mut record = FutureRecord::<str, [u8]>::to(topic).key(key);
        if let Some(bytes) = &bytes {
            record = record.payload(bytes.as_slice());
        }
        self.producer
            .send(record, Duration::from_secs(10))
            .await
            .map_err(|(e, _)| e)?;
        Ok(())
    }

    pub async fn open_incident(&self) -> anyhow::Result<Uuid> {
        let id = Uuid::now_v7();
        let event = envelope(
            id.to_string(),
            1,
            Payload::IncidentOpened(IncidentOpened {
                incident_id: id.to_string(),
                organisation_id: ORG.into(),
                region_centre: Some(point(CENTRE.0, CENTRE.1)),
                region_radius_km: 20.0,
            }),
        );
        let topic = self.config.platform.kafka.topics.task.clone();
        self.publish(&topic, &id.to_string(), Some(&event)).await?;
        Ok(id)
    }

    pub async fn publish_volunteer(
        &self,
        v: &MatchableVolunteer,
        version: u64,
    ) -> anyhow::Result<()> {
        let payload = match (version, v.status) {
            (1, _) => Payload::VolunteerRegistered(VolunteerRegistered {
                volunteer: Some(v.clone()),
            }),
            (_, s) if s == VolunteerStatus::Paused as i32 => {
                Payload::VolunteerPaused(VolunteerPaused {
                    volunteer: Some(v.clone()),
                })
            }
            _ => Payload::VolunteerUpdated(VolunteerUpdated {
                volunteer: Some(v.clone()),
            }),
        };
        let event = envelope(v.volunteer_id.clone(), version, payload);
        let topic = self.config.platform.kafka.topics.volunteer.clone();
        self.publish(&topic, &v.volunteer_id, Some(&event)).await
    }

    /// Registers a volunteer `km_north` of the centre with `first_aid`, 18-25, 30 km radius,
    /// available for the next three days; `tweak` changes anything before publishing.
    pub async fn add_volunteer(
        &self,
        km_north: f64,
        tweak: impl FnOnce(&mut MatchableVolunteer),
    ) -> anyhow::Result<Uuid> {
        let id = Uuid::new_v4();
        let mut v = volunteer(id, km_north);
        tweak(&mut v);
        self.publish_volunteer(&v, 1).await?;
        Ok(id)
    }

    pub async fn erase_volunteer(&self, id: Uuid) -> anyhow::Result<()> {
        let topic = self.config.platform.kafka.topics.volunteer.clone();
        let event = envelope(
            id.to_string(),
            9,
            Payload::VolunteerErased(VolunteerErased {
                volunteer_id: id.to_string(),
            }),
        );
        self.publish(&topic, &id.to_string(), Some(&event)).await?;
        self.publish(&topic, &id.to_string(), None).await
    }

    /// A task at the centre needing `headcount` people with `first_aid`, min age 18.
    pub fn task(&self, incident: Uuid, headcount: u32) -> TaskSnapshot {
        TaskSnapshot {
            task_id: Uuid::now_v7().to_string(),
            incident_id: incident.to_string(),
            organisation_id: ORG.into(),
            title: "fill sandbags".into(),
            address: "Alexanderplatz".into(),
            required_skill_ids: vec!["first_aid".into()],
            preferred_skill_ids: vec![],
            min_age: 18,
            headcount,
            window: Some(TimeWindow {
                start_time: Some(timestamp(self.window.0)),
                end_time: Some(timestamp(self.window.1)),
            }),
            priority: Priority::High as i32,
            meeting_point: Some(point(CENTRE.0, CENTRE.1)),
            max_distance_km: 20.0,
            status: TaskStatus::Open as i32,
            version: 1,
        }
    }

    pub async fn publish_task(&self, task: &TaskSnapshot) -> anyhow::Result<()> {
        let payload = if task.version == 1 {
            Payload::TaskCreated(TaskCreated {
                task: Some(task.clone()),
            })
        } else {
            Payload::TaskUpdated(TaskUpdated {
                task: Some(task.clone()),
                changed_fields: vec![],
            })
        };
        let event = envelope(task.task_id.clone(), task.version, payload);
        let topic = self.config.platform.kafka.topics.task.clone();
        self.publish(&topic, &task.task_id, Some(&event)).await
    }

    /// The volunteer's offers and matches (all states with `include_finished`).
    pub async fn offers(
        &self,
        volunteer: Uuid,
        include_finished: bool,
    ) -> anyhow::Result<Vec<Offer>> {
        let mut client = self.client(self.any_instance()?).await?;
        let response = client
            .list_my_offers(authed(
                ListMyOffersRequest { include_finished },
                &self.volunteer_token(volunteer),
            ))
            .await?;
        Ok(response.into_inner().offers)
    }

    /// The single current (non-final) offer of a volunteer, once there is one.
    pub async fn current_offer(&self, volunteer: Uuid) -> anyhow::Result<Offer> {
        eventually(Duration::from_secs(30), "an offer", || async {
            Ok(self
                .offers(volunteer, false)
                .await?
                .into_iter()
                .find(|o| o.state() == MatchState::Offered))
        })
        .await
    }

    /// The task's current check-in code, as its coordinator reads it.
    pub async fn check_in_code(&self, task_id: &str) -> anyhow::Result<GetCheckInCodeResponse> {
        let mut client = self.client(self.any_instance()?).await?;
        Ok(client
            .get_check_in_code(authed(
                GetCheckInCodeRequest {
                    task_id: task_id.into(),
                },
                &self.coordinator_token(),
            ))
            .await?
            .into_inner())
    }

    pub async fn staffing(&self, task_id: &str) -> anyhow::Result<GetTaskStaffingResponse> {
        let mut client = self.client(self.any_instance()?).await?;
        Ok(client
            .get_task_staffing(authed(
                GetTaskStaffingRequest {
                    task_id: task_id.into(),
                    include_finished: true,
                },
                &self.dashboard_token(),
            ))
            .await?
            .into_inner())
    }

    pub async fn respond(
        &self,
        volunteer: Uuid,
        match_id: &str,
        decision: OfferDecision,
    ) -> Result<RespondToOfferResponse, tonic::Status> {
        let mut client = self
            .client(
                self.any_instance()
                    .map_err(|e| tonic::Status::internal(e.to_string()))?,
            )
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        client
            .respond_to_offer(authed(
                RespondToOfferRequest {
                    match_id: match_id.into(),
                    decision: decision as i32,
                    decline_reason: 0,
                },
                &self.volunteer_token(volunteer),
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    fn any_instance(&self) -> anyhow::Result<usize> {
        self.instances
            .iter()
            .position(Option::is_some)
            .context("no instance running")
    }

    /// Match states of one task by volunteer-visible match id, from its staffing report.
    pub async fn task_states(&self, task_id: &str) -> anyhow::Result<Vec<(String, MatchState)>> {
        Ok(self
            .staffing(task_id)
            .await?
            .matches
            .into_iter()
            .map(|m| {
                let state = m.state();
                (m.match_id, state)
            })
            .collect())
    }
}

pub fn point(latitude: f64, longitude: f64) -> GeoPoint {
    GeoPoint {
        latitude,
        longitude,
    }
}

pub fn volunteer(id: Uuid, km_north: f64) -> MatchableVolunteer {
    let now = Utc::now();
    MatchableVolunteer {
        volunteer_id: id.to_string(),
        skill_ids: vec!["first_aid".into()],
        languages: vec!["de".into()],
        age_band: AgeBand::Aged18To25 as i32,
        approximate_location: Some(point(CENTRE.0 + km_north / 111.2, CENTRE.1)),
        travel_radius_km: 30.0,
        availability: vec![TimeWindow {
            start_time: Some(timestamp(now)),
            end_time: Some(timestamp(now + chrono::Duration::days(3))),
        }],
        status: VolunteerStatus::Active as i32,
    }
}

pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii token"),
    );
    request
}

async fn wait_for_serving(addr: SocketAddr) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let serving = async {
            let channel = Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?;
            let status = HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: String::new(),
                })
                .await?
                .into_inner()
                .status;
            anyhow::Ok(status == 1)
        }
        .await
        .unwrap_or(false);
        if serving {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "matching did not become SERVING"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls `check` until it returns `Some`, for at most `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Forward(tokio::sync::mpsc::UnboundedSender<EventEnvelope>);

#[async_trait::async_trait]
impl spontan_platform::kafka::EventHandler for Forward {
    async fn handle(&self, event: &spontan_platform::kafka::ConsumedEvent) -> anyhow::Result<()> {
        if let Some(envelope) = &event.envelope {
            let _ = self.0.send(envelope.clone());
        }
        Ok(())
    }
}

impl Harness {
    /// Reads the match topic from the start with a fresh group until `count` events arrived
    /// and nothing more came for two seconds.
    pub async fn match_events(&self, count: usize) -> anyhow::Result<Vec<EventEnvelope>> {
        let kafka = &self.config.platform.kafka;
        let group = format!("reader-{}", Uuid::new_v4().simple());
        let (consumer, _) = spontan_platform::kafka::EventConsumer::subscribe(
            kafka,
            "test-reader",
            &group,
            &[kafka.topics.matching.as_str()],
        )?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let stop = CancellationToken::new();
        let reader = tokio::spawn(consumer.run(Forward(tx), stop.clone()));
        let mut events = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let wait = if events.len() >= count {
                Duration::from_secs(2)
            } else {
                deadline.saturating_duration_since(tokio::time::Instant::now())
            };
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(Some(event)) => events.push(event),
                _ => break,
            }
        }
        stop.cancel();
        let _ = reader.await;
        anyhow::ensure!(
            events.len() >= count,
            "only {} of {count} match events arrived",
            events.len()
        );
        Ok(events)
    }

    /// Waits until the incident is known and its region holds `count` available volunteers
    /// in the index (so a task published next sees all of them at once).
    pub async fn wait_for_volunteers(&self, incident: Uuid, count: u32) -> anyhow::Result<()> {
        eventually(
            Duration::from_secs(30),
            "volunteers in the index",
            || async {
                let mut client = self.client(self.any_instance()?).await?;
                let summary = client
                    .get_incident_summary(authed(
                        GetIncidentSummaryRequest {
                            incident_id: incident.to_string(),
                        },
                        &self.dashboard_token(),
                    ))
                    .await;
                Ok(match summary {
                    Ok(s) if s.get_ref().available_volunteers >= count => Some(()),
                    _ => None,
                })
            },
        )
        .await
    }
}

/// The field paths of an InvalidArgument status.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}
