//! Confirming a contact: a one-time code sent by SMS or e-mail, typed back into the app.
//! Where `privacy.require_confirmed_contact` is on, a volunteer's events are held back until
//! then ([`Registry::published`]), so matching never learns of an unconfirmed sign-up.
//!
//! Limits: a code has 6 digits, lives [`CODE_TTL`] and allows [`MAX_TRIES`] wrong tries; a
//! new code may follow after [`RESEND_AFTER`], at most [`MAX_SENDS`] a day. Only the code's
//! keyed hash is stored, bound to the volunteer.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use spontan_platform::ApiError;
use spontan_platform::error::Reason;
use spontan_platform::outbox::enqueue;
use spontan_proto::v1::AlertChannel;
use uuid::Uuid;

use crate::alerts::{AlertKind, Notifier, Outgoing};
use crate::crypto::LookupKind;
use crate::domain::Volunteer;
use crate::events::{self, Change};
use crate::store::{self, confirmation::CodeRow};
use crate::volunteers::Registry;

/// How long a code works.
pub const CODE_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// Wrong tries a code allows.
pub const MAX_TRIES: i32 = 5;
/// The least time between two codes.
pub const RESEND_AFTER: chrono::Duration = chrono::Duration::seconds(60);
/// Codes a volunteer may ask for in [`SEND_WINDOW`].
pub const MAX_SENDS: i32 = 5;
pub const SEND_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// SendContactCode for a volunteer whose contact is confirmed already.
pub const CONTACT_ALREADY_CONFIRMED: Reason =
    Reason::new("CONTACT_ALREADY_CONFIRMED", "registration.spontan");
/// ConfirmContact without a live code: none sent, expired, or tried wrongly too often.
pub const CODE_EXPIRED: Reason = Reason::new("CODE_EXPIRED", "registration.spontan");

/// Where a code went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCode {
    pub channel: AlertChannel,
    /// The address, partly hidden.
    pub sent_to: String,
    pub expires_at: DateTime<Utc>,
    pub resend_after: DateTime<Utc>,
}

/// Sends and checks contact codes.
#[derive(Clone)]
pub struct Confirmations {
    pub registry: Registry,
    /// The SMS gateway and the e-mail relay (the alerts' [`crate::alerts::Router`]).
    pub notifier: Arc<dyn Notifier>,
}

impl std::fmt::Debug for Confirmations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmations").finish_non_exhaustive()
    }
}

impl Confirmations {
    /// SendContactCode: a new code to the volunteer's phone or e-mail, replacing the one
    /// before. The message is handed over before the code is stored, so a gateway that
    /// fails leaves nothing behind (UNAVAILABLE: the volunteer may try again at once).
    pub async fn send(&self, id: Uuid, channel: AlertChannel) -> Result<SentCode, ApiError> {
        let registry = &self.registry;
        let mut tx = registry.pool.begin().await?;
        let row = store::volunteers::load(&mut tx, id, true).await?;
        let volunteer = registry.open_live(&mut tx, row).await?;
        if volunteer.contact_confirmed_at.is_some() {
            return Err(ApiError::precondition(
                CONTACT_ALREADY_CONFIRMED,
                "the contact is confirmed already",
            ));
        }
        let (channel, address) = address(&volunteer, channel)?;
        let now = registry.now();
        let previous = store::confirmation::code(&mut tx, id).await?;
        let (sends_in_window, window_started_at) = allowance(previous.as_ref(), now)?;
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        let stored = CodeRow {
            channel: channel as i16,
            code_hash: self.hash(id, &code),
            expires_at: now + CODE_TTL,
            failed_attempts: 0,
            sent_at: now,
            sends_in_window,
            window_started_at,
        };
        store::confirmation::put_code(&mut tx, id, &stored).await?;
        let message = Outgoing {
            // From the alerts' sequence: gateways deduplicate by it across both kinds.
            alert_id: store::confirmation::next_message_id(&mut tx).await?,
            kind: AlertKind::Verification,
            channel,
            to: address.clone(),
            display_name: volunteer.profile.contact.display_name.clone(),
            match_id: String::new(),
            task_title: String::new(),
            expires_at: Some(stored.expires_at),
            text: Outgoing::code_text(&code),
        };
        self.notifier.send(&message).await.map_err(|error| {
            tracing::warn!(volunteer_id = %id, %error, channel = channel.as_str_name(), "contact code not sent");
            metrics::counter!("registration_contact_codes_total", "outcome" => "not_sent")
                .increment(1);
            ApiError::Unavailable(anyhow::anyhow!("the code could not be sent: {error}"))
        })?;
        tx.commit().await?;
        metrics::counter!("registration_contact_codes_total", "outcome" => "sent").increment(1);
        Ok(SentCode {
            channel,
            sent_to: mask(channel, &address),
            expires_at: stored.expires_at,
            resend_after: now + RESEND_AFTER,
        })
    }

