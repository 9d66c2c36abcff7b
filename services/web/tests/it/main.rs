//! Integration tests of the web service: the real server on port 0 over a temporary
//! directory of small fake client files, asked with a real HTTP client.
//!
//! One binary (modules below) so that the service crate is linked once.

mod common;
mod config_json;
mod dev_sign_in;
mod files;
mod headers;
mod probes;
