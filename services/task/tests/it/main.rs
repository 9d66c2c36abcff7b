//! Integration tests of the task service over real gRPC, PostgreSQL and the broker.
//!
//! One binary (modules below) so that the service crate is linked once.

mod access;
mod audit;
mod common;
mod lifecycle;
mod requests;
mod staffing;
