//! Sends due alerts and retries failed ones with exponential backoff (base × 2^attempt, at
//! most 5 minutes) until `alerts.max_attempts`. A claimed alert gets a lease (its next
//! attempt is pushed out before sending), so a crash mid-send means a later retry, never a
//! lost alert; several replicas never send the same alert at the same time. Every
//! `alerts.reminder_scan_secs` it also queues reminders for accepted tasks that start within
//! `alerts.reminder_lead_minutes` (one per match, however many replicas look).

use std::sync::Arc;
use std::time::Duration;

use spontan_platform::ApiError;
use spontan_proto::v1::AlertChannel;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{AlertKind, Notifier, Outgoing, SendError};
use crate::config::AlertsConfig;
use crate::domain::{Status, Volunteer};
use crate::store::alerts::{self as queue, Due};
use crate::volunteers::Registry;

const BATCH: i64 = 32;
const POLL: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// A period checked from a loop that wakes for other reasons too: due at start, then every
/// `period` (never faster).
struct Every {
    period: Duration,
    next: std::time::Instant,
}

impl Every {
    fn new(period: Duration) -> Self {
        Self {
            period,
            next: std::time::Instant::now(),
        }
    }

    /// Whether the period is due now; if so, the next one starts.
    fn tick_now(&mut self) -> bool {
        let now = std::time::Instant::now();
        if now < self.next {
            return false;
        }
        self.next = now + self.period;
        true
    }
}

pub struct Dispatcher {
    pub registry: Registry,
    pub notifier: Arc<dyn Notifier>,
    pub config: AlertsConfig,
    pub wake: Arc<Notify>,
}

