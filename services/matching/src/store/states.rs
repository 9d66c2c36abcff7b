//! Matching's own states as PostgreSQL `text`, like the incident and task statuses of
//! [`spontan_platform::states`]: a text no state spells fails the read (a decode error)
//! instead of turning into some state.

use crate::domain::{MatchState, VolunteerStatus};

spontan_platform::stored_as_text!(MatchState, VolunteerStatus);
