//! Alerts to volunteers: offers (and withdrawn offers) from `spontan.match.v1` sent through
//! the volunteer's preferred channel.
//!
//! The path has two halves so that a slow or broken gateway never holds up the consumer:
//! [`consumer`] turns match events into rows of the `alerts` table (in the transaction that
//! marks the event processed), and [`dispatcher`] sends due rows through a [`Notifier`],
//! retrying with exponential backoff. E-mail goes through [`smtp`]; app push to the web app
//! (a browser's Web Push subscription as push token) through [`web_push`]; SMS, Signal,
//! Telegram, WhatsApp and other app push tokens (FCM, APNs) through the messaging gateway's
//! [`webhook`]. The relay and the gateway are reached over TLS ([`tls`]: whom they trust),
//! in clear only on loopback.

pub mod consumer;
pub mod dispatcher;
pub mod smtp;
pub mod tls;
pub mod web_push;
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
    /// A message from a coordinator to the volunteers of a task or incident
    /// ([`crate::messages`]).
    Message,
    /// The volunteer's accepted task starts soon.
    Reminder,
    /// A one-time code that confirms the contact (never queued: sent while the volunteer
    /// waits, [`crate::confirmation`]).
    Verification,
}

impl AlertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Offer => "offer",
            Self::Withdrawn => "withdrawn",
            Self::Message => "message",
            Self::Reminder => "reminder",
            Self::Verification => "verification",
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
    /// For a message, `body` is the coordinator's text; for a reminder, `at` is when the task
    /// starts.
    pub fn compose(
        kind: AlertKind,
        task_title: &str,
        expires_at: Option<DateTime<Utc>>,
        body: Option<&str>,
    ) -> String {
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
            AlertKind::Message => {
                // Line breaks stay (SMS, e-mail and push show them); nothing else unprintable.
                let body: String = body
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| *c == '\n' || !c.is_control())
                    .collect();
                if title.is_empty() {
                    format!(
                        "Spontan – Nachricht der Einsatzleitung / message from the coordinators:\n{body}"
                    )
                } else {
                    format!("Spontan – Nachricht zu „{title}“ / message about \"{title}\":\n{body}")
                }
            }
            AlertKind::Reminder => {
                let at = expires_at
                    .map(|t| {
                        format!(
                            " um {} UTC / at {} UTC",
                            t.format("%H:%M"),
                            t.format("%H:%M")
                        )
                    })
                    .unwrap_or_default();
                format!(
                    "Spontan: Erinnerung – dein Einsatz „{title}“ beginnt bald{at}. Kannst du nicht \
                     kommen, sag bitte in der App ab. Reminder: your task \"{title}\" starts soon. \
                     Cannot come? Please say so in the app."
                )
            }
            // The code is not stored; its text is made when it is sent ([`Self::code_text`]).
            AlertKind::Verification => String::new(),
        }
    }

    /// The text of a contact code, in German and English; it tells who asked, so that a
    /// code nobody asked for can be ignored.
    pub fn code_text(code: &str) -> String {
        format!(
            "Spontan: Dein Bestätigungscode ist {code} (10 Minuten gültig). Nicht angefordert? \
             Ignoriere diese Nachricht. Your confirmation code is {code} (valid 10 minutes)."
        )
    }
}

/// Why a send failed, without personal data (it is stored and logged).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("channel not configured")]
    NotConfigured,
    #[error("receiver unreachable")]
    Unreachable,
    /// The receiver's certificate was not trusted (or no TLS could be agreed): retried, since
    /// the fix (a renewed certificate, `alerts.*_ca_file`) is on the operator's side.
    #[error("tls handshake failed")]
    Tls,
    #[error("receiver refused with {0}")]
    Refused(String),
    #[error("send timed out")]
    Timeout,
    /// The address no longer exists (a push subscription answered 404 or 410).
    #[error("address gone")]
    Gone,
    /// The receiver will never take this message (a malformed request or address).
    #[error("receiver rejected with {0}")]
    Rejected(String),
}

impl SendError {
    /// Whether sending again cannot help: such an alert fails at once instead of being retried.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Self::Gone | Self::Rejected(_))
    }
}

/// A way to deliver an alert. Implementations must be safe to retry: the same `alert_id`
/// may be sent more than once after an unclear failure.
#[async_trait]
pub trait Notifier: Send + Sync + 'static {
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError>;
}

/// Picks the notifier of a channel: e-mail over SMTP, app push with a Web Push subscription
/// over Web Push (when it is configured), everything else over the gateway.
pub struct Router {
    pub email: Option<Box<dyn Notifier>>,
    pub web_push: Option<Box<dyn Notifier>>,
    pub gateway: Option<Box<dyn Notifier>>,
}

#[async_trait]
impl Notifier for Router {
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError> {
        let notifier = match alert.channel {
            AlertChannel::Email => self.email.as_ref(),
            AlertChannel::AppPush
                if self.web_push.is_some() && web_push::subscription(&alert.to).is_some() =>
            {
                self.web_push.as_ref()
            }
            _ => self.gateway.as_ref(),
        };
        notifier.ok_or(SendError::NotConfigured)?.send(alert).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Remembers which notifier the router chose.
    struct Named(&'static str, Arc<Mutex<Vec<&'static str>>>);

    #[async_trait]
    impl Notifier for Named {
        async fn send(&self, _: &Outgoing) -> Result<(), SendError> {
            self.1.lock().expect("lock").push(self.0);
            Ok(())
        }
    }

    fn router(web_push: bool, seen: &Arc<Mutex<Vec<&'static str>>>) -> Router {
        let named = |name| Some(Box::new(Named(name, seen.clone())) as Box<dyn Notifier>);
        Router {
            email: named("email"),
            web_push: if web_push { named("web_push") } else { None },
            gateway: named("gateway"),
        }
    }

    fn alert(channel: AlertChannel, to: &str) -> Outgoing {
        Outgoing {
            alert_id: 1,
            kind: AlertKind::Offer,
            channel,
            to: to.into(),
            display_name: String::new(),
            match_id: String::new(),
            task_title: String::new(),
            expires_at: None,
            text: String::new(),
        }
    }

    #[tokio::test]
    async fn subscriptions_go_through_web_push_and_other_push_tokens_through_the_gateway() {
        let subscription =
            r#"{"endpoint":"https://push.example/s","keys":{"p256dh":"p","auth":"a"}}"#;
        let seen = Arc::new(Mutex::new(Vec::new()));
        let on = router(true, &seen);
        for (channel, to) in [
            (AlertChannel::AppPush, subscription),
            (AlertChannel::AppPush, "fcm-registration-token"),
            (AlertChannel::Email, "a@example.org"),
            (AlertChannel::Sms, "+4915112345678"),
        ] {
            on.send(&alert(channel, to)).await.expect("sent");
        }
        assert_eq!(
            *seen.lock().expect("lock"),
            ["web_push", "gateway", "email", "gateway"]
        );

        // Web Push off: a subscription goes where every push token went before.
        seen.lock().expect("lock").clear();
        router(false, &seen)
            .send(&alert(AlertChannel::AppPush, subscription))
            .await
            .expect("sent");
        assert_eq!(*seen.lock().expect("lock"), ["gateway"]);
    }
}
