//! What each command does, one module per command group: its subcommands and arguments
//! (clap) next to the requests they send. The groups depend only on the shared modules
//! ([`crate::client`], [`crate::convert`], [`crate::output`]), never on each other or on
//! this module, so no two modules import each other.

pub mod demo;
pub mod dev;
pub mod drill;
pub mod incident;
pub mod matches;
pub mod message;
pub mod offers;
pub mod task;
pub mod token;
pub mod vapid;
pub mod volunteer;
