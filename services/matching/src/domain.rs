//! The matching domain: volunteers and tasks as matching sees them, and match states.
//!
//! Values here are valid by construction: they are built only by [`crate::convert`] (from
//! events) and [`crate::store`] (from rows this service wrote), never from raw requests. The
//! states and statuses are stored as text; their `parse` refuses a text it does not know
//! instead of guessing (the tables' CHECK constraints allow no other).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use spontan_platform::states::{IncidentStatus, TaskStatus, UnknownState};

/// A half-open time interval `[start, end)`, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Window {
    /// `None` unless `start < end`.
    pub fn new(start: DateTime<Utc>, end: DateTime<Utc>) -> Option<Self> {
        (start < end).then_some(Self { start, end })
    }

    pub fn hours(&self) -> f64 {
        (self.end - self.start).num_seconds() as f64 / 3600.0
    }

    pub fn overlaps(&self, other: &Window) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// A point in WGS84 degrees.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolunteerStatus {
    Active,
    Paused,
    Erased,
}

impl VolunteerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Paused => "paused",
            Self::Erased => "erased",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownState> {
        match text {
            "active" => Ok(Self::Active),
            "paused" => Ok(Self::Paused),
            "erased" => Ok(Self::Erased),
            _ => Err(UnknownState::new("volunteer status", text)),
        }
    }
}

/// What matching knows about a volunteer: no contact data.
#[derive(Debug, Clone, PartialEq)]
pub struct Volunteer {
    pub id: Uuid,
    pub skills: Vec<String>,
    pub languages: Vec<String>,
    pub age_band: i32,
    /// Lowest age of the age band; 0 when unknown (ineligible for any task with a minimum age).
    pub min_age_reached: u32,
    pub location: Option<Point>,
    pub travel_radius_km: f64,
    /// Sorted, non-overlapping.
    pub availability: Vec<Window>,
    pub status: VolunteerStatus,
    pub version: i64,
}

impl Volunteer {
    /// Whether one availability window (adjacent windows joined) covers all of `window`.
    pub fn available_for(&self, window: &Window) -> bool {
        let mut covered_until: Option<DateTime<Utc>> = None;
        for w in &self.availability {
            covered_until = match covered_until {
                Some(until) if w.start <= until => Some(until.max(w.end)),
                _ if w.start <= window.start => Some(w.end),
                _ => covered_until,
            };
            if covered_until.is_some_and(|until| until >= window.end) {
                return true;
            }
        }
        false
    }
}

/// The lowest age of a proto `AgeBand` value; 0 for unknown.
pub fn age_band_floor(band: i32) -> u32 {
    match band {
        1 => 16,
        2 => 18,
        3 => 26,
        4 => 41,
        5 => 61,
        6 => 71,
        _ => 0,
    }
}

/// What matching knows about a task.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    pub id: Uuid,
    pub incident_id: Uuid,
    pub organisation_id: String,
    pub title: String,
    pub address: String,
    pub required_skills: Vec<String>,
    pub preferred_skills: Vec<String>,
    /// BCP 47 tags; a volunteer must speak every one (by primary subtag, see
    /// [`spontan_platform::languages::speaks`]).
    pub required_languages: Vec<String>,
    /// BCP 47 tags that rank a volunteer higher, like preferred skills.
    pub preferred_languages: Vec<String>,
    pub min_age: u32,
    pub headcount: u32,
    pub window: Window,
    /// Proto `Priority` value: 1 (critical) is the most urgent.
    pub priority: i32,
    pub location: Point,
    /// 0 for no limit of the task.
    pub max_distance_km: f64,
    pub status: TaskStatus,
    pub version: i64,
}

/// The states of a match; see DESIGN.md "Match lifecycle".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchState {
    Proposed,
    Offered,
    Accepted,
    CheckedIn,
    Completed,
    Declined,
    Expired,
    Cancelled,
    NoShow,
}

impl MatchState {
    /// Every state, in the order of the lifecycle: the active ones, then the finished ones.
    pub const ALL: [Self; 9] = [
        Self::Proposed,
        Self::Offered,
        Self::Accepted,
        Self::CheckedIn,
        Self::Completed,
        Self::Declined,
        Self::Expired,
        Self::Cancelled,
        Self::NoShow,
    ];

    /// The states that hold the volunteer's time (the exclusion constraint's predicate), in
    /// the order of [`Self::ALL`].
    pub const ACTIVE: [Self; 4] = [
        Self::Proposed,
        Self::Offered,
        Self::Accepted,
        Self::CheckedIn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Offered => "offered",
            Self::Accepted => "accepted",
            Self::CheckedIn => "checked_in",
            Self::Completed => "completed",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Cancelled => "cancelled",
            Self::NoShow => "no_show",
        }
    }

    pub fn parse(text: &str) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| UnknownState::new("match state", text))
    }

    pub fn is_active(self) -> bool {
        matches!(
            self,
            Self::Proposed | Self::Offered | Self::Accepted | Self::CheckedIn
        )
    }

    /// The proto `MatchState` value.
    pub fn to_proto(self) -> i32 {
        use spontan_proto::v1::MatchState as P;
        (match self {
            Self::Proposed => P::Proposed,
            Self::Offered => P::Offered,
            Self::Accepted => P::Accepted,
            Self::CheckedIn => P::CheckedIn,
            Self::Completed => P::Completed,
            Self::Declined => P::Declined,
            Self::Expired => P::Expired,
            Self::Cancelled => P::Cancelled,
            Self::NoShow => P::NoShow,
        }) as i32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(hour: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0)
            .single()
            .expect("valid time")
    }

    fn window(a: u32, b: u32) -> Window {
        Window::new(at(a), at(b)).expect("valid window")
    }

    #[test]
    fn states_parse_what_they_print_and_nothing_else() {
        for state in MatchState::ALL {
            assert_eq!(MatchState::parse(state.as_str()), Ok(state));
        }
        for status in [
            VolunteerStatus::Active,
            VolunteerStatus::Paused,
            VolunteerStatus::Erased,
        ] {
            assert_eq!(VolunteerStatus::parse(status.as_str()), Ok(status));
        }
        for status in [
            TaskStatus::Open,
            TaskStatus::Staffed,
            TaskStatus::InProgress,
            TaskStatus::Completed,
            TaskStatus::Cancelled,
        ] {
            assert_eq!(TaskStatus::parse(status.as_str()), Ok(status));
        }
        for status in [IncidentStatus::Open, IncidentStatus::Closed] {
            assert_eq!(IncidentStatus::parse(status.as_str()), Ok(status));
        }
        // An unknown text is an error, not the nearest state (it used to become `Erased`).
        assert!(VolunteerStatus::parse("deleted").is_err());
        assert!(TaskStatus::parse("Open").is_err());
        assert!(MatchState::parse("").is_err());
        assert!(IncidentStatus::parse("archived").is_err());
    }

    #[test]
    fn availability_must_cover_the_whole_window() {
        let v = Volunteer {
            id: Uuid::nil(),
            skills: vec![],
            languages: vec![],
            age_band: 2,
            min_age_reached: 18,
            location: None,
            travel_radius_km: 10.0,
            availability: vec![window(8, 10), window(10, 12), window(14, 16)],
            status: VolunteerStatus::Active,
            version: 1,
        };
        assert!(v.available_for(&window(9, 12)));
        assert!(v.available_for(&window(14, 16)));
        assert!(!v.available_for(&window(11, 15)));
        assert!(!v.available_for(&window(7, 9)));
    }
}
