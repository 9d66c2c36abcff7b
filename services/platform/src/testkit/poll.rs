//! Waiting for something that happens asynchronously (an event consumed, an outbox drained, an
//! offer made): poll a check until it holds, with a deadline that names what never happened.

use std::future::Future;
use std::time::Duration;

/// How often a check is polled.
const INTERVAL: Duration = Duration::from_millis(100);

/// Polls `check` every 100 ms until it returns `Some`, for at most `within`; then fails the
/// test with a message naming `what`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let waited = try_eventually(within, what, || {
        let polled = check();
        async move { Ok(polled.await) }
    })
    .await;
    match waited {
        Ok(value) => value,
        Err(error) => panic!("{error}"),
    }
}

/// [`eventually`] for a check that can fail: an error from `check` ends the wait at once and
/// is returned, and so is the timeout, as an error.
pub async fn try_eventually<T, F, Fut>(
    within: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(INTERVAL).await;
    }
}