impl Dispatcher {
    /// Runs until shutdown.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let mut reminders = this.reminder_timer();
        loop {
            if let Some(timer) = &mut reminders
                && timer.tick_now()
            {
                this.queue_reminders().await;
            }
            match this.claim().await {
                Ok(due) if !due.is_empty() => {
                    let mut sends = JoinSet::new();
                    for alert in due {
                        let this = this.clone();
                        sends.spawn(async move { this.deliver(alert).await });
                    }
                    while sends.join_next().await.is_some() {}
                    continue;
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "alerts could not be claimed"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = this.wake.notified() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
        }
        tracing::info!("alert dispatcher stopped");
    }

    /// When to look for due reminders (`None` with `alerts.reminder_lead_minutes` 0).
    fn reminder_timer(&self) -> Option<Every> {
        (self.config.reminder_lead_minutes > 0)
            .then(|| Every::new(Duration::from_secs(self.config.reminder_scan_secs)))
    }

    /// Queues reminders for accepted tasks that start within the lead time.
    async fn queue_reminders(&self) {
        let lead = f64::from(self.config.reminder_lead_minutes) * 60.0;
        match queue::queue_reminders(&self.registry.pool, lead).await {
            Ok(0) => {}
            Ok(queued) => tracing::info!(queued, "reminders queued"),
            Err(error) => tracing::warn!(%error, "reminders could not be queued, retried later"),
        }
    }

    fn lease(&self) -> Duration {
        Duration::from_millis(self.config.send_timeout_ms) * 2
    }

    async fn claim(&self) -> Result<Vec<Due>, sqlx::Error> {
        queue::claim(&self.registry.pool, self.lease().as_secs_f64(), BATCH).await
    }

    async fn deliver(&self, due: Due) {
        let result = self.try_deliver(&due).await;
        let label = match &result {
            Ok(Some(_)) => "sent",
            Ok(None) => "skipped",
            Err(SendError::Gone) => "gone",
            Err(SendError::Rejected(_)) => "rejected",
            Err(_) => "failed_attempt",
        };
        metrics::counter!("registration_alert_attempts_total", "outcome" => label).increment(1);
        let outcome = match result {
            Ok(Some(channel)) => self.finish(due.id, "sent", Some(channel), None, None).await,
            Ok(None) => self.finish(due.id, "skipped", None, None, None).await,
            Err(error) if error.is_permanent() => {
                // The volunteer's address stays as it is: the app sends a fresh subscription
                // through UpdateMyProfile when it subscribes again.
                tracing::warn!(alert_id = due.id, %error, attempts = due.attempts, "alert not deliverable, not retried");
                self.finish(due.id, "failed", None, Some(error.to_string()), None)
                    .await
            }
            Err(error)
                if u32::try_from(due.attempts).unwrap_or(u32::MAX) >= self.config.max_attempts =>
            {
                tracing::warn!(alert_id = due.id, %error, attempts = due.attempts, "alert given up");
                self.finish(due.id, "failed", None, Some(error.to_string()), None)
                    .await
            }
            Err(error) => {
                let backoff = self.backoff(due.attempts);
                tracing::info!(alert_id = due.id, %error, retry_in_ms = backoff.as_millis(), "alert send failed, will retry");
                self.finish(
                    due.id,
                    "pending",
                    None,
                    Some(error.to_string()),
                    Some(backoff),
                )
                .await
            }
        };
        if let Err(error) = outcome {
            // The lease runs out and the alert is tried again.
            tracing::warn!(alert_id = due.id, %error, "alert outcome not stored");
        }
    }

    /// `Ok(Some(channel))` when sent, `Ok(None)` when there is nobody to send to any more.
    async fn try_deliver(&self, due: &Due) -> Result<Option<AlertChannel>, SendError> {
        let volunteer = match self.registry.get(due.volunteer_id).await {
            Ok(v) => v,
            Err(ApiError::Unauthenticated) => return Ok(None),
            Err(_) => return Err(SendError::Unreachable),
        };
        let kind = match due.kind.as_str() {
            "offer" => AlertKind::Offer,
            "message" => AlertKind::Message,
            "reminder" => AlertKind::Reminder,
            _ => AlertKind::Withdrawn,
        };
        if kind == AlertKind::Offer && volunteer.status == Status::Paused {
            return Ok(None);
        }
        let Some(to) = address(&volunteer) else {
            return Ok(None);
        };
        let channel = volunteer.profile.channel;
        let alert = Outgoing {
            alert_id: due.id,
            kind,
            channel,
            to,
            display_name: volunteer.profile.contact.display_name.clone(),
            match_id: due.match_id.to_string(),
            task_title: due.task_title.clone(),
            expires_at: due.offer_expires_at,
            text: Outgoing::compose(
                kind,
                &due.task_title,
                due.offer_expires_at,
                due.body.as_deref(),
            ),
        };
        match self.send(&alert).await {
            Ok(()) => Ok(Some(channel)),
            // The app was uninstalled or its subscription refused for good: SMS or e-mail
            // stays the way to reach the volunteer, so the offer goes there instead of
            // nowhere. A fallback that fails too leaves the push's own error, which is not
            // retried (the subscription will not come back by itself).
            Err(error) if channel == AlertChannel::AppPush && error.is_permanent() => {
                let Some((fallback, to)) = fallback_address(&volunteer) else {
                    return Err(error);
                };
                tracing::info!(alert_id = due.id, %error, fallback = fallback.as_str_name(), "app push undeliverable, falling back");
                let alert = Outgoing {
                    channel: fallback,
                    to,
                    ..alert
                };
                match self.send(&alert).await {
                    Ok(()) => Ok(Some(fallback)),
                    Err(fallback_error) => {
                        tracing::warn!(alert_id = due.id, %fallback_error, "fallback failed too");
                        Err(error)
                    }
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Sends one alert within the send timeout.
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError> {
        let timeout = Duration::from_millis(self.config.send_timeout_ms);
        match tokio::time::timeout(timeout, self.notifier.send(alert)).await {
            Ok(Ok(())) => {
                tracing::info!(
                    alert_id = alert.alert_id,
                    channel = alert.channel.as_str_name(),
                    "alert sent"
                );
                Ok(())
            }
            Ok(Err(error)) => Err(error),
            Err(_) => Err(SendError::Timeout),
        }
    }

    fn backoff(&self, attempts: i32) -> Duration {
        let exponent = u32::try_from(attempts.saturating_sub(1))
            .unwrap_or(0)
            .min(16);
        (Duration::from_millis(self.config.retry_base_ms) * 2u32.pow(exponent)).min(MAX_BACKOFF)
    }

    async fn finish(
        &self,
        id: i64,
        status: &str,
        channel: Option<AlertChannel>,
        error: Option<String>,
        retry_in: Option<Duration>,
    ) -> Result<(), sqlx::Error> {
        queue::finish(
            &self.registry.pool,
            id,
            status,
            channel.map(|c| c as i16),
            error,
            retry_in.unwrap_or_default().as_secs_f64(),
        )
        .await
    }
}

/// Where an undeliverable app push goes instead: SMS to the phone, else e-mail.
fn fallback_address(v: &Volunteer) -> Option<(AlertChannel, String)> {
    let c = &v.profile.contact;
    c.phone_e164
        .clone()
        .map(|phone| (AlertChannel::Sms, phone))
        .or_else(|| c.email.clone().map(|email| (AlertChannel::Email, email)))
}

/// The address of the volunteer's preferred channel (messengers fall back to the phone).
fn address(v: &Volunteer) -> Option<String> {
    let c = &v.profile.contact;
    match v.profile.channel {
        AlertChannel::Sms => c.phone_e164.clone(),
        AlertChannel::Email => c.email.clone(),
        AlertChannel::Signal => c.signal_phone_e164.clone().or_else(|| c.phone_e164.clone()),
        AlertChannel::Whatsapp => c
            .whatsapp_phone_e164
            .clone()
            .or_else(|| c.phone_e164.clone()),
        AlertChannel::Telegram => c.telegram_chat_id.clone(),
        AlertChannel::AppPush => c.push_token.clone(),
        AlertChannel::Unspecified => None,
    }
}
