//! Opaque page tokens for keyset pagination.
//!
//! A token is URL-safe base64 of a small JSON object: the position after the last item of the
//! page and a fingerprint of the filters it was made for, so that a token used with other
//! filters is refused instead of silently skipping or repeating items. Keyset (not offset)
//! pagination keeps pages stable while tasks are added.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use spontan_platform::error::Violations;

#[derive(Serialize, Deserialize)]
struct Token<K> {
    /// Fingerprint of the filters.
    f: String,
    /// Position after the last item returned.
    k: K,
}

pub fn encode<K: Serialize>(filters: &str, position: K) -> String {
    let token = Token {
        f: filters.to_owned(),
        k: position,
    };
    serde_json::to_vec(&token)
        .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
        .unwrap_or_default()
}

/// `None` for the first page; records a violation for a token that is malformed or was made
/// for other filters.
pub fn decode<K: DeserializeOwned>(v: &mut Violations, filters: &str, token: &str) -> Option<K> {
    if token.is_empty() {
        return None;
    }
    let parsed = URL_SAFE_NO_PAD
        .decode(token.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Token<K>>(&bytes).ok());
    match parsed {
        Some(t) if t.f == filters => Some(t.k),
        Some(_) => {
            v.add(
                "page_token",
                "was made for other filters; start again without it",
            );
            None
        }
        None => {
            v.add("page_token", "is not a token from a previous page");
            None
        }
    }
}

/// The page size: `default` for 0, else 1 to `max`.
pub fn page_size(v: &mut Violations, requested: u32, default: u32, max: u32) -> u32 {
    match requested {
        0 => default,
        n if n <= max => n,
        _ => {
            v.add(
                "page_size",
                format!("must be between 1 and {max} (0 for {default})"),
            );
            default
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_only_with_its_filters() {
        let token = encode("incident=1", (2_i16, "x".to_owned()));
        let mut v = Violations::new();
        let back: Option<(i16, String)> = decode(&mut v, "incident=1", &token);
        assert_eq!(back, Some((2, "x".to_owned())));
        assert!(v.is_empty());
        let other: Option<(i16, String)> = decode(&mut v, "incident=2", &token);
        assert!(other.is_none());
        let junk: Option<(i16, String)> = decode(&mut v, "incident=1", "!!");
        assert!(junk.is_none());
        assert!(v.finish(()).is_err());
    }
}
