//! Arbitrary bytes as a bearer token, and a valid token with arbitrary bytes changed: the
//! verifier never panics, and whatever it accepts carries exactly the claims the suite's key
//! signed (no forged subject, role, organisation or session).
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use spontan_platform::auth::{AuthConfig, Principal, Role, TokenIssuer, TokenVerifier};
use spontan_platform::secret::Secret;

struct Keys {
    verifier: TokenVerifier,
    token: String,
    signed: Principal,
}

static KEYS: LazyLock<Keys> = LazyLock::new(|| {
    let config = AuthConfig {
        // A fixed seed: the fuzzer's inputs stay reproducible.
        signing_key: Secret::new("c3BvbnRhbi1mdXp6LXRva2Vucy1zZWVkLTMyLWJ5dGU="),
        key_roles: Role::ALL.to_vec(),
        ..AuthConfig::default()
    };
    let issuer = TokenIssuer::from_config(&config).expect("issuer");
    let verifier = TokenVerifier::from_config(&config).expect("verifier");
    let token = issuer
        .issue_for_session(
            "0b8f9a2e-5c1d-4a7e-9f3b-2d6c8e1a4b70",
            "5f0c2b9d-8e4a-4c1f-a6d3-7b2e9c0f1a58",
            Duration::from_secs(365 * 24 * 3600),
        )
        .expect("token");
    let signed = verifier.verify(&token).expect("the signed token is accepted");
    Keys {
        verifier,
        token,
        signed,
    }
});

fn same_claims(a: &Principal, b: &Principal) -> bool {
    a.subject == b.subject
        && a.role == b.role
        && a.organisation == b.organisation
        && a.session == b.session
        && a.expires_at == b.expires_at
        && a.issued_at == b.issued_at
}

fuzz_target!(|data: &[u8]| {
    let keys = &*KEYS;
    // The bytes as a token.
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(principal) = keys.verifier.verify(text)
    {
        assert!(same_claims(&principal, &keys.signed), "accepted a forged token: {text}");
    }
    // The signed token with bytes changed: (position, xor) pairs.
    let mut token = keys.token.clone().into_bytes();
    for pair in data.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % token.len();
        token[at] ^= pair[2];
    }
    if let Ok(text) = std::str::from_utf8(&token)
        && let Ok(principal) = keys.verifier.verify(text)
    {
        assert!(
            same_claims(&principal, &keys.signed),
            "a changed token was accepted with other claims: {text}"
        );
    }
});
