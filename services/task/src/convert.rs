//! Domain values to proto messages, for responses and events.

use spontan_platform::events::timestamp;
use spontan_proto::v1 as pb;

use crate::domain::{Incident, IncidentStatus, Point, Priority, Task, TaskStatus, Window};

pub fn point(p: Point) -> pb::GeoPoint {
    pb::GeoPoint {
        latitude: p.latitude,
        longitude: p.longitude,
    }
}

pub fn window(w: Window) -> pb::TimeWindow {
    pb::TimeWindow {
        start_time: Some(timestamp(w.start)),
        end_time: Some(timestamp(w.end)),
    }
}

pub fn priority(p: Priority) -> pb::Priority {
    match p {
        Priority::Critical => pb::Priority::Critical,
        Priority::High => pb::Priority::High,
        Priority::Medium => pb::Priority::Medium,
        Priority::Low => pb::Priority::Low,
    }
}

pub fn task_status(s: TaskStatus) -> pb::TaskStatus {
    match s {
        TaskStatus::Open => pb::TaskStatus::Open,
        TaskStatus::Staffed => pb::TaskStatus::Staffed,
        TaskStatus::InProgress => pb::TaskStatus::InProgress,
        TaskStatus::Completed => pb::TaskStatus::Completed,
        TaskStatus::Cancelled => pb::TaskStatus::Cancelled,
    }
}

pub fn task_status_from(value: i32) -> Option<TaskStatus> {
    match pb::TaskStatus::try_from(value).ok()? {
        pb::TaskStatus::Unspecified => None,
        pb::TaskStatus::Open => Some(TaskStatus::Open),
        pb::TaskStatus::Staffed => Some(TaskStatus::Staffed),
        pb::TaskStatus::InProgress => Some(TaskStatus::InProgress),
        pb::TaskStatus::Completed => Some(TaskStatus::Completed),
        pb::TaskStatus::Cancelled => Some(TaskStatus::Cancelled),
    }
}

pub fn incident(i: &Incident) -> pb::Incident {
    pb::Incident {
        incident_id: i.id.to_string(),
        organisation_id: i.spec.organisation_id.clone(),
        name: i.spec.name.clone(),
        description: i.spec.description.clone(),
        region_centre: Some(point(i.spec.region_centre)),
        region_radius_km: i.spec.region_radius_km,
        status: match i.status {
            IncidentStatus::Open => pb::IncidentStatus::Open,
            IncidentStatus::Closed => pb::IncidentStatus::Closed,
        } as i32,
        created_at: Some(timestamp(i.created_at)),
        updated_at: Some(timestamp(i.updated_at)),
        closed_at: i.closed_at.map(timestamp),
        version: i.version,
        shared_with_organisation_ids: i.shared_with.clone(),
    }
}

pub fn task(t: &Task) -> pb::Task {
    let s = &t.spec;
    pb::Task {
        task_id: t.id.to_string(),
        incident_id: t.incident_id.to_string(),
        organisation_id: t.organisation_id.clone(),
        title: s.title.clone(),
        description: s.description.clone(),
        meeting_point: Some(point(s.meeting_point)),
        address: s.address.clone(),
        required_skill_ids: s.required_skill_ids.clone(),
        preferred_skill_ids: s.preferred_skill_ids.clone(),
        min_age: s.min_age,
        headcount: s.headcount,
        window: Some(window(s.window)),
        priority: priority(s.priority) as i32,
        max_distance_km: s.max_distance_km,
        safety_notes: s.safety_notes.clone(),
        status: task_status(t.status) as i32,
        version: t.version,
        offered_count: t.staffing.offered,
        accepted_count: t.staffing.accepted,
        checked_in_count: t.staffing.checked_in,
        created_at: Some(timestamp(t.created_at)),
        updated_at: Some(timestamp(t.updated_at)),
        cancellation_reason: t.cancellation_reason.clone(),
        required_languages: s.required_languages.clone(),
        preferred_languages: s.preferred_languages.clone(),
    }
}

/// What matching needs of a task: no description, no safety notes.
pub fn snapshot(t: &Task) -> pb::TaskSnapshot {
    let s = &t.spec;
    pb::TaskSnapshot {
        task_id: t.id.to_string(),
        incident_id: t.incident_id.to_string(),
        organisation_id: t.organisation_id.clone(),
        title: s.title.clone(),
        address: s.address.clone(),
        required_skill_ids: s.required_skill_ids.clone(),
        preferred_skill_ids: s.preferred_skill_ids.clone(),
        min_age: s.min_age,
        headcount: s.headcount,
        window: Some(window(s.window)),
        priority: priority(s.priority) as i32,
        meeting_point: Some(point(s.meeting_point)),
        max_distance_km: s.max_distance_km,
        status: task_status(t.status) as i32,
        version: t.version,
        required_languages: s.required_languages.clone(),
        preferred_languages: s.preferred_languages.clone(),
    }
}

/// An audit entry as admins read it.
pub fn audit_entry(e: crate::store::AuditRow) -> pb::TaskAuditEntry {
    pb::TaskAuditEntry {
        id: e.id,
        occurred_at: Some(spontan_platform::events::timestamp(e.occurred_at)),
        actor_subject: e.actor_subject,
        actor_role: e.actor_role,
        organisation_id: e.organisation_id,
        action: e.action,
        entity_kind: e.entity_kind,
        entity_id: e.entity_id.to_string(),
        details_json: e.details.to_string(),
    }
}
