//! The markers (a distinctive value in every personal field of two volunteers) and the
//! scanners that look for them in topics and databases.

use rdkafka::Message;
use rdkafka::message::Headers;
use spontan_platform::config::KafkaConfig;
use spontan_platform::testkit;
use spontan_proto::v1::*;
use tokio_util::sync::CancellationToken;

/// Personal values of one volunteer, each unlike anything else the suite writes.
pub(super) struct Markers {
    pub(super) name: &'static str,
    pub(super) phone: &'static str,
    pub(super) email: &'static str,
    pub(super) signal: &'static str,
    pub(super) whatsapp: &'static str,
    pub(super) telegram: &'static str,
    pub(super) push: &'static str,
    /// Exact home location; events carry it rounded to 3 decimals.
    pub(super) latitude: f64,
    pub(super) longitude: f64,
    /// A name the volunteer changes to later.
    pub(super) new_name: &'static str,
}

pub(super) const KEEPS: Markers = Markers {
    name: "Quorvina Zeltmarker",
    phone: "+4915177720413",
    email: "quorvina.zeltmarker@example.org",
    signal: "+4915177720414",
    whatsapp: "+4915177720415",
    telegram: "783201946551",
    push: "pushtok-QZM-5f1e9c",
    latitude: 50.543_183_7,
    longitude: 7.112_946_1,
    new_name: "Quorvina Neumarker",
};

pub(super) const ERASES: Markers = Markers {
    name: "Xaverio Pflockmarker",
    phone: "+4915166630817",
    email: "xaverio.pflockmarker@example.net",
    signal: "+4915166630818",
    whatsapp: "+4915166630819",
    telegram: "619204837752",
    push: "pushtok-XPM-8a2d41",
    latitude: 50.546_271_9,
    longitude: 7.114_382_3,
    new_name: "Xaverio Neumarker",
};

impl Markers {
    /// Every marker as the text a leak would contain.
    pub(super) fn texts(&self) -> Vec<String> {
        vec![
            self.name.into(),
            self.phone.into(),
            self.email.into(),
            self.signal.into(),
            self.whatsapp.into(),
            self.telegram.into(),
            self.push.into(),
            self.latitude.to_string(),
            self.longitude.to_string(),
            self.new_name.into(),
        ]
    }

    pub(super) fn request(&self) -> RegisterRequest {
        RegisterRequest {
            contact: Some(Contact {
                display_name: self.name.into(),
                phone_e164: self.phone.into(),
                email: self.email.into(),
            }),
            channel_addresses: Some(ChannelAddresses {
                signal_phone_e164: self.signal.into(),
                whatsapp_phone_e164: self.whatsapp.into(),
                telegram_chat_id: self.telegram.into(),
                push_token: self.push.into(),
            }),
            birth_year: 1988,
            ..spontan_e2e::registration(
                self.name,
                self.phone,
                GeoPoint {
                    latitude: self.latitude,
                    longitude: self.longitude,
                },
            )
        }
    }
}

/// The markers found in `haystack`.
pub(super) fn found(haystack: &[u8], markers: &[String]) -> Vec<String> {
    markers
        .iter()
        .filter(|m| haystack.windows(m.len()).any(|w| w == m.as_bytes()))
        .cloned()
        .collect()
}

/// One record as read from the broker.
pub(super) struct RawRecord {
    pub(super) key: Vec<u8>,
    /// Key, header names and values, and value bytes, one after the other.
    pub(super) blob: Vec<u8>,
    pub(super) tombstone: bool,
}

/// Every record of `topic` from the beginning.
pub(super) fn raw_topic(
    kafka: &KafkaConfig,
    topic: &str,
    stop: CancellationToken,
) -> tokio::sync::mpsc::UnboundedReceiver<RawRecord> {
    let consumer = testkit::raw_reader(kafka, topic).expect("consumer");
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                message = consumer.recv() => {
                    let Ok(m) = message else { continue };
                    let mut blob = m.key().unwrap_or_default().to_vec();
                    if let Some(headers) = m.headers() {
                        for h in headers.iter() {
                            blob.extend_from_slice(h.key.as_bytes());
                            blob.extend_from_slice(h.value.unwrap_or_default());
                        }
                    }
                    blob.extend_from_slice(m.payload().unwrap_or_default());
                    let record = RawRecord {
                        key: m.key().unwrap_or_default().to_vec(),
                        blob,
                        tombstone: m.payload().is_none(),
                    };
                    if tx.send(record).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

/// `(table.column, markers found)` for every column of every table in `database` holding a
/// marker: text-like columns compared as text, bytea as bytes.
pub(super) async fn scan_database(url: &str, markers: &[String]) -> (usize, Vec<(String, String)>) {
    let pool = sqlx::PgPool::connect(url).await.expect("database");
    let columns: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text \
         FROM information_schema.columns c JOIN information_schema.tables t \
           ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
         WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
         ORDER BY 1, 2",
    )
    .fetch_all(&pool)
    .await
    .expect("columns");
    let mut hits = Vec::new();
    for (table, column, data_type) in &columns {
        let condition = if data_type == "bytea" {
            format!("position(convert_to($1, 'UTF8') in \"{column}\") > 0")
        } else {
            format!("position($1 in \"{column}\"::text) > 0")
        };
        for marker in markers {
            let count: i64 = sqlx::query_scalar(&format!(
                "SELECT count(*) FROM \"{table}\" WHERE {condition}"
            ))
            .bind(marker)
            .fetch_one(&pool)
            .await
            .expect("scan");
            if count > 0 {
                hits.push((format!("{table}.{column}"), marker.clone()));
            }
        }
    }
    pool.close().await;
    (columns.len(), hits)
}
