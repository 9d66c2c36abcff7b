//! How every command talks to the services: the global flags (addresses, token, output),
//! a connection, a request carrying the token, and idempotency keys derived from the
//! command's arguments.

use std::hash::{Hash, Hasher};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tonic::transport::Channel;

/// Where the services are, who you are, and how to print.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Registration service address.
    #[arg(
        long,
        global = true,
        env = "SPONTAN_REGISTRATION_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    pub registration: String,
    /// Task service address.
    #[arg(
        long,
        global = true,
        env = "SPONTAN_TASK_ADDR",
        default_value = "http://127.0.0.1:50052"
    )]
    pub task: String,
    /// Matching service address.
    #[arg(
        long,
        global = true,
        env = "SPONTAN_MATCHING_ADDR",
        default_value = "http://127.0.0.1:50053"
    )]
    pub matching: String,
    /// Bearer token sent with every request (see `spontan token mint`).
    #[arg(long, global = true, env = "SPONTAN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A connection to `address` (5 s to connect, 30 s per request).
pub async fn channel(address: &str) -> anyhow::Result<Channel> {
    Channel::from_shared(address.to_owned())
        .with_context(|| format!("invalid address {address}"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .with_context(|| format!("cannot reach {address}"))
}

/// A request carrying the caller's token, if any.
pub fn request<T>(global: &Global, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = &global.token {
        let value = format!("Bearer {token}")
            .parse()
            .context("the token contains invalid characters")?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

/// A stable idempotency key for `text` (the demo's objects).
pub fn stable_key(text: &str) -> String {
    derived_key(&text)
}

/// A stable idempotency key derived from a command's arguments, so that running the same
/// command again after a timeout never creates a second object.
pub fn derived_key(parts: &impl Hash) -> String {
    let mut first = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut first);
    let mut second = std::collections::hash_map::DefaultHasher::new();
    (parts, "spontan").hash(&mut second);
    let bytes = [first.finish().to_be_bytes(), second.finish().to_be_bytes()].concat();
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&bytes);
    uuid::Builder::from_custom_bytes(raw)
        .into_uuid()
        .to_string()
}
