//! Alerts to volunteers: offers (and withdrawn offers) from `spontan.match.v1` sent through
//! the volunteer's preferred channel.
//!
//! The path has two halves so that a slow or broken gateway never holds up the consumer:
//! [`consumer`] turns match events into rows of the `alerts` table (in the transaction that
//! marks the event processed), and [`dispatcher`] sends due rows through a [`Notifier`],
//! retrying with exponential backoff. E-mail goes through [`smtp`]; SMS, Signal, Telegram,
//! WhatsApp and app push go through the messaging gateway's [`webhook`].

pub mod consumer;
pub mod dispatcher;
pub mod smtp;
pub mod webhook;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use spontan_proto::v1::AlertChannel;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertKind {
    /// A task is offered; the volunteer answers in the app.
    Offer,
    /// An offer or accepted match was withdrawn by the system.
    Withdrawn,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Withdrawn => "withdrawn",
        }
    }
}

/// One message to one volunteer, with the address already decrypted.
#[derive(Debug, Clone, Serialize)]
pub struct Outgoing {
    /// Stable across retries: gateways deduplicate by it (`Idempotency-Key`).
    pub alert_id: i64,
    pub kind: AlertKind,
    #[serde(serialize_with = "channel_name")]
    pub channel: AlertChannel,
    /// Phone number, e-mail address, chat id or push token, as the channel needs.
    pub to: String,
    pub display_name: String,
    pub match_id: String,
    pub task_title: String,
    pub expires_at: Option<DateTime<Utc>>,
    /// The ready-made text, for channels that just relay it.
    pub text: String,
}

fn channel_name<S: serde::Serializer>(c: &AlertChannel, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str_name())
}

impl Outgoing {
    /// The alert text, in German first (the suite's home) and English.
    pub fn compose(kind: AlertKind, task_title: &str, expires_at: Option<DateTime<Utc>>) -> String {
        let title: String = task_title.chars().filter(|c| !c.is_control()).collect();
        match kind {
            AlertKind::Offer => {
                let until = expires_at
                    .map(|t| {
                        format!(
                            " (bis {} UTC / until {} UTC)",
                            t.format("%H:%M"),
                            t.format("%H:%M")
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "Spontan: Einsatzangebot „{title}“ – bitte in der App annehmen oder ablehnen{until}. \
                     Task offered: \"{title}\" – please accept or decline in the app."
                )
            }
            AlertKind::Withdrawn => format!(
                "Spontan: Der Einsatz „{title}“ wurde zurückgezogen, du wirst nicht mehr gebraucht. \
                 The task \"{title}\" was withdrawn; you are no longer needed."
            ),
        }
    }
}

/// Why a send failed, without personal data (it is stored and logged).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("channel not configured")]
    NotConfigured,
    #[error("receiver unreachable")]
    Unreachable,
    #[error("receiver refused with {0}")]
    Refused(String),
    #[error("send timed out")]
    Timeout,
}

/// A way to deliver an alert. Implementations must be safe to retry: the same `alert_id`
/// may be sent more than once after an unclear failure.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError>;
}

/// Picks the notifier of a channel: e-mail over SMTP, everything else over the gateway.
pub struct Router {
    pub email: Option<Box<dyn Notifier>>,
    pub gateway: Option<Box<dyn Notifier>>,
}

#[async_trait]
impl Notifier for Router {
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError> {
        let notifier = match alert.channel {
            AlertChannel::Email => self.email.as_ref(),
            _ => self.gateway.as_ref(),
        };
        notifier.ok_or(SendError::NotConfigured)?.send(alert).await
    }
}
