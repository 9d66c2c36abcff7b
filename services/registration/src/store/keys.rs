//! Master-key rotation ([`crate::rotation`]): finding data keys wrapped by an earlier master
//! key and storing them re-wrapped. Only the wrapped key, its nonce and the key id are
//! written; the contact ciphertext, the version and `updated_at` stay as they are.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::crypto::Sealed;

/// Locks and returns at most `limit` sealed contacts whose data key is not wrapped by
/// `current_key_id`, leaving out `skip` and rows locked by someone else.
pub async fn lock_due(
    conn: &mut PgConnection,
    current_key_id: &str,
    limit: i64,
    skip: &[Uuid],
) -> Result<Vec<(Uuid, Sealed)>, sqlx::Error> {
    // `wrapped_key IS NOT NULL` leaves out erased rows; a live row has all five columns, and
    // a NULL among them would be an error, as it always was.
    let rows = sqlx::query!(
        r#"SELECT id, contact_ciphertext AS "contact_ciphertext!", contact_nonce AS "contact_nonce!",
           wrapped_key AS "wrapped_key!", wrapped_key_nonce AS "wrapped_key_nonce!",
           key_id AS "key_id!"
           FROM volunteers WHERE wrapped_key IS NOT NULL AND key_id <> $1 AND id <> ALL($3)
           ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED"#,
        current_key_id,
        limit,
        skip,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let sealed = Sealed {
                ciphertext: r.contact_ciphertext,
                nonce: r.contact_nonce,
                wrapped_key: r.wrapped_key,
                wrapped_key_nonce: r.wrapped_key_nonce,
                key_id: r.key_id,
            };
            (r.id, sealed)
        })
        .collect())
}

/// Stores a data key re-wrapped by the master key `key_id`.
pub async fn store_rewrapped(
    conn: &mut PgConnection,
    id: Uuid,
    wrapped_key: &[u8],
    wrapped_key_nonce: &[u8],
    key_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE volunteers SET wrapped_key = $2, wrapped_key_nonce = $3, key_id = $4 \
         WHERE id = $1",
        id,
        wrapped_key,
        wrapped_key_nonce,
        key_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// How many rows carry each key id, by key id.
pub async fn usage(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT key_id AS "key_id!", count(*) AS "count!" FROM volunteers
           WHERE key_id IS NOT NULL GROUP BY key_id ORDER BY key_id"#,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|r| (r.key_id, r.count)).collect())
}
