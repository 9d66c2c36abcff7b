//! Receivers of alerts that speak real TLS, for the alerts tests: an ESMTP relay ([`smtp`])
//! and the messaging gateway's webhook endpoint ([`gateway`]), both with certificates issued
//! in the test by the platform testkit's CA ([`tls`]). `web-push-mock.cjs` next to them is
//! the Web Push tests' mock push service.
#![allow(dead_code)]

pub mod gateway;
pub mod smtp;
pub mod tls;
