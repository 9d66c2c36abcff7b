//! The reasons of this service's refusals: `google.rpc.ErrorInfo` with the domain
//! `matching.spontan`, and the start of the status message (`OFFER_EXPIRED: …`).

use spontan_platform::error::Reason;

const DOMAIN: &str = "matching.spontan";

/// Too many wrong check-in codes for this match: a coordinator checks the volunteer in.
pub const CHECK_IN_LOCKED: Reason = Reason::new("CHECK_IN_LOCKED", DOMAIN);
/// The feed cursor is ahead of the incident's newest change.
pub const CURSOR_AHEAD: Reason = Reason::new("CURSOR_AHEAD", DOMAIN);
/// The incident is closed.
pub const INCIDENT_CLOSED: Reason = Reason::new("INCIDENT_CLOSED", DOMAIN);
/// The match cannot move from its state to the one asked for.
pub const INVALID_TRANSITION: Reason = Reason::new("INVALID_TRANSITION", DOMAIN);
/// The match is over (declined, expired, cancelled, completed) and changes no more.
pub const MATCH_FINISHED: Reason = Reason::new("MATCH_FINISHED", DOMAIN);
/// The step needs an accepted match.
pub const MATCH_NOT_ACCEPTED: Reason = Reason::new("MATCH_NOT_ACCEPTED", DOMAIN);
/// The step needs a checked-in match.
pub const MATCH_NOT_CHECKED_IN: Reason = Reason::new("MATCH_NOT_CHECKED_IN", DOMAIN);
/// The offer ran out before the answer came.
pub const OFFER_EXPIRED: Reason = Reason::new("OFFER_EXPIRED", DOMAIN);
/// The offer was withdrawn (the task changed, was staffed, or the volunteer was cancelled).
pub const OFFER_WITHDRAWN: Reason = Reason::new("OFFER_WITHDRAWN", DOMAIN);
/// The optimisation plan is too old to apply (or its incident's plans were purged).
pub const PLAN_EXPIRED: Reason = Reason::new("PLAN_EXPIRED", DOMAIN);
/// The incident changed since the optimisation plan was made: plan again.
pub const PLAN_STALE: Reason = Reason::new("PLAN_STALE", DOMAIN);
/// The task already has its headcount.
pub const TASK_STAFFED: Reason = Reason::new("TASK_STAFFED", DOMAIN);
