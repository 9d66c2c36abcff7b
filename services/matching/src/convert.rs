//! The one place where protobuf messages become domain values and back.

use chrono::{DateTime, Utc};
use spontan_platform::events::{from_timestamp, timestamp};
use spontan_proto::v1 as pb;
use uuid::Uuid;

use crate::domain::{Point, Task, TaskStatus, Volunteer, VolunteerStatus, Window, age_band_floor};
use crate::engine::Explanation;

fn window(w: Option<&pb::TimeWindow>) -> Option<Window> {
    let w = w?;
    Window::new(
        from_timestamp(w.start_time.as_ref()?)?,
        from_timestamp(w.end_time.as_ref()?)?,
    )
}

fn point(p: Option<&pb::GeoPoint>) -> Option<Point> {
    let p = p?;
    ((-90.0..=90.0).contains(&p.latitude) && (-180.0..=180.0).contains(&p.longitude)).then_some(
        Point {
            lat: p.latitude,
            lon: p.longitude,
        },
    )
}

/// A volunteer from an event; `None` when the id is not a UUID (the event is then skipped).
pub fn volunteer(v: &pb::MatchableVolunteer, version: u64) -> Option<Volunteer> {
    let mut availability: Vec<Window> = v
        .availability
        .iter()
        .filter_map(|w| window(Some(w)))
        .collect();
    availability.sort_by_key(|w| w.start);
    let status = match pb::VolunteerStatus::try_from(v.status) {
        Ok(pb::VolunteerStatus::Active) => VolunteerStatus::Active,
        Ok(pb::VolunteerStatus::Erased) => VolunteerStatus::Erased,
        // Paused, and anything unknown, is not matchable.
        _ => VolunteerStatus::Paused,
    };
    Some(Volunteer {
        id: v.volunteer_id.parse().ok()?,
        skills: v.skill_ids.clone(),
        languages: v.languages.clone(),
        age_band: v.age_band,
        min_age_reached: age_band_floor(v.age_band),
        location: point(v.approximate_location.as_ref()),
        travel_radius_km: v.travel_radius_km.max(0.0),
        availability,
        status,
        version: i64::try_from(version).unwrap_or(i64::MAX),
    })
}

/// A task from an event snapshot; `None` when ids, window or meeting point are unusable.
pub fn task(t: &pb::TaskSnapshot, version: u64) -> Option<Task> {
    let status = match pb::TaskStatus::try_from(t.status) {
        Ok(pb::TaskStatus::Open) => TaskStatus::Open,
        Ok(pb::TaskStatus::Staffed) => TaskStatus::Staffed,
        Ok(pb::TaskStatus::InProgress) => TaskStatus::InProgress,
        Ok(pb::TaskStatus::Completed) => TaskStatus::Completed,
        _ => TaskStatus::Cancelled,
    };
    Some(Task {
        id: t.task_id.parse().ok()?,
        incident_id: t.incident_id.parse().ok()?,
        organisation_id: t.organisation_id.clone(),
        title: t.title.clone(),
        address: t.address.clone(),
        required_skills: t.required_skill_ids.clone(),
        preferred_skills: t.preferred_skill_ids.clone(),
        min_age: t.min_age,
        headcount: t.headcount,
        window: window(t.window.as_ref())?,
        priority: t.priority,
        location: point(t.meeting_point.as_ref())?,
        max_distance_km: t.max_distance_km.max(0.0),
        status,
        version: i64::try_from(version.max(t.version)).unwrap_or(i64::MAX),
    })
}

pub fn ts(time: DateTime<Utc>) -> prost_types::Timestamp {
    timestamp(time)
}

pub fn time_window(w: &Window) -> pb::TimeWindow {
    pb::TimeWindow {
        start_time: Some(timestamp(w.start)),
        end_time: Some(timestamp(w.end)),
    }
}

pub fn geo(p: Point) -> pb::GeoPoint {
    pb::GeoPoint {
        latitude: p.lat,
        longitude: p.lon,
    }
}

pub fn explanation(e: &Explanation) -> pb::MatchExplanation {
    pb::MatchExplanation {
        distance_km: e.distance_km,
        preferred_skills_matched: e.preferred_skills_matched.clone(),
        assigned_hours: e.assigned_hours,
        score: e.score,
        summary: e.summary.clone(),
    }
}

/// Parses a UUID request field, naming the field when it is not one.
pub fn parse_id(field: &str, text: &str) -> Result<Uuid, spontan_platform::ApiError> {
    text.parse()
        .map_err(|_| spontan_platform::ApiError::invalid(field, "must be a UUID"))
}
