//! Typed ids: an incident's id cannot be passed where a task's is wanted, and a request's
//! text becomes an id only by being parsed at the edge.
//!
//! An id is built in one of three ways:
//! - from a request, by [`Violations::id`] or [`required`], which name the field that is
//!   missing or no UUID (`InvalidArgument`);
//! - new, by `new()` (UUIDv7: time-ordered, so that indexes stay compact);
//! - from what the service itself stored or a trusted event carried, by `from_uuid`.
//!
//! Stores bind `id.uuid()`; rows keep plain UUIDs, which use cases turn back into ids where
//! they pass them on.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::{ApiError, Violations};

/// What every typed id can do; lets [`Violations::id`] and [`required`] parse any of them.
pub trait Id: Copy + From<Uuid> + Into<Uuid> + fmt::Display {}

/// A plain UUID that names no entity: an idempotency key.
impl Id for Uuid {}

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new id (UUIDv7).
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// The id a stored row or a trusted event holds.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The UUID, for binding in a query or writing into a message.
            pub const fn uuid(self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }

        impl Id for $name {}
    )*};
}

ids! {
    /// An incident (task service; matching keeps a copy).
    IncidentId;
    /// A task of an incident.
    TaskId;
    /// A match of a volunteer to a task: an offer, then the volunteer's work.
    MatchId;
    /// A registered volunteer; also the subject of their tokens.
    VolunteerId;
}

impl Violations {
    /// The id a request names in `field`: records "is required" when it is empty and "must
    /// be a UUID" when it is not one (surrounding white space is ignored), and gives `None`.
    pub fn id<T: Id>(&mut self, field: &str, text: &str) -> Option<T> {
        let text = text.trim();
        if text.is_empty() {
            self.add(field, "is required");
            return None;
        }
        match Uuid::parse_str(text) {
            Ok(id) => Some(T::from(id)),
            Err(_) => {
                self.add(field, "must be a UUID");
                None
            }
        }
    }

    /// [`Violations::finish`] for a request with one id read by [`Violations::id`]: the id,
    /// once no violation was found.
    pub fn finish_id<T: Id>(self, field: &str, id: Option<T>) -> Result<T, ApiError> {
        self.finish(id)?
            .ok_or_else(|| ApiError::invalid(field, "is required"))
    }
}

/// The one id a request names, or `InvalidArgument` for `field`.
pub fn required<T: Id>(field: &str, text: &str) -> Result<T, ApiError> {
    let mut v = Violations::new();
    let id = v.id(field, text);
    v.finish_id(field, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(error: ApiError) -> (String, String) {
        match error {
            ApiError::InvalidArgument(list) => (list[0].field.clone(), list[0].description.clone()),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn a_request_names_an_id_or_is_told_which_field_is_wrong() {
        let id = TaskId::new();
        let parsed: TaskId = required("task_id", &format!(" {id} ")).expect("a UUID with spaces");
        assert_eq!(parsed, id);
        let missing = required::<TaskId>("task_id", "").expect_err("empty");
        assert_eq!(violation(missing), ("task_id".into(), "is required".into()));
        let bad = required::<MatchId>("match_id", "7").expect_err("no UUID");
        assert_eq!(violation(bad), ("match_id".into(), "must be a UUID".into()));
    }

    #[test]
    fn every_bad_id_of_a_request_is_reported_at_once() {
        let mut v = Violations::new();
        assert!(v.id::<IncidentId>("incident_id", "").is_none());
        assert!(v.id::<TaskId>("task_id", "nope").is_none());
        let error = v.finish(()).expect_err("two violations");
        let ApiError::InvalidArgument(list) = error else {
            panic!("expected InvalidArgument");
        };
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn ids_read_and_write_as_their_uuid() {
        let id = VolunteerId::new();
        assert_eq!(id.to_string(), id.uuid().to_string());
        assert_eq!(id.to_string().parse::<VolunteerId>().expect("parses"), id);
        assert_eq!(
            serde_json::to_string(&id).expect("serialises"),
            format!("\"{id}\"")
        );
    }
}
