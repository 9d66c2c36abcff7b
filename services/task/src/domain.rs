//! The task service's domain: incidents, tasks and the rules of their status.
//!
//! Values here are valid by construction: they are built only by [`crate::validation`] (from
//! requests) or read back from the database, whose constraints repeat the same rules.

use chrono::{DateTime, Utc};
use spontan_platform::ids::{IncidentId, TaskId};

pub use spontan_platform::states::{IncidentStatus, TaskStatus};

/// A point on the earth, WGS84 degrees, both finite and in range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub latitude: f64,
    pub longitude: f64,
}

/// A time window whose end lies after its start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// How urgent a task is; the numbers are the proto enum's, so that sorting by them puts the
/// most urgent first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Critical = 1,
    High = 2,
    Medium = 3,
    Low = 4,
}

impl Priority {
    pub fn from_i32(value: i32) -> Option<Self> {
        match value {
            1 => Some(Self::Critical),
            2 => Some(Self::High),
            3 => Some(Self::Medium),
            4 => Some(Self::Low),
            _ => None,
        }
    }
}

/// What a coordinator says about an incident when opening it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentSpec {
    pub organisation_id: String,
    pub name: String,
    pub description: String,
    pub region_centre: Point,
    pub region_radius_km: f64,
}

/// Everything a coordinator decides about a task; the rest (status, counts, version) is the
/// service's.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    pub title: String,
    pub description: String,
    pub meeting_point: Point,
    pub address: String,
    pub required_skill_ids: Vec<String>,
    pub preferred_skill_ids: Vec<String>,
    /// BCP 47 tags in canonical case; compared by primary subtag in matching.
    pub required_languages: Vec<String>,
    pub preferred_languages: Vec<String>,
    pub min_age: u32,
    pub headcount: u32,
    pub window: Window,
    pub priority: Priority,
    pub max_distance_km: f64,
    pub safety_notes: String,
}

/// Staffing counts of a task, from the latest state of each of its matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Staffing {
    pub offered: u32,
    pub accepted: u32,
    pub checked_in: u32,
}

/// The status staffing implies for a task that is not final: in progress from the first
/// check-in on (and it stays so: people are on site), staffed while enough volunteers accepted,
/// open again when an acceptance is withdrawn.
pub fn staffing_status(current: TaskStatus, staffing: Staffing, headcount: u32) -> TaskStatus {
    if current.is_final() {
        return current;
    }
    if current == TaskStatus::InProgress || staffing.checked_in > 0 {
        TaskStatus::InProgress
    } else if staffing.accepted >= headcount {
        TaskStatus::Staffed
    } else {
        TaskStatus::Open
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub id: IncidentId,
    pub spec: IncidentSpec,
    pub status: IncidentStatus,
    pub version: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    /// Other organisations that may read it (ShareIncident).
    pub shared_with: Vec<String>,
}

/// A task as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: TaskId,
    pub incident_id: IncidentId,
    pub organisation_id: String,
    pub spec: TaskSpec,
    pub status: TaskStatus,
    pub cancellation_reason: String,
    pub version: u64,
    pub staffing: Staffing,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staffing(offered: u32, accepted: u32, checked_in: u32) -> Staffing {
        Staffing {
            offered,
            accepted,
            checked_in,
        }
    }

    #[test]
    fn staffing_moves_the_status_both_ways() {
        use TaskStatus::*;
        assert_eq!(staffing_status(Open, staffing(3, 1, 0), 2), Open);
        assert_eq!(staffing_status(Open, staffing(1, 2, 0), 2), Staffed);
        assert_eq!(staffing_status(Staffed, staffing(1, 1, 0), 2), Open);
        assert_eq!(staffing_status(Staffed, staffing(0, 2, 1), 2), InProgress);
        assert_eq!(
            staffing_status(InProgress, staffing(0, 0, 0), 2),
            InProgress
        );
        assert_eq!(staffing_status(Cancelled, staffing(0, 5, 5), 2), Cancelled);
    }
}
