//! Connections, tokens and the staff side every scenario shares.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use spontan_platform::auth::{Role, TokenIssuer};
use spontan_platform::config::{AuthConfig, Secret};
use spontan_proto::v1::matching_service_client::MatchingServiceClient;
use spontan_proto::v1::task_service_client::TaskServiceClient;
use spontan_proto::v1::{CreateIncidentRequest, GeoPoint, ListMatchChangesRequest};
use tonic::transport::Channel;

/// `count` (at least one) HTTP/2 connections to `address`; requests are spread over them so
/// that one connection's flow control does not cap the rate.
pub async fn channels(address: &str, count: usize) -> anyhow::Result<Vec<Channel>> {
    let mut channels = Vec::with_capacity(count);
    for _ in 0..count.max(1) {
        let channel = Channel::from_shared(address.to_owned())?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .connect()
            .await
            .with_context(|| format!("cannot reach {address}"))?;
        channels.push(channel);
    }
    Ok(channels)
}

/// `message` with `authorization: Bearer <token>` when there is a token.
pub fn with_token<T>(message: T, token: Option<&String>) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Some(value) = token.and_then(|t| format!("Bearer {t}").parse().ok()) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// A coordinator and a dashboard token of `organisation`, signed with the dev key `key`,
/// valid for `ttl`.
pub fn staff_tokens(
    key: &str,
    organisation: &str,
    ttl: Duration,
) -> anyhow::Result<(String, String)> {
    let issuer = TokenIssuer::from_config(&AuthConfig {
        signing_key: Secret::new(key.trim()),
        ..AuthConfig::default()
    })?;
    Ok((
        issuer.issue("load", Role::Coordinator, Some(organisation), ttl)?,
        issuer.issue("load", Role::Dashboard, Some(organisation), ttl)?,
    ))
}

/// Staff clients and tokens for the organisation the end-to-end measurements run in.
pub struct Staff {
    pub tasks: TaskServiceClient<Channel>,
    pub matching: MatchingServiceClient<Channel>,
    pub coordinator: String,
    pub dashboard: String,
    pub organisation: String,
}

impl Staff {
    /// Creates an incident of the organisation and waits until matching knows it (its event
    /// consumed), so that dashboard calls for it succeed.
    pub async fn incident(
        &mut self,
        name: &str,
        centre: GeoPoint,
        radius_km: f64,
    ) -> anyhow::Result<String> {
        let incident = self
            .tasks
            .create_incident(with_token(
                CreateIncidentRequest {
                    idempotency_key: uuid::Uuid::new_v4().to_string(),
                    organisation_id: self.organisation.clone(),
                    name: name.into(),
                    description: String::new(),
                    region_centre: Some(centre),
                    region_radius_km: radius_km,
                },
                Some(&self.coordinator),
            ))
            .await
            .with_context(|| format!("creating incident {name:?}"))?
            .into_inner()
            .incident
            .context("no incident returned")?;
        let id = incident.incident_id;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let known = self
                .matching
                .list_match_changes(with_token(
                    ListMatchChangesRequest {
                        incident_id: id.clone(),
                        after_sequence: 0,
                        limit: 1,
                    },
                    Some(&self.dashboard),
                ))
                .await;
            match known {
                Ok(_) => return Ok(id),
                Err(status) if status.code() == tonic::Code::NotFound => {}
                Err(status) => bail!("matching refused the dashboard poll: {status}"),
            }
            if Instant::now() > deadline {
                bail!("matching did not learn incident {id} within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