    /// ConfirmContact: checks the code; right, the contact is confirmed and, where that was
    /// required, matching now learns of the volunteer. A wrong try is counted even though
    /// the request fails.
    pub async fn confirm(&self, id: Uuid, code: &str) -> Result<Volunteer, ApiError> {
        let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
        if code.is_empty() {
            return Err(ApiError::invalid("code", "enter the 6-digit code we sent"));
        }
        if code.len() != 6 || !code.chars().all(|c| c.is_ascii_digit()) {
            return Err(ApiError::invalid("code", "the code has 6 digits"));
        }
        let registry = &self.registry;
        let mut tx = registry.pool.begin().await?;
        let row = store::volunteers::load(&mut tx, id, true).await?;
        let mut volunteer = registry.open_live(&mut tx, row).await?;
        if volunteer.contact_confirmed_at.is_some() {
            return Ok(volunteer);
        }
        let now = registry.now();
        let stored = store::confirmation::code(&mut tx, id)
            .await?
            .filter(|c| c.expires_at > now && c.failed_attempts < MAX_TRIES)
            .ok_or_else(|| {
                ApiError::precondition(
                    CODE_EXPIRED,
                    "there is no valid code (none sent, expired, or tried too often): ask for a new one",
                )
            })?;
        if self.hash(id, &code) != stored.code_hash {
            let tries = store::confirmation::count_failure(&mut tx, id).await?;
            tx.commit().await?;
            metrics::counter!("registration_contact_codes_total", "outcome" => "wrong")
                .increment(1);
            let left = MAX_TRIES - tries;
            return Err(ApiError::invalid(
                "code",
                if left > 0 {
                    format!("this is not the code we sent; {left} tries left")
                } else {
                    "this is not the code we sent, and the code is used up: ask for a new one"
                        .to_owned()
                },
            ));
        }
        volunteer.version = store::confirmation::confirm(&mut tx, id, stored.channel, now).await?;
        volunteer.contact_confirmed_at = Some(now);
        volunteer.updated_at = now;
        if registry.require_confirmed_contact {
            let event = events::message(&registry.topic, Change::Registered, &volunteer);
            enqueue(&mut tx, &[event]).await?;
            store::volunteers::mark_published(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        metrics::counter!("registration_contact_codes_total", "outcome" => "confirmed")
            .increment(1);
        tracing::info!(volunteer_id = %id, "contact confirmed");
        Ok(volunteer)
    }

    fn hash(&self, id: Uuid, code: &str) -> Vec<u8> {
        let mut bound = id.as_bytes().to_vec();
        bound.extend_from_slice(code.as_bytes());
        self.registry
            .vault
            .lookup_hash(LookupKind::ContactCode, &bound)
    }
}

/// The channel and address a code goes to: the one asked for, or SMS when there is a phone
/// number and e-mail otherwise.
fn address(volunteer: &Volunteer, asked: AlertChannel) -> Result<(AlertChannel, String), ApiError> {
    let contact = &volunteer.profile.contact;
    let phone = contact.phone_e164.clone().filter(|p| !p.is_empty());
    let email = contact.email.clone().filter(|e| !e.is_empty());
    match asked {
        AlertChannel::Sms => phone
            .map(|p| (AlertChannel::Sms, p))
            .ok_or_else(|| ApiError::invalid("channel", "the profile has no phone number")),
        AlertChannel::Email => email
            .map(|e| (AlertChannel::Email, e))
            .ok_or_else(|| ApiError::invalid("channel", "the profile has no e-mail address")),
        AlertChannel::Unspecified => phone
            .map(|p| (AlertChannel::Sms, p))
            .or(email.map(|e| (AlertChannel::Email, e)))
            .ok_or_else(|| ApiError::invalid("channel", "the profile has no phone or e-mail")),
        _ => Err(ApiError::invalid(
            "channel",
            "must be ALERT_CHANNEL_SMS or ALERT_CHANNEL_EMAIL",
        )),
    }
}

/// The sends counted in the current window, this one included, and when the window began;
/// RESOURCE_EXHAUSTED (with when to ask again) when it is too soon or too many.
fn allowance(
    previous: Option<&CodeRow>,
    now: DateTime<Utc>,
) -> Result<(i32, DateTime<Utc>), ApiError> {
    let Some(previous) = previous else {
        return Ok((1, now));
    };
    let wait = |until: DateTime<Utc>| ApiError::ResourceExhausted {
        retry_after: (until - now).to_std().unwrap_or(Duration::from_secs(1)),
    };
    if now < previous.sent_at + RESEND_AFTER {
        return Err(wait(previous.sent_at + RESEND_AFTER));
    }
    if now >= previous.window_started_at + SEND_WINDOW {
        return Ok((1, now));
    }
    if previous.sends_in_window >= MAX_SENDS {
        return Err(wait(previous.window_started_at + SEND_WINDOW));
    }
    Ok((previous.sends_in_window + 1, previous.window_started_at))
}

/// The address with most of it hidden: `+49 ••• 5678`, `a•••@example.org`.
pub fn mask(channel: AlertChannel, address: &str) -> String {
    if channel == AlertChannel::Email {
        return match address.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}•••@{domain}")
            }
            None => "•••".to_owned(),
        };
    }
    let chars: Vec<char> = address.chars().collect();
    if chars.len() <= 7 {
        return "•••".to_owned();
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head} ••• {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_shown_with_most_of_them_hidden() {
        assert_eq!(mask(AlertChannel::Sms, "+4915112345678"), "+49 ••• 5678");
        assert_eq!(
            mask(AlertChannel::Email, "anna@example.org"),
            "a•••@example.org"
        );
        assert_eq!(mask(AlertChannel::Sms, "+12345"), "•••");
    }

    fn sent(at: DateTime<Utc>, sends: i32, window: DateTime<Utc>) -> CodeRow {
        CodeRow {
            channel: AlertChannel::Sms as i16,
            code_hash: Vec::new(),
            expires_at: at + CODE_TTL,
            failed_attempts: 0,
            sent_at: at,
            sends_in_window: sends,
            window_started_at: window,
        }
    }

    #[test]
    fn codes_follow_one_another_a_minute_apart_and_five_a_day() {
        let now = Utc::now();
        assert_eq!(allowance(None, now).ok(), Some((1, now)));
        let just_sent = sent(now - chrono::Duration::seconds(10), 1, now);
        match allowance(Some(&just_sent), now) {
            Err(ApiError::ResourceExhausted { retry_after }) => {
                assert_eq!(retry_after, Duration::from_secs(50));
            }
            other => panic!("expected RESOURCE_EXHAUSTED, got {other:?}"),
        }
        let window = now - chrono::Duration::hours(2);
        let earlier = sent(now - chrono::Duration::minutes(5), 2, window);
        assert_eq!(allowance(Some(&earlier), now).ok(), Some((3, window)));
        let fifth = sent(now - chrono::Duration::minutes(5), MAX_SENDS, window);
        assert!(matches!(
            allowance(Some(&fifth), now),
            Err(ApiError::ResourceExhausted { .. })
        ));
        let yesterday = now - chrono::Duration::hours(25);
        let old = sent(yesterday, MAX_SENDS, yesterday);
        assert_eq!(allowance(Some(&old), now).ok(), Some((1, now)));
    }
}
