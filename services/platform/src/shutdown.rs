//! SIGTERM and SIGINT turned into one [`CancellationToken`] that every task of a service
//! watches: servers drain, consumers commit, the relay finishes its batch, telemetry flushes.

use tokio_util::sync::CancellationToken;

/// A token cancelled on the first SIGTERM or SIGINT (Ctrl-C).
pub fn on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received, draining");
        cancel.cancel();
    });
    token
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGTERM, only Ctrl-C stops the service");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
