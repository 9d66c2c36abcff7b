//! One module per `--mode`: each connects what it needs, runs on the open-loop
//! [`schedule`](crate::schedule::schedule) and prints its own report (a table, or JSON with
//! `--json`).
//!
//! The end-to-end scenarios ([`e2e_task`], [`e2e_register`], [`empty_poll`]) time across
//! services with the load generator's own clock. Their latencies too are measured from each
//! request's scheduled time, so queueing in the load generator or the services counts, and the
//! poll interval adds up to one interval.

pub mod e2e_register;
pub mod e2e_task;
pub mod empty_poll;
pub mod mix;
pub mod seed;
