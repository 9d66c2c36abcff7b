//! Export and erasure: what a volunteer can take away, and that nothing personal is left
//! once they are gone, asked for or after the retention period.

use std::time::Duration;

use prost::Message;
use spontan_platform::testkit::{authed, eventually, violated_fields};
use spontan_proto::v1::event_envelope::Payload;
use spontan_proto::v1::*;
use tonic::Code;

use super::common::*;
use super::payload;

/// The volunteer's next records on the topic are `VolunteerErased` and then a tombstone.
async fn assert_erased_then_tombstone(
    topic: &mut tokio::sync::mpsc::UnboundedReceiver<(String, Option<Vec<u8>>)>,
    volunteer_id: &str,
) {
    let records = records_for(topic, volunteer_id, 2, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 2, "erased, tombstone");
    assert!(
        matches!(payload(&records[0]), Payload::VolunteerErased(e) if e.volunteer_id == volunteer_id),
        "the first record of the volunteer is the erasure"
    );
    assert!(records[1].is_none(), "a tombstone follows");
}

/// Nothing personal left in any table: dumps every row of every table as text and looks for
/// the markers of [`valid_request`].
async fn assert_nothing_personal_left(app: &TestApp) {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&app.pool)
    .await
    .expect("tables");
    for table in &tables {
        let rows: Vec<String> = sqlx::query_scalar(&format!("SELECT t::text FROM \"{table}\" t"))
            .fetch_all(&app.pool)
            .await
            .expect("rows");
        for row in rows {
            // Parts of the phone number, chat id and coordinates, found inside longer digits
            // too; the birth year only as a number of its own, or the time stamps of every
            // row (`01:58:19.199077`) would hold it.
            for (marker, alone) in [
                ("Quixwell", false),
                ("99887766", false),
                ("zorana", false),
                ("918273645", false),
                ("1990", true),
                ("50.941", false),
            ] {
                let held = if alone {
                    holds_number(&row, marker)
                } else {
                    row.contains(marker)
                };
                assert!(!held, "{table} still holds {marker}: {row}");
            }
        }
    }
}

/// Whether `row` holds the number `number` with no other digit touching it.
fn holds_number(row: &str, number: &str) -> bool {
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    row.match_indices(number).any(|(at, _)| {
        !digit(row[..at].chars().next_back()) && !digit(row[at + number.len()..].chars().next())
    })
}

#[test]
fn a_birth_year_is_found_as_a_number_not_inside_a_time_stamp() {
    assert!(holds_number("(…,1990,…)", "1990"));
    assert!(holds_number("1990", "1990"));
    assert!(!holds_number("\"2026-12-07 01:58:19.199077+00\"", "1990"));
    assert!(!holds_number("219901", "1990"));
}

#[tokio::test]
async fn export_holds_everything_and_erasure_leaves_nothing_personal() {
    let app = TestApp::spawn().await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let mut client = app.client().await;
    let me = app.register(valid_request()).await;
    let token = me.access_token.clone();
    let registered = records_for(&mut topic, &me.volunteer_id, 1, Duration::from_secs(30)).await;
    assert!(
        matches!(
            registered.first().map(payload),
            Some(Payload::VolunteerRegistered(_))
        ),
        "the registration is published before the erasure"
    );

    let export = client
        .export_my_data(authed(ExportMyDataRequest {}, &token))
        .await
        .expect("export")
        .into_inner();
    let json: serde_json::Value = serde_json::from_str(&export.json).expect("json");
    assert_eq!(json["volunteer_id"], me.volunteer_id.as_str());
    assert_eq!(json["contact"]["display_name"], NAME_MARKER);
    assert_eq!(json["contact"]["phone_e164"], PHONE_MARKER);
    assert_eq!(json["contact"]["email"], EMAIL_MARKER);
    assert_eq!(json["channel_addresses"]["telegram_chat_id"], "918273645");
    assert_eq!(json["birth_year"], 1990);
    assert_eq!(json["home_location"]["latitude"], 50.941_278);
    assert_eq!(json["skill_ids"][1], "first_aid");
    assert_eq!(json["availability"].as_array().map(Vec::len), Some(1));
    assert_eq!(json["consent"][0]["text_version"], "2025-06-de");
    let sessions = json["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "the session Register opened");
    assert!(sessions[0]["expires_at"].is_string() && sessions[0]["revoked_at"].is_null());
    assert!(
        !export.json.contains(&me.refresh_token) && !export.json.contains("refresh_hash"),
        "no refresh token or hash in the export"
    );
    assert!(json["alerts"].is_array() && json["matches"].is_array());

    let refused = client
        .erase_me(authed(EraseMeRequest { confirm: false }, &token))
        .await
        .expect_err("needs confirm");
    assert_eq!(violated_fields(&refused), ["confirm"]);
    let erased = client
        .erase_me(authed(EraseMeRequest { confirm: true }, &token))
        .await
        .expect("erased")
        .into_inner();
    let again = client
        .erase_me(authed(EraseMeRequest { confirm: true }, &token))
        .await
        .expect("erasing twice answers the same")
        .into_inner();
    assert_eq!(erased.erased_at, again.erased_at);
    let status = client
        .get_my_profile(authed(GetMyProfileRequest {}, &token))
        .await
        .expect_err("token revoked");
    assert_eq!(status.code(), Code::Unauthenticated);

    assert_nothing_personal_left(&app).await;
    type Shredded = (String, Option<Vec<u8>>, Option<Vec<u8>>, Option<Vec<u8>>);
    let row: Shredded = sqlx::query_as(
        "SELECT status, contact_ciphertext, wrapped_key, phone_hash FROM volunteers WHERE id = $1::uuid",
    )
    .bind(&me.volunteer_id)
    .fetch_one(&app.pool)
    .await
    .expect("row");
    assert_eq!(row, ("erased".to_owned(), None, None, None));
    let audit: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM erasure_audit WHERE volunteer_id = $1::uuid AND reason = 'request'",
    )
    .bind(&me.volunteer_id)
    .fetch_one(&app.pool)
    .await
    .expect("audit");
    assert_eq!(audit, 1);

    assert_erased_then_tombstone(&mut topic, &me.volunteer_id).await;
    app.stop().await;
}

