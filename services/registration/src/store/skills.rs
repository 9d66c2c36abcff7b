//! The skill taxonomy, as compiled into the suite.

use sqlx::PgPool;

/// Upserts the taxonomy compiled into the suite, so the table always matches the code.
pub async fn upsert_skills(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for s in spontan_platform::skills::TAXONOMY {
        sqlx::query!(
            "INSERT INTO skills (id, label_de, label_en, category) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET label_de = EXCLUDED.label_de, \
             label_en = EXCLUDED.label_en, category = EXCLUDED.category",
            s.id,
            s.label_de,
            s.label_en,
            s.category,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Skills sorted by category then id, optionally of one category.
pub async fn skills(
    pool: &PgPool,
    category: &str,
) -> Result<Vec<(String, String, String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        "SELECT id, label_de, label_en, category FROM skills \
         WHERE $1 = '' OR category = $1 ORDER BY category, id",
        category,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.id, r.label_de, r.label_en, r.category))
        .collect())
}
