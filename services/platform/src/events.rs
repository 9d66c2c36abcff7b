//! Building event envelopes, and the time conversions every service needs at the proto edge.

use chrono::{DateTime, Utc};
use spontan_proto::v1::EventEnvelope;
use spontan_proto::v1::event_envelope::Payload;

/// A new envelope for `payload`: a fresh UUIDv7 event id (time-ordered, so ids sort like the
/// events), the payload's type name and the current time.
pub fn envelope(
    aggregate_id: impl Into<String>,
    aggregate_version: u64,
    payload: Payload,
) -> EventEnvelope {
    EventEnvelope {
        event_id: uuid::Uuid::now_v7().to_string(),
        event_type: payload.type_name().to_owned(),
        occurred_at: Some(timestamp(Utc::now())),
        aggregate_id: aggregate_id.into(),
        aggregate_version,
        payload: Some(payload),
    }
}

pub fn timestamp(time: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: i32::try_from(time.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// `None` for a timestamp outside chrono's range or with invalid nanoseconds.
pub fn from_timestamp(ts: &prost_types::Timestamp) -> Option<DateTime<Utc>> {
    let nanos = u32::try_from(ts.nanos).ok()?;
    DateTime::from_timestamp(ts.seconds, nanos)
}
