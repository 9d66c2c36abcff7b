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
        required_languages: t.required_languages.clone(),
        preferred_languages: t.preferred_languages.clone(),
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

/// The explanation as staff see it: the distance in a band and no score, so that the exact
/// distances to a few meeting points cannot place a volunteer's home (the stored explanation
/// keeps both, for the engine and the optimiser).
pub fn explanation(e: &Explanation) -> pb::MatchExplanation {
    let band = distance_band(e.distance_km);
    #[allow(deprecated)]
    pb::MatchExplanation {
        distance_km: 0.0,
        preferred_skills_matched: e.preferred_skills_matched.clone(),
        assigned_hours: e.assigned_hours,
        score: 0.0,
        summary: coarse_summary(&e.summary, band),
        distance_band: band as i32,
        preferred_languages_matched: e.preferred_languages_matched.clone(),
        required_languages_matched: e.required_languages_matched.clone(),
    }
}

/// An entry of the staff audit trail.
pub fn audit_entry(e: crate::store::AuditRow) -> pb::AuditEntry {
    pb::AuditEntry {
        id: e.id,
        occurred_at: Some(spontan_platform::events::timestamp(e.occurred_at)),
        actor_subject: e.actor_subject,
        actor_role: e.actor_role,
        organisation_id: e.organisation_id,
        action: e.action,
        match_id: e.match_id.map(|id| id.to_string()).unwrap_or_default(),
        details_json: e.details.to_string(),
    }
}

/// The band of a distance in km.
pub fn distance_band(km: f64) -> pb::DistanceBand {
    use pb::DistanceBand as B;
    match km {
        d if !d.is_finite() || d < 0.0 => B::Unspecified,
        d if d < 2.0 => B::Under2Km,
        d if d < 5.0 => B::DistanceBand2To5Km,
        d if d < 10.0 => B::DistanceBand5To10Km,
        d if d < 25.0 => B::DistanceBand10To25Km,
        d if d < 50.0 => B::DistanceBand25To50Km,
        _ => B::DistanceBand50KmOrMore,
    }
}

fn band_label(band: pb::DistanceBand) -> &'static str {
    use pb::DistanceBand as B;
    match band {
        B::Unspecified => "distance unknown",
        B::Under2Km => "under 2 km",
        B::DistanceBand2To5Km => "2-5 km",
        B::DistanceBand5To10Km => "5-10 km",
        B::DistanceBand10To25Km => "10-25 km",
        B::DistanceBand25To50Km => "25-50 km",
        B::DistanceBand50KmOrMore => "50 km or more",
    }
}

/// The stored summary ("2.4 km, 2 of 3 preferred skills, …") with its distance replaced by
/// the band; any other number of kilometres in it goes too.
fn coarse_summary(summary: &str, band: pb::DistanceBand) -> String {
    summary
        .split(", ")
        .map(|part| {
            if part.ends_with(" km") {
                band_label(band)
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a UUID request field, naming the field when it is not one.
pub fn parse_id(field: &str, text: &str) -> Result<Uuid, spontan_platform::ApiError> {
    text.parse()
        .map_err(|_| spontan_platform::ApiError::invalid(field, "must be a UUID"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staff_see_a_distance_band_and_no_score() {
        let stored = Explanation {
            distance_km: 2.4,
            preferred_skills_matched: vec!["first_aid".into()],
            assigned_hours: 4.0,
            score: 0.8731,
            summary: "2.4 km, 1 of 3 preferred skills, 4 h already assigned".into(),
            ..Explanation::default()
        };
        let shown = explanation(&stored);
        #[allow(deprecated)]
        {
            assert_eq!(shown.distance_km, 0.0);
            assert_eq!(shown.score, 0.0);
        }
        assert_eq!(shown.distance_band(), pb::DistanceBand::DistanceBand2To5Km);
        assert_eq!(
            shown.summary,
            "2-5 km, 1 of 3 preferred skills, 4 h already assigned"
        );
        assert_eq!(shown.assigned_hours, 4.0);
    }

    #[test]
    fn bands_have_no_gaps() {
        use pb::DistanceBand as B;
        let cases = [
            (0.0, B::Under2Km),
            (1.99, B::Under2Km),
            (2.0, B::DistanceBand2To5Km),
            (9.99, B::DistanceBand5To10Km),
            (10.0, B::DistanceBand10To25Km),
            (49.9, B::DistanceBand25To50Km),
            (50.0, B::DistanceBand50KmOrMore),
            (f64::NAN, B::Unspecified),
            (-1.0, B::Unspecified),
        ];
        for (km, band) in cases {
            assert_eq!(distance_band(km), band, "{km} km");
        }
    }
}
