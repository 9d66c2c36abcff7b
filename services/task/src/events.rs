//! The events of the task topic, written to the outbox in the transaction of the change.
//!
//! Incident events are keyed by incident id, task events by task id (docs/events.md); the
//! envelope's aggregate id is the same id in both cases, so no key override is needed.

use spontan_platform::events::envelope;
use spontan_platform::outbox::{OutboxMessage, enqueue};
use spontan_proto::v1 as pb;
use spontan_proto::v1::event_envelope::Payload;
use sqlx::PgConnection;

use crate::convert;
use crate::domain::{Incident, Task};

/// `ce_source` of every event this service publishes.
pub const SOURCE: &str = "/spontan/task";

/// Writes events to the outbox of the caller's transaction, on the task topic.
#[derive(Debug, Clone)]
pub struct Publisher {
    topic: String,
}

impl Publisher {
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
        }
    }

    async fn write(
        &self,
        tx: &mut PgConnection,
        aggregate_id: String,
        version: u64,
        payload: Payload,
    ) -> Result<(), sqlx::Error> {
        let event = envelope(aggregate_id, version, payload);
        enqueue(tx, &[OutboxMessage::event(&self.topic, SOURCE, &event)]).await
    }

    pub async fn incident_opened(
        &self,
        tx: &mut PgConnection,
        incident: &Incident,
    ) -> Result<(), sqlx::Error> {
        let payload = Payload::IncidentOpened(pb::IncidentOpened {
            incident_id: incident.id.to_string(),
            organisation_id: incident.spec.organisation_id.clone(),
            region_centre: Some(convert::point(incident.spec.region_centre)),
            region_radius_km: incident.spec.region_radius_km,
        });
        self.write(tx, incident.id.to_string(), incident.version, payload)
            .await
    }

    pub async fn incident_closed(
        &self,
        tx: &mut PgConnection,
        incident: &Incident,
    ) -> Result<(), sqlx::Error> {
        let payload = Payload::IncidentClosed(pb::IncidentClosed {
            incident_id: incident.id.to_string(),
            organisation_id: incident.spec.organisation_id.clone(),
        });
        self.write(tx, incident.id.to_string(), incident.version, payload)
            .await
    }

    pub async fn incident_shared(
        &self,
        tx: &mut PgConnection,
        incident: &Incident,
    ) -> Result<(), sqlx::Error> {
        let payload = Payload::IncidentShared(pb::IncidentShared {
            incident_id: incident.id.to_string(),
            organisation_id: incident.spec.organisation_id.clone(),
            shared_with_organisation_ids: incident.shared_with.clone(),
        });
        self.write(tx, incident.id.to_string(), incident.version, payload)
            .await
    }

    pub async fn task_created(
        &self,
        tx: &mut PgConnection,
        task: &Task,
    ) -> Result<(), sqlx::Error> {
        let payload = Payload::TaskCreated(pb::TaskCreated {
            task: Some(convert::snapshot(task)),
        });
        self.write(tx, task.id.to_string(), task.version, payload)
            .await
    }

    /// `changed_fields` are Task field paths (`"status"` for a staffing change alone).
    pub async fn task_updated(
        &self,
        tx: &mut PgConnection,
        task: &Task,
        changed_fields: Vec<String>,
    ) -> Result<(), sqlx::Error> {
        let payload = Payload::TaskUpdated(pb::TaskUpdated {
            task: Some(convert::snapshot(task)),
            changed_fields,
        });
        self.write(tx, task.id.to_string(), task.version, payload)
            .await
    }

    pub async fn task_cancelled(
        &self,
        tx: &mut PgConnection,
        task: &Task,
        reason: pb::TaskCancelReason,
    ) -> Result<(), sqlx::Error> {
        let payload = Payload::TaskCancelled(pb::TaskCancelled {
            task: Some(convert::snapshot(task)),
            reason: reason as i32,
        });
        self.write(tx, task.id.to_string(), task.version, payload)
            .await
    }

    pub async fn task_completed(
        &self,
        tx: &mut PgConnection,
        task: &Task,
    ) -> Result<(), sqlx::Error> {
        let payload = Payload::TaskCompleted(pb::TaskCompleted {
            task: Some(convert::snapshot(task)),
        });
        self.write(tx, task.id.to_string(), task.version, payload)
            .await
    }
}
