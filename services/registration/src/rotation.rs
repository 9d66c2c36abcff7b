//! Master-key rotation without downtime: moves every data key wrapped by an earlier master
//! key (`privacy.previous_master_keys`) to the current one (`privacy.master_key`).
//!
//! Only the wrapped data key, its nonce and the key id change; the contact ciphertext, the
//! version and `updated_at` stay as they are, so a re-wrap is not activity, publishes nothing
//! and cannot lose a concurrent profile change. Each batch is one transaction that locks its
//! rows with `FOR UPDATE SKIP LOCKED`: requests keep being served (they read rows under
//! either key id), and a change that re-seals a row meanwhile already uses the current key.
//! The service runs [`run`] in the background; `spontan-registration rewrap-keys` runs
//! [`rewrap_all`] once for an operator who wants to know when it is done.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::crypto::{Vault, WrappedKey};
use crate::store::keys;

/// Why a batch failed.
#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// What a run of [`rewrap_all`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rewrapped {
    /// Rows moved to the current master key.
    pub rewrapped: u64,
    /// Rows that could not be re-wrapped: their key id is not configured (add it to
    /// `previous_master_keys`) or their wrapped key does not authenticate. They are logged
    /// with their volunteer id and stay as they are.
    pub failed: Vec<Uuid>,
}

/// Re-wraps at most `batch` rows not under the current key, leaving out `skip`, in one
/// transaction.
pub async fn rewrap_batch(
    pool: &PgPool,
    vault: &Vault,
    batch: u32,
    skip: &[Uuid],
) -> Result<Rewrapped, RotationError> {
    let mut tx = pool.begin().await?;
    let rows = keys::lock_due(&mut tx, vault.current_key_id(), i64::from(batch), skip).await?;
    let mut done = Rewrapped::default();
    for (id, sealed) in rows {
        match vault.rewrap(id, &sealed) {
            Ok(Some(WrappedKey {
                wrapped_key,
                wrapped_key_nonce,
            })) => {
                keys::store_rewrapped(
                    &mut tx,
                    id,
                    &wrapped_key,
                    &wrapped_key_nonce,
                    vault.current_key_id(),
                )
                .await?;
                done.rewrapped += 1;
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(volunteer_id = %id, key_id = sealed.key_id, %error, "data key cannot be re-wrapped");
                done.failed.push(id);
            }
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Re-wraps batch after batch until every row is under the current key or has failed once.
pub async fn rewrap_all(
    pool: &PgPool,
    vault: &Vault,
    batch: u32,
) -> Result<Rewrapped, RotationError> {
    let mut total = Rewrapped::default();
    loop {
        let done = rewrap_batch(pool, vault, batch, &total.failed).await?;
        total.rewrapped += done.rewrapped;
        let progress = done.rewrapped > 0 || !done.failed.is_empty();
        total.failed.extend(done.failed);
        if !progress {
            return Ok(total);
        }
    }
}

/// How many live rows carry each key id: what an operator checks before dropping an old key.
pub async fn key_usage(pool: &PgPool) -> Result<Vec<(String, i64)>, RotationError> {
    Ok(keys::usage(pool).await?)
}

/// Re-wraps everything due every `every` until shutdown. When nothing is due a pass is one
/// query that finds no row.
pub async fn run(
    pool: PgPool,
    vault: Vault,
    batch: u32,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            result = rewrap_all(&pool, &vault, batch) => match result {
                Ok(done) if done.rewrapped > 0 || !done.failed.is_empty() => tracing::info!(
                    rewrapped = done.rewrapped,
                    failed = done.failed.len(),
                    key_id = vault.current_key_id(),
                    "data keys re-wrapped to the current master key"
                ),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "re-wrap sweep failed"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
