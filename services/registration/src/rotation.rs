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

use crate::crypto::{Sealed, Vault, WrappedKey};

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

type DueRow = (Uuid, Vec<u8>, Vec<u8>, Vec<u8>, Vec<u8>, String);

/// Re-wraps at most `batch` rows not under the current key, leaving out `skip`, in one
/// transaction.
pub async fn rewrap_batch(
    pool: &PgPool,
    vault: &Vault,
    batch: u32,
    skip: &[Uuid],
) -> Result<Rewrapped, RotationError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<DueRow> = sqlx::query_as(
        "SELECT id, contact_ciphertext, contact_nonce, wrapped_key, wrapped_key_nonce, key_id \
         FROM volunteers WHERE wrapped_key IS NOT NULL AND key_id <> $1 AND id <> ALL($3) \
         ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(vault.current_key_id())
    .bind(i64::from(batch))
    .bind(skip)
    .fetch_all(&mut *tx)
    .await?;
    let mut done = Rewrapped::default();
    for (id, ciphertext, nonce, wrapped_key, wrapped_key_nonce, key_id) in rows {
        let sealed = Sealed {
            ciphertext,
            nonce,
            wrapped_key,
            wrapped_key_nonce,
            key_id,
        };
        match vault.rewrap(id, &sealed) {
            Ok(Some(WrappedKey {
                wrapped_key,
                wrapped_key_nonce,
            })) => {
                sqlx::query(
                    "UPDATE volunteers SET wrapped_key = $2, wrapped_key_nonce = $3, key_id = $4 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(wrapped_key)
                .bind(wrapped_key_nonce)
                .bind(vault.current_key_id())
                .execute(&mut *tx)
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
    Ok(sqlx::query_as(
        "SELECT key_id, count(*) FROM volunteers WHERE key_id IS NOT NULL \
         GROUP BY key_id ORDER BY key_id",
    )
    .fetch_all(pool)
    .await?)
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
