//! Check-in codes: what a volunteer types or scans at the meeting point to prove they are
//! there. Like TOTP (RFC 6238): a 6-digit HMAC-SHA256 code of the task's secret and the
//! current 10-minute period, bound to the task (its id is part of the MAC input), accepted in
//! its own period and the next one so that a code read just before it changed still works.
//! The secret is per task and lives only in this service's database.

use chrono::{DateTime, TimeZone, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

/// Length of one code period.
pub const ROTATION_SECONDS: i64 = 600;
/// Wrong codes allowed per match before only a coordinator can check the volunteer in.
pub const MAX_FAILURES: i16 = 10;
/// Prefix of the QR code's text; the rest is `<task_id>:<code>`.
pub const QR_PREFIX: &str = "spontan-checkin:";

/// The period `at` falls in.
pub fn period(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(ROTATION_SECONDS)
}

/// When `period` starts.
pub fn period_start(period: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(period * ROTATION_SECONDS, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The task's code for one period: HMAC-SHA256 over the task id and the period, dynamically
/// truncated to 31 bits as in RFC 4226, modulo 10^6, zero-padded.
pub fn code(secret: &[u8], task_id: Uuid, period: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(task_id.as_bytes());
    mac.update(&period.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    format!("{:06}", value % 1_000_000)
}

/// What a volunteer sent, reduced to the 6 digits: either the digits themselves (spaces and
/// dashes allowed, as people type them) or the QR text, which must name this task.
pub fn digits_of(input: &str, task_id: Uuid) -> Option<String> {
    let input = input.trim();
    let digits = match input.strip_prefix(QR_PREFIX) {
        Some(rest) => {
            let (task, code) = rest.split_once(':')?;
            if Uuid::parse_str(task).ok()? != task_id {
                return None;
            }
            code.to_owned()
        }
        None => input.chars().filter(|c| !matches!(c, ' ' | '-')).collect(),
    };
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// Whether `input` is the task's code of the period of `now` or of the period before.
pub fn verify(secret: &[u8], task_id: Uuid, input: &str, now: DateTime<Utc>) -> bool {
    let Some(digits) = digits_of(input, task_id) else {
        return false;
    };
    let current = period(now);
    [current, current - 1]
        .into_iter()
        .any(|p| constant_time_eq(code(secret, task_id, p).as_bytes(), digits.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The QR text for a code.
pub fn qr_text(task_id: Uuid, code: &str) -> String {
    format!("{QR_PREFIX}{task_id}:{code}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).single().expect("valid")
    }

    #[test]
    fn a_code_is_six_digits_and_changes_with_the_period_and_the_task() {
        let task = Uuid::now_v7();
        let first = code(SECRET, task, 1000);
        assert_eq!(first.len(), 6);
        assert!(first.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(first, code(SECRET, task, 1000), "deterministic");
        let others: Vec<String> = (1001..1011).map(|p| code(SECRET, task, p)).collect();
        assert!(others.iter().any(|c| *c != first));
        assert_ne!(code(SECRET, Uuid::now_v7(), 1000), first);
        assert_ne!(code(b"another secret", task, 1000), first);
    }

    #[test]
    fn the_current_and_the_previous_code_are_accepted_and_nothing_older() {
        let task = Uuid::now_v7();
        let now = at(1_800_000_123);
        let p = period(now);
        assert!(verify(SECRET, task, &code(SECRET, task, p), now));
        assert!(verify(SECRET, task, &code(SECRET, task, p - 1), now));
        let old = code(SECRET, task, p - 2);
        if old != code(SECRET, task, p) && old != code(SECRET, task, p - 1) {
            assert!(!verify(SECRET, task, &old, now));
        }
        let next = code(SECRET, task, p + 1);
        if next != code(SECRET, task, p) && next != code(SECRET, task, p - 1) {
            assert!(
                !verify(SECRET, task, &next, now),
                "a future code is refused"
            );
        }
    }

    #[test]
    fn typed_spacing_and_the_qr_text_are_understood_but_only_for_the_same_task() {
        let task = Uuid::now_v7();
        let now = at(1_800_000_000);
        let c = code(SECRET, task, period(now));
        let spaced = format!("{} {}", &c[..3], &c[3..]);
        assert!(verify(SECRET, task, &spaced, now));
        assert!(verify(SECRET, task, &qr_text(task, &c), now));
        let other = Uuid::now_v7();
        assert!(!verify(SECRET, task, &qr_text(other, &c), now));
        for bad in [
            "",
            "12345",
            "1234567",
            "abcdef",
            "spontan-checkin:",
            "spontan-checkin:x:123456",
        ] {
            assert!(!verify(SECRET, task, bad, now), "{bad:?}");
        }
    }

    #[test]
    fn periods_are_ten_minutes_long() {
        assert_eq!(period(at(0)), 0);
        assert_eq!(period(at(599)), 0);
        assert_eq!(period(at(600)), 1);
        assert_eq!(period_start(3), at(1800));
    }
}
