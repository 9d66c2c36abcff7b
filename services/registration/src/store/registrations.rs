//! The group commit's statements ([`crate::commit`]): each writes a whole batch of
//! registrations with one statement, every column bound as one array and unpacked by `UNNEST`.

use std::collections::HashSet;

use spontan_platform::ApiError;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::commit::NewVolunteer;

/// Separates the elements of `skill_ids` and `languages` when a batch ships them as one text
/// per row (`UNNEST` cannot take arrays of arrays): neither a skill id from the taxonomy nor a
/// canonical language tag can contain it.
const ARRAY_SEPARATOR: &str = "\u{1f}";

/// The earliest live volunteer holding each of the hashes: `(true, hash, id)` for a phone
/// hash, `(false, hash, id)` for an e-mail hash; hashes nobody holds are left out.
///
/// One index probe per hash, each reading the first entry in `created_at` order: the plan
/// is the same whatever the statistics say (an `= ANY(...)` over the batch's hashes was
/// planned as a scan of the whole table when they were stale).
pub async fn earliest_holders(
    conn: &mut PgConnection,
    phones: &[&[u8]],
    emails: &[&[u8]],
) -> Result<Vec<(bool, Vec<u8>, Uuid)>, sqlx::Error> {
    // The lateral join only yields a row for a hash equal to a stored one, so no column is
    // ever NULL.
    let rows = sqlx::query!(
        r#"SELECT true AS "phone!", p.hash AS "hash!", v.id AS "id!"
           FROM unnest($1::bytea[]) AS p(hash)
           CROSS JOIN LATERAL (SELECT id FROM volunteers
             WHERE phone_hash = p.hash AND status <> 'erased' ORDER BY created_at LIMIT 1) v
           UNION ALL
           SELECT false, e.hash, v.id FROM unnest($2::bytea[]) AS e(hash)
           CROSS JOIN LATERAL (SELECT id FROM volunteers
             WHERE email_hash = e.hash AND status <> 'erased' ORDER BY created_at LIMIT 1) v"#,
        phones as &[&[u8]],
        emails as &[&[u8]],
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.phone, r.hash, r.id)).collect())
}

fn joined(values: &[String]) -> Result<String, ApiError> {
    if values.iter().any(|v| v.contains(ARRAY_SEPARATOR)) {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "a validated skill id or language tag contains the array separator"
        )));
    }
    Ok(values.join(ARRAY_SEPARATOR))
}

/// One column of a batch, for an `UNNEST` parameter.
fn column<'a, T>(volunteers: &[&'a NewVolunteer], f: impl Fn(&'a NewVolunteer) -> T) -> Vec<T> {
    volunteers.iter().map(|v| f(v)).collect()
}

