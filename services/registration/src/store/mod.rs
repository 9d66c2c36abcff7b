//! All of the service's SQL, one module per concern. Every statement is a compile-checked
//! `sqlx::query!` (or `query_as!` / `query_scalar!`) against the schema in
//! `services/platform/migrations` and `migrations/`; the offline data lives in `.sqlx/`
//! (`deploy/local/sqlx.sh prepare` rewrites it after a query changes). Contact data arrives
//! here already sealed and leaves sealed; opening it is [`crate::volunteers`]' job.
//!
//! Layout: [`volunteers`] (a volunteer's row, windows, tokens, idempotency keys and
//! erasure), [`registrations`] (the group commit's batch statements), [`alerts`] (the alert
//! queue), [`sessions`] (refresh tokens, hashed), [`matches`] (matches seen and the contact-access audit), [`messages`] (messages from staff
//! to volunteers), [`retention`] (who is
//! due for erasure or the yearly republish), [`keys`] (master-key rotation) and [`skills`]
//! (the taxonomy).

pub mod alerts;
pub mod confirmation;
pub mod keys;
pub mod matches;
pub mod messages;
pub mod registrations;
pub mod retention;
pub mod sessions;
pub mod skills;
pub mod volunteers;

pub use volunteers::{Lookup, VolunteerRow};
