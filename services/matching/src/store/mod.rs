//! SQL of the read model and of the matches, split in two: [`read_model`] (volunteers,
//! incidents, tasks as consumed) and [`matches`] (matches, counts, the change log). Every
//! match transition goes through `events::record`, which writes the change-log row and the
//! outbox event in the caller's transaction.

mod matches;
mod read_model;

pub use matches::*;
pub use read_model::*;
