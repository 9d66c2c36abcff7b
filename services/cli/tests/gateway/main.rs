//! `spontan dev gateway`, the messaging gateway's stand-in, over real HTTP/1.1: served on
//! port 0 from the library as the registration service's webhook would reach it ([`api`]),
//! and once as the binary the local stack starts, with its stdout line and its stop on SIGTERM
//! ([`command`]). [`common`] starts it and asks it.

mod api;
mod command;
mod common;