#[tokio::test]
async fn an_erasure_before_publication_keeps_the_registration_from_going_out() {
    let app = TestApp::spawn().await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    // Holding the relay's lock holds the relay back, as a second replica publishing would.
    let mut holder = app.pool.acquire().await.expect("connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(spontan_platform::outbox::RELAY_LOCK)
        .execute(&mut *holder)
        .await
        .expect("relay lock");
    let me = app.register(valid_request()).await;
    app.client()
        .await
        .erase_me(authed(EraseMeRequest { confirm: true }, &me.access_token))
        .await
        .expect("erased");

    assert_nothing_personal_left(&app).await;
    let queued: Vec<bool> =
        sqlx::query_scalar("SELECT payload IS NULL FROM outbox WHERE message_key = $1 ORDER BY id")
            .bind(&me.volunteer_id)
            .fetch_all(&app.pool)
            .await
            .expect("outbox");
    assert_eq!(
        queued,
        [false, true],
        "only the erasure and its tombstone wait"
    );

    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(spontan_platform::outbox::RELAY_LOCK)
        .execute(&mut *holder)
        .await
        .expect("unlock");
    drop(holder);
    assert_erased_then_tombstone(&mut topic, &me.volunteer_id).await;
    app.stop().await;
}

#[tokio::test]
async fn inactive_volunteers_are_erased_and_live_ones_republished_yearly() {
    let app = TestApp::spawn_with(|c| {
        c.privacy.retention_days = 30;
        c.privacy.retention_sweep_secs = 1;
    })
    .await;
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let idle = app.register(valid_request()).await;
    let busy = app.register(valid_request()).await;
    // Nothing happened for 40 days for the idle one.
    for statement in [
        "UPDATE volunteers SET updated_at = now() - interval '40 days' WHERE id = $1::uuid",
        "UPDATE volunteer_sessions SET refreshed_at = now() - interval '40 days' WHERE volunteer_id = $1::uuid",
    ] {
        sqlx::query(statement)
            .bind(&idle.volunteer_id)
            .execute(&app.pool)
            .await
            .expect("backdate");
    }
    let reason = eventually(
        Duration::from_secs(15),
        "the idle volunteer erased",
        || async {
            sqlx::query_scalar::<_, String>(
                "SELECT reason FROM erasure_audit WHERE volunteer_id = $1::uuid",
            )
            .bind(&idle.volunteer_id)
            .fetch_optional(&app.pool)
            .await
            .expect("audit")
        },
    )
    .await;
    assert_eq!(reason, "retention");
    let statuses: Vec<(String, String)> =
        sqlx::query_as("SELECT id::text, status FROM volunteers ORDER BY status")
            .fetch_all(&app.pool)
            .await
            .expect("statuses");
    assert_eq!(
        statuses,
        [
            (busy.volunteer_id.clone(), "active".to_owned()),
            (idle.volunteer_id.clone(), "erased".to_owned()),
        ]
    );
    let records = records_for(&mut topic, &idle.volunteer_id, 3, Duration::from_secs(30)).await;
    assert!(records.last().is_some_and(Option::is_none), "tombstone");

    // Last published in an earlier year: republished under a new version.
    sqlx::query(
        "UPDATE volunteers SET last_published_at = now() - interval '1 year' WHERE id = $1::uuid",
    )
    .bind(&busy.volunteer_id)
    .execute(&app.pool)
    .await
    .expect("backdate");
    let mut topic = app.read_topic(&app.config.platform.kafka.topics.volunteer);
    let records = records_for(&mut topic, &busy.volunteer_id, 2, Duration::from_secs(30)).await;
    assert_eq!(records.len(), 2, "registered, then republished");
    let envelope = EventEnvelope::decode(records[1].as_deref().expect("value")).expect("envelope");
    assert_eq!(envelope.aggregate_version, 2);
    assert!(matches!(
        envelope.payload,
        Some(Payload::VolunteerUpdated(_))
    ));
    app.stop().await;
}
