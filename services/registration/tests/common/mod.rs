//! Shared set-up of the registration integration tests: the real service on port 0 with a
//! fresh database and the real broker, a gRPC client, a raw reader of a topic, and a valid
//! registration request full of recognisable personal-data markers. The helpers every test
//! crate shares (`authed`, `violated_fields`, `eventually`) are `spontan_platform::testkit`'s.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use prost::Message as _;
use rdkafka::Message;
use rdkafka::producer::FutureRecord;
use spontan_platform::auth::TokenIssuer;
use spontan_platform::testkit::{self, TestBroker};
use spontan_proto::v1::registration_service_client::RegistrationServiceClient;
use spontan_proto::v1::*;
use spontan_registration::{Application, Config};
use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

pub const NAME_MARKER: &str = "Zorana Quixwell";
pub const PHONE_MARKER: &str = "+4915199887766";
pub const EMAIL_MARKER: &str = "zorana.quixwell@example.org";

pub struct TestApp {
    pub addr: SocketAddr,
    pub pool: PgPool,
    pub config: Config,
    pub issuer: TokenIssuer,
    pub shutdown: CancellationToken,
    pub broker: TestBroker,
    running: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    /// The service with the test configuration.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// The service with the test configuration changed by `tweak`.
    pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with_clock(
            tweak,
            std::sync::Arc::new(spontan_registration::clock::SystemClock),
        )
        .await
    }

    /// The service with its registry reading the time from `clock`.
    pub async fn spawn_with_clock(
        tweak: impl FnOnce(&mut Config),
        clock: std::sync::Arc<dyn spontan_registration::clock::Clock>,
    ) -> TestApp {
        testkit::init_logging();
        let broker = TestBroker::shared_or_start().await.expect("broker");
        let db = testkit::fresh_database().await.expect("database");
        let mut config = Config::with_generated_keys(testkit::platform_config(
            "registration",
            &db,
            broker.brokers(),
        ));
        config.alerts.retry_base_ms = 100;
        tweak(&mut config);
        Self::start(config, broker, clock).await
    }

    /// The service with exactly this configuration (its database may hold data already, e.g.
    /// from an earlier instance that was stopped).
    pub async fn start(
        config: Config,
        broker: TestBroker,
        clock: std::sync::Arc<dyn spontan_registration::clock::Clock>,
    ) -> TestApp {
        testkit::init_logging();
        let shutdown = CancellationToken::new();
        let app = Application::build_with_clock(config.clone(), shutdown.clone(), clock)
            .await
            .expect("build");
        let addr = app.platform().grpc_addr();
        let running = Some(tokio::spawn(app.run()));
        let pool = PgPool::connect(config.platform.database.url.expose())
            .await
            .expect("pool");
        let issuer = TokenIssuer::from_config(&config.platform.auth).expect("issuer");
        let test = TestApp {
            addr,
            pool,
            config,
            issuer,
            shutdown,
            broker,
            running,
        };
        test.wait_until_serving().await;
        test
    }

    /// Shuts the service down and waits for it (consumers commit and leave) before the
    /// broker goes away: a consumer closing against a stopped broker can block the runtime.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), running).await;
        }
        // Let the raw topic readers drop their consumers too.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect")
    }

    pub async fn client(&self) -> RegistrationServiceClient<Channel> {
        RegistrationServiceClient::new(self.channel().await)
    }

    async fn wait_until_serving(&self) {
        testkit::wait_for_health(
            self.addr,
            "",
            ServingStatus::Serving,
            Duration::from_secs(60),
        )
        .await
        .expect("service never became SERVING");
    }

    /// Every record of `topic` from the beginning: key and raw value (`None`: tombstone).
    pub fn read_topic(&self, topic: &str) -> mpsc::UnboundedReceiver<(String, Option<Vec<u8>>)> {
        let consumer = testkit::raw_reader(&self.config.platform.kafka, topic).expect("consumer");
        let (tx, rx) = mpsc::unbounded_channel();
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    message = consumer.recv() => {
                        if let Ok(m) = message {
                            let key = m.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
                            if tx.send((key, m.payload().map(<[u8]>::to_vec))).is_err() {
                                break;
                            }
                        }
                    }
                }
            }
        });
        rx
    }

    /// Registers `request`; the answer.
    pub async fn register(&self, request: RegisterRequest) -> RegisterResponse {
        self.client()
            .await
            .register(request)
            .await
            .expect("registered")
            .into_inner()
    }

    /// Publishes a match event about `s` into the match topic, as matching does.
    pub async fn publish_snapshot(
        &self,
        s: &MatchSnapshot,
        version: u64,
        payload: spontan_proto::v1::event_envelope::Payload,
    ) {
        let event = spontan_platform::events::envelope(s.match_id.clone(), version, payload);
        self.publish_match(&s.task_id, &event).await;
    }

    /// Publishes `event` into the match topic, keyed by `task_id` as matching does.
    pub async fn publish_match(&self, task_id: &str, event: &EventEnvelope) {
        let kafka = &self.config.platform.kafka;
        let producer = spontan_platform::kafka::producer(kafka).expect("producer");
        let bytes = event.encode_to_vec();
        producer
            .send(
                FutureRecord::to(&kafka.topics.matching)
                    .key(task_id)
                    .payload(&bytes),
                Duration::from_secs(10),
            )
            .await
            .map_err(|(e, _)| e)
            .expect("published");
    }

    /// Publishes a MatchOffered for the volunteer (expiring in 30 minutes) into the match
    /// topic, as matching does; returns the match id.
    pub async fn offer(&self, volunteer_id: &str, title: &str) -> String {
        let snapshot = match_snapshot(volunteer_id, MatchState::Offered, MatchState::Proposed);
        let payload = event_envelope::Payload::MatchOffered(MatchOffered {
            snapshot: Some(snapshot.clone()),
            expires_at: Some(ts(chrono::Utc::now() + chrono::Duration::minutes(30))),
            task_title: title.into(),
            task_address: String::new(),
        });
        let event = spontan_platform::events::envelope(snapshot.match_id.clone(), 2, payload);
        self.publish_match(&snapshot.task_id, &event).await;
        snapshot.match_id
    }

    /// The alert of a match once it left `pending`: (status, attempts, last_error).
    pub async fn settled_alert(&self, match_id: &str) -> (String, i32, Option<String>) {
        let match_id = uuid::Uuid::parse_str(match_id).expect("uuid");
        testkit::eventually(Duration::from_secs(30), "the alert settled", || async {
            sqlx::query_as(
                "SELECT status, attempts, last_error FROM alerts \
                 WHERE match_id = $1 AND status <> 'pending'",
            )
            .bind(match_id)
            .fetch_optional(&self.pool)
            .await
            .expect("alert")
        })
        .await
    }

    pub fn volunteer_token(&self, volunteer_id: &str) -> String {
        self.issuer
            .issue(
                volunteer_id,
                spontan_platform::auth::Role::Volunteer,
                None,
                Duration::from_secs(600),
            )
            .expect("token")
    }
}

