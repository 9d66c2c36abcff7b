//! What the stand-in "sent": the last [`CAPACITY`] messages in memory, newest last, and the
//! idempotency keys among them.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many messages are kept; the oldest goes when one more arrives. A local stack sends a
/// few per offer, so this is hours of a drill and a bounded amount of memory.
pub const CAPACITY: usize = 500;

/// The body the registration service POSTs (`Outgoing` in
/// `services/registration/src/alerts/mod.rs`). `kind` and `channel` stay text, so a new kind
/// (a verification code) or channel needs no change here; the fields a message cannot do
/// without are required, the rest may be missing or null. Unknown fields are ignored, as a
/// real gateway would.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub alert_id: i64,
    /// `offer`, `withdrawn`, `verification`, …
    pub kind: String,
    /// The proto enum's name, e.g. `ALERT_CHANNEL_SMS`.
    pub channel: String,
    /// Phone number, chat id or push token.
    pub to: String,
    #[serde(default)]
    pub display_name: String,
    #[serde(default)]
    pub match_id: String,
    #[serde(default)]
    pub task_title: String,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    pub text: String,
}

/// A message as it was received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Received {
    pub received_at: DateTime<Utc>,
    /// The `Idempotency-Key` header, if the sender gave one.
    pub idempotency_key: Option<String>,
    #[serde(flatten)]
    pub message: Message,
}

/// Which messages to list: exact matches of address and kind, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub to: Option<String>,
    pub kind: Option<String>,
    pub limit: usize,
}

impl Filter {
    fn admits(&self, received: &Received) -> bool {
        self.to.as_ref().is_none_or(|to| *to == received.message.to)
            && self
                .kind
                .as_ref()
                .is_none_or(|kind| *kind == received.message.kind)
    }
}

#[derive(Debug)]
pub struct Inbox {
    messages: VecDeque<Received>,
    /// The keys of the messages in `messages`: a key is remembered as long as its message is
    /// kept, which covers a sender's retries (seconds to minutes apart) many times over.
    keys: HashSet<String>,
    capacity: usize,
}

impl Default for Inbox {
    fn default() -> Self {
        Self::with_capacity(CAPACITY)
    }
}

impl Inbox {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            messages: VecDeque::with_capacity(capacity),
            keys: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Keeps `received` unless a kept message had the same idempotency key (a retry);
    /// returns whether it was kept.
    pub fn add(&mut self, received: Received) -> bool {
        if let Some(key) = &received.idempotency_key {
            if self.keys.contains(key) {
                return false;
            }
            self.keys.insert(key.clone());
        }
        if self.messages.len() == self.capacity
            && let Some(oldest) = self.messages.pop_front()
            && let Some(key) = oldest.idempotency_key
        {
            self.keys.remove(&key);
        }
        self.messages.push_back(received);
        true
    }

    /// The messages `filter` admits, newest first.
    pub fn newest(&self, filter: &Filter) -> Vec<Received> {
        self.messages
            .iter()
            .rev()
            .filter(|m| filter.admits(m))
            .take(filter.limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(id: i64, to: &str, key: Option<&str>) -> Received {
        Received {
            received_at: Utc::now(),
            idempotency_key: key.map(str::to_owned),
            message: Message {
                alert_id: id,
                kind: "offer".into(),
                channel: "ALERT_CHANNEL_SMS".into(),
                to: to.into(),
                display_name: String::new(),
                match_id: String::new(),
                task_title: String::new(),
                expires_at: None,
                text: format!("message {id}"),
            },
        }
    }

    fn ids(messages: &[Received]) -> Vec<i64> {
        messages.iter().map(|m| m.message.alert_id).collect()
    }

    fn all() -> Filter {
        Filter {
            limit: usize::MAX,
            ..Filter::default()
        }
    }

    #[test]
    fn the_oldest_message_goes_and_its_key_with_it() {
        let mut inbox = Inbox::with_capacity(2);
        assert!(inbox.add(received(1, "a", Some("k1"))));
        assert!(inbox.add(received(2, "a", Some("k2"))));
        assert!(!inbox.add(received(2, "a", Some("k2"))), "a retry");
        assert!(inbox.add(received(3, "a", None)));
        assert!(
            inbox.add(received(4, "a", None)),
            "no key, no deduplication"
        );
        assert_eq!(ids(&inbox.newest(&all())), [4, 3]);
        // k1 and k2 left with their messages: the keys are free again.
        assert!(inbox.add(received(1, "a", Some("k1"))));
        assert_eq!(inbox.keys.len(), 1);
    }

    #[test]
    fn newest_first_filtered_and_limited() {
        let mut inbox = Inbox::default();
        for id in 1..=5 {
            inbox.add(received(id, if id % 2 == 0 { "even" } else { "odd" }, None));
        }
        let odd = Filter {
            to: Some("odd".into()),
            limit: 2,
            ..Filter::default()
        };
        assert_eq!(ids(&inbox.newest(&odd)), [5, 3]);
        let withdrawn = Filter {
            kind: Some("withdrawn".into()),
            ..all()
        };
        assert!(inbox.newest(&withdrawn).is_empty());
    }
}
