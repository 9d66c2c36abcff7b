//! The matching service under test: real PostgreSQL, the real broker, one or more
//! instances of the real application, and a producer that publishes volunteer and task
//! events into the topics the way registration and task would (`events.rs`). The helpers
//! every test crate shares (`authed`, `try_eventually`, `violated_fields`) are
//! `spontan_platform::testkit`'s.

#![allow(dead_code)]

pub mod events;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use rdkafka::producer::FutureProducer;
use spontan_matching::{Application, Config, MatchingSettings};
use spontan_platform::auth::{Role, TokenIssuer};
use spontan_platform::testkit::{self, TestBroker};
use spontan_platform::testkit::{authed, try_eventually};
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::*;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use uuid::Uuid;

/// Where every test's incident happens (Berlin).
pub const CENTRE: (f64, f64) = (52.52, 13.405);
pub const ORG: &str = "thw-berlin";

pub struct Instance {
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub handle: JoinHandle<anyhow::Result<()>>,
}

pub struct TestApp {
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

impl Drop for TestApp {
    /// A test that fails still stops its instances.
    fn drop(&mut self) {
        for instance in self.instances.iter().flatten() {
            instance.shutdown.cancel();
        }
    }
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

impl TestApp {
    /// One instance with [`fast_settings`].
    pub async fn spawn() -> anyhow::Result<Self> {
        Self::spawn_with(fast_settings()).await
    }

    /// One instance with `settings`; more with [`TestApp::spawn_instance`].
    pub async fn spawn_with(settings: MatchingSettings) -> anyhow::Result<Self> {
        testkit::init_logging();
        Self::spawn_on(TestBroker::shared_or_start().await?, settings).await
    }

    /// [`TestApp::spawn_with`] on `broker`: one the test owns, to stop or replace it.
    pub async fn spawn_on(broker: TestBroker, settings: MatchingSettings) -> anyhow::Result<Self> {
        testkit::init_logging();
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
        let addr = app.platform().grpc_addr();
        let handle = tokio::spawn(app.run());
        testkit::wait_for_health(addr, "", ServingStatus::Serving, Duration::from_secs(60)).await?;
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

    /// Stops every instance and waits until each has drained.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        for i in 0..self.instances.len() {
            self.stop_instance(i).await?;
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
        try_eventually(Duration::from_secs(30), "an offer", || async {
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
