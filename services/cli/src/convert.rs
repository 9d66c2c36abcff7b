//! Command-line values to API values: points, RFC 3339 times and time windows.

use anyhow::Context;
use chrono::{DateTime, Utc};
use spontan_platform::events::timestamp;
use spontan_proto::v1::{GeoPoint, TimeWindow};

/// A point from `--lat` and `--lon` in degrees.
pub fn point(lat: f64, lon: f64) -> GeoPoint {
    GeoPoint {
        latitude: lat,
        longitude: lon,
    }
}

/// An RFC 3339 time with offset, as UTC.
pub fn parse_time(text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("{text:?} is not an RFC 3339 time like 2026-07-15T08:00:00+02:00"))
}

/// A time window from two RFC 3339 times.
pub fn window(start: &str, end: &str) -> anyhow::Result<TimeWindow> {
    Ok(TimeWindow {
        start_time: Some(timestamp(parse_time(start)?)),
        end_time: Some(timestamp(parse_time(end)?)),
    })
}
