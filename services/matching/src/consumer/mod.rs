//! Consumers of `spontan.volunteer.v1` ([`VolunteerConsumer`] in `volunteer.rs`: every
//! replica reads everything, into its own index, in batches of whatever has arrived, and
//! stores how far the read model goes with each batch it applies) and `spontan.task.v1`
//! ([`TaskConsumer`] in `task.rs`: one consumer group, task partitions are split across
//! replicas). [`VolunteerLog`] (`volunteer_log.rs`) decides where the volunteer topic is read
//! from: the stored offsets, unless the broker's log is no longer the one they came from.
//!
//! Both are idempotent by aggregate version: the database keeps the newest version applied,
//! older or repeated events change nothing. Side effects on matches (cancellations) commit in
//! the same transaction as the read-model change, and only the replica whose write applied
//! performs them; offers follow after the commit and are idempotent themselves, so a task event
//! always (re-)runs matching for its task, and the periodic sweep catches anything a crash
//! between commit and offer left undone.

mod task;
mod volunteer;
mod volunteer_log;

pub use task::TaskConsumer;
pub use volunteer::VolunteerConsumer;
pub use volunteer_log::VolunteerLog;

use crate::domain::MatchState;

/// Matches held before the volunteer arrives: what a change of the volunteer or the task may
/// cancel.
const HOLDING: [MatchState; 3] = [
    MatchState::Proposed,
    MatchState::Offered,
    MatchState::Accepted,
];
/// Open offers: what a pause withdraws.
const OPEN: [MatchState; 2] = [MatchState::Proposed, MatchState::Offered];
