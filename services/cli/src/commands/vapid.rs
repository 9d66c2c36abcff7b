//! `spontan vapid generate`: VAPID key pairs for Web Push (RFC 8292): the registration service signs with the private
//! key (`alerts.web_push.vapid_private_key`), the web app subscribes with the public one
//! (`web.vapid_public_key`). Both in the format browsers and push libraries use: unpadded
//! base64url of the raw 32-byte scalar and of the 65-byte uncompressed point.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clap::Subcommand;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::RngCore;
use serde_json::json;

use crate::client::Global;

#[derive(Debug, Subcommand)]
pub enum VapidCommand {
    /// Make a new P-256 key pair and print two lines: `private=<key>` (for
    /// alerts.web_push.vapid_private_key) and `public=<key>` (for web.vapid_public_key), both
    /// unpadded base64url: the raw 32-byte private key and the 65-byte uncompressed point
    /// (with --json: one object with `private` and `public`).
    Generate,
}

/// Runs `spontan vapid …` (offline: nothing is sent).
pub fn run(global: &Global, command: VapidCommand) -> anyhow::Result<()> {
    match command {
        VapidCommand::Generate => {
            let pair = generate();
            if global.json {
                println!(
                    "{}",
                    json!({ "private": pair.private, "public": pair.public })
                );
            } else {
                println!("private={}\npublic={}", pair.private, pair.public);
            }
            Ok(())
        }
    }
}

pub struct KeyPair {
    pub private: String,
    pub public: String,
}

pub fn generate() -> KeyPair {
    let mut bytes = [0u8; 32];
    let secret = loop {
        // A random 256-bit number is a valid P-256 scalar unless it is 0 or at least the
        // group order: a chance of about 2^-32, answered by drawing again.
        rand::rng().fill_bytes(&mut bytes);
        if let Ok(secret) = p256::SecretKey::from_slice(&bytes) {
            break secret;
        }
    };
    let public = secret.public_key().to_encoded_point(false);
    KeyPair {
        private: URL_SAFE_NO_PAD.encode(secret.to_bytes()),
        public: URL_SAFE_NO_PAD.encode(public.as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pair_is_a_raw_scalar_and_its_uncompressed_point() {
        let pair = generate();
        let private = URL_SAFE_NO_PAD.decode(&pair.private).expect("base64url");
        let public = URL_SAFE_NO_PAD.decode(&pair.public).expect("base64url");
        assert_eq!(private.len(), 32);
        assert_eq!(public.len(), 65);
        assert_eq!(public[0], 4, "uncompressed point");
        let derived = p256::SecretKey::from_slice(&private)
            .expect("scalar")
            .public_key()
            .to_encoded_point(false);
        assert_eq!(derived.as_bytes(), public.as_slice());
        assert_ne!(generate().private, pair.private);
    }
}
