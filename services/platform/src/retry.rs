//! Waiting for a dependency that is not there yet: one loop with backoff, so that no service
//! writes its own.

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

const FIRST_WAIT: Duration = Duration::from_millis(100);
const LONGEST_WAIT: Duration = Duration::from_secs(5);

/// Calls `attempt` until it succeeds, waiting 0.1 s after the first failure and twice as long
/// after each further one (at most 5 s), and logging each failure with `what`. `None` when
/// `shutdown` is cancelled first.
pub async fn until_ok<T, E, F, Fut>(
    shutdown: &CancellationToken,
    what: &str,
    mut attempt: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Into<anyhow::Error>,
{
    let mut wait = FIRST_WAIT;
    loop {
        match attempt().await {
            Ok(value) => return Some(value),
            Err(error) => {
                let error: anyhow::Error = error.into();
                tracing::warn!(
                    error = format!("{error:#}"),
                    retry_in_ms = wait.as_millis() as u64,
                    "{what} failed, retrying"
                );
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn it_retries_until_the_dependency_answers() {
        let shutdown = CancellationToken::new();
        let mut calls = 0;
        let value = until_ok(&shutdown, "test", || {
            calls += 1;
            let n = calls;
            async move {
                if n < 4 {
                    Err(anyhow::anyhow!("not yet"))
                } else {
                    Ok(n)
                }
            }
        })
        .await;
        assert_eq!(value, Some(4));
    }

    #[tokio::test]
    async fn shutdown_ends_the_wait() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let value: Option<()> = until_ok(&shutdown, "test", || async {
            Err(anyhow::anyhow!("never"))
        })
        .await;
        assert_eq!(value, None);
    }
}
