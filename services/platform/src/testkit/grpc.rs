//! What every gRPC test does around a call: connect, put a bearer token on a request, wait
//! until a server reports SERVING, and read the field violations of a refusal.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

/// `message` with `authorization: Bearer <token>`, as every client of the suite sends it.
pub fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {token}")
        .parse()
        .expect("a token is a valid header value");
    request.metadata_mut().insert("authorization", value);
    request
}

/// The field paths named by the `BadRequest` detail of `status` (empty without one): what a
/// test compares instead of the message text, which may change.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .bad_request()
        .map(|b| b.field_violations.iter().map(|f| f.field.clone()).collect())
        .unwrap_or_default()
}

/// The reason of the `ErrorInfo` detail of `status` (e.g. `IDEMPOTENCY_KEY_EXPIRED`), if any.
pub fn error_reason(status: &tonic::Status) -> Option<String> {
    use tonic_types::StatusExt;
    status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
}

/// A plaintext gRPC channel to `address`.
pub async fn channel(address: SocketAddr) -> anyhow::Result<Channel> {
    Ok(Channel::from_shared(format!("http://{address}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?)
}

/// The health of `service` ("" for the whole server) at `address`.
pub async fn health(address: SocketAddr, service: &str) -> anyhow::Result<ServingStatus> {
    let mut client = HealthClient::new(channel(address).await?);
    let response = client
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await?;
    Ok(response.into_inner().status())
}

/// Polls until `service` ("" for the whole server) at `address` reports `want`, for at most
/// `within`; a server that does not answer yet counts as not there yet.
pub async fn wait_for_health(
    address: SocketAddr,
    service: &str,
    want: ServingStatus,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let status = health(address, service).await;
        if matches!(status, Ok(s) if s == want) {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("{service} at {address} is {status:?}, not {want:?}, after {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