/// Inserts the volunteers, `duplicates[i]` being the earlier volunteer `volunteers[i]`
/// shares a phone or e-mail with.
pub async fn insert_volunteers(
    conn: &mut PgConnection,
    volunteers: &[&NewVolunteer],
    duplicates: &[Option<Uuid>],
) -> Result<(), ApiError> {
    let skills = volunteers
        .iter()
        .map(|v| joined(&v.profile.skill_ids))
        .collect::<Result<Vec<_>, _>>()?;
    let languages = volunteers
        .iter()
        .map(|v| joined(&v.profile.languages))
        .collect::<Result<Vec<_>, _>>()?;
    // The casts name the Rust types of the array parameters whose elements are borrowed or
    // nullable, which the macros do not infer from an array's SQL type.
    sqlx::query!(
        "INSERT INTO volunteers (id, status, skill_ids, languages, birth_year, approx_latitude, \
         approx_longitude, travel_radius_km, preferred_channel, contact_ciphertext, contact_nonce, \
         wrapped_key, wrapped_key_nonce, key_id, phone_hash, email_hash, duplicate_of, \
         consent_text_version, consent_given_at, created_at, updated_at, version) \
         SELECT id, 'active', string_to_array(skills, $19), string_to_array(languages, $19), \
         birth_year, lat, lon, radius, channel, ciphertext, nonce, wrapped_key, wrapped_nonce, \
         key_id, phone_hash, email_hash, duplicate_of, consent, at, at, at, 1 \
         FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[], $5::float8[], $6::float8[], \
         $7::float8[], $8::int2[], $9::bytea[], $10::bytea[], $11::bytea[], $12::bytea[], \
         $13::text[], $14::bytea[], $15::bytea[], $16::uuid[], $17::text[], $18::timestamptz[]) \
         AS r(id, skills, languages, birth_year, lat, lon, radius, channel, ciphertext, nonce, \
         wrapped_key, wrapped_nonce, key_id, phone_hash, email_hash, duplicate_of, consent, at)",
        &column(volunteers, |v| v.id),
        &skills,
        &languages,
        &column(volunteers, |v| v.profile.birth_year),
        &column(volunteers, |v| {
            crate::domain::approximate(v.profile.contact.home_latitude)
        }),
        &column(volunteers, |v| {
            crate::domain::approximate(v.profile.contact.home_longitude)
        }),
        &column(volunteers, |v| v.profile.travel_radius_km),
        &column(volunteers, |v| v.profile.channel as i16),
        column(volunteers, |v| v.sealed.ciphertext.as_slice()) as Vec<&[u8]>,
        column(volunteers, |v| v.sealed.nonce.as_slice()) as Vec<&[u8]>,
        column(volunteers, |v| v.sealed.wrapped_key.as_slice()) as Vec<&[u8]>,
        column(volunteers, |v| v.sealed.wrapped_key_nonce.as_slice()) as Vec<&[u8]>,
        column(volunteers, |v| v.sealed.key_id.as_str()) as Vec<&str>,
        column(volunteers, |v| v.lookup.phone_hash.as_deref()) as Vec<Option<&[u8]>>,
        column(volunteers, |v| v.lookup.email_hash.as_deref()) as Vec<Option<&[u8]>>,
        duplicates as &[Option<Uuid>],
        column(volunteers, |v| v.consent_text_version.as_str()) as Vec<&str>,
        &column(volunteers, |v| v.now),
        ARRAY_SEPARATOR,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Inserts the availability windows of all the volunteers.
pub async fn insert_windows(
    conn: &mut PgConnection,
    volunteers: &[&NewVolunteer],
) -> Result<(), sqlx::Error> {
    let rows = volunteers
        .iter()
        .flat_map(|v| v.windows.iter().map(move |w| (v.id, w.start, w.end)));
    let (ids, (starts, ends)): (Vec<Uuid>, (Vec<_>, Vec<_>)) =
        rows.map(|(id, s, e)| (id, (s, e))).unzip();
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "INSERT INTO availability (volunteer_id, start_time, end_time) \
         SELECT * FROM UNNEST($1::uuid[], $2::timestamptz[], $3::timestamptz[])",
        &ids,
        &starts,
        &ends,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Claims the idempotency keys; the set of those this transaction got (a key claimed by a
/// concurrent transaction is waited for, then missing here).
pub async fn claim_keys(
    conn: &mut PgConnection,
    volunteers: &[&NewVolunteer],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let claimed = sqlx::query_scalar!(
        "INSERT INTO idempotency_keys (idempotency_key, volunteer_id, fingerprint) \
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::bytea[]) \
         ON CONFLICT DO NOTHING RETURNING idempotency_key",
        &column(volunteers, |v| v.idempotency_key),
        &column(volunteers, |v| v.id),
        column(volunteers, |v| v.fingerprint.as_slice()) as Vec<&[u8]>,
    )
    .fetch_all(conn)
    .await?;
    Ok(claimed.into_iter().collect())
}

/// Opens the first session of each volunteer.
pub async fn open_sessions(
    conn: &mut PgConnection,
    volunteers: &[&NewVolunteer],
) -> Result<(), sqlx::Error> {
    let sessions: Vec<super::sessions::NewSession> =
        volunteers.iter().map(|v| v.session.clone()).collect();
    super::sessions::create_many(conn, &sessions).await
}