/// Records of `key` until `count` arrived or `within` passed.
pub async fn records_for(
    rx: &mut mpsc::UnboundedReceiver<(String, Option<Vec<u8>>)>,
    key: &str,
    count: usize,
    within: Duration,
) -> Vec<Option<Vec<u8>>> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    while seen.len() < count {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((k, value))) if k == key => seen.push(value),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    seen
}

pub fn ts(time: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    spontan_platform::events::timestamp(time)
}

/// A valid registration with personal-data markers that tests look for.
pub fn valid_request() -> RegisterRequest {
    let now = chrono::Utc::now();
    RegisterRequest {
        idempotency_key: uuid::Uuid::new_v4().to_string(),
        consent: Some(Consent {
            given: true,
            text_version: "2025-06-de".into(),
        }),
        contact: Some(Contact {
            display_name: NAME_MARKER.into(),
            phone_e164: PHONE_MARKER.into(),
            email: EMAIL_MARKER.into(),
        }),
        preferred_alert_channel: AlertChannel::Sms as i32,
        channel_addresses: Some(ChannelAddresses {
            telegram_chat_id: "918273645".into(),
            ..Default::default()
        }),
        skill_ids: vec!["sandbag_filling".into(), "first_aid".into()],
        languages: vec!["de".into(), "EN".into()],
        birth_year: 1990,
        home_location: Some(GeoPoint {
            latitude: 50.941_278,
            longitude: 6.958_279,
        }),
        travel_radius_km: 25.0,
        availability: vec![TimeWindow {
            start_time: Some(ts(now + chrono::Duration::hours(1))),
            end_time: Some(ts(now + chrono::Duration::hours(9))),
        }],
    }
}

/// [`valid_request`] by someone else: `name` with phone `phone`, no e-mail.
pub fn named_request(name: &str, phone: &str) -> RegisterRequest {
    RegisterRequest {
        contact: Some(Contact {
            display_name: name.into(),
            phone_e164: phone.into(),
            email: String::new(),
        }),
        ..valid_request()
    }
}

/// [`valid_request`] by someone alerted by e-mail: `name` at `email`, no phone.
pub fn email_request(name: &str, email: &str) -> RegisterRequest {
    RegisterRequest {
        preferred_alert_channel: AlertChannel::Email as i32,
        contact: Some(Contact {
            display_name: name.into(),
            phone_e164: String::new(),
            email: email.into(),
        }),
        ..valid_request()
    }
}

/// A match of the volunteer, moved from `previous` to `state`, of a task of a new incident
/// of `thw-ahrweiler`.
pub fn match_snapshot(
    volunteer_id: &str,
    state: MatchState,
    previous: MatchState,
) -> MatchSnapshot {
    MatchSnapshot {
        match_id: uuid::Uuid::new_v4().to_string(),
        task_id: uuid::Uuid::new_v4().to_string(),
        incident_id: uuid::Uuid::new_v4().to_string(),
        organisation_id: "thw-ahrweiler".into(),
        volunteer_id: volunteer_id.into(),
        state: state as i32,
        previous_state: previous as i32,
        ..Default::default()
    }
}
