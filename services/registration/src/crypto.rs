//! Envelope encryption of contact data and keyed hashes for duplicate lookup.
//!
//! Every volunteer gets a random 256-bit data key. Their contact data is sealed with it
//! (XChaCha20-Poly1305, random 192-bit nonce, the volunteer id as associated data so a blob
//! cannot be moved to another row), and the data key is sealed with the master key from
//! configuration, whose id is stored alongside. Erasing the wrapped key makes the contact blob
//! unreadable everywhere, backups included (crypto-shredding).
//!
//! Rotation: the vault holds one current master key (it seals) and any number of previous
//! ones by id (they only open). [`Vault::rewrap`] moves a data key from an old master key to
//! the current one without touching the contact ciphertext; `crate::rotation` does that for
//! every row, in batches, while the service keeps serving.
//!
//! Phone numbers and e-mail addresses are looked up through HMAC-SHA256 under a separate
//! lookup key, so the database never holds them in a form that can be searched in clear.

use std::collections::BTreeMap;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use uuid::Uuid;

use crate::config::PrivacyConfig;

/// Why a blob could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("privacy keys are missing or invalid")]
    BadKey,
    #[error("unknown master key id {0}")]
    UnknownKeyId(String),
    #[error("ciphertext does not authenticate")]
    Tampered,
}

/// Contact data sealed for one volunteer, as stored.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
    pub wrapped_key: Vec<u8>,
    pub wrapped_key_nonce: Vec<u8>,
    pub key_id: String,
}

/// A data key wrapped anew by [`Vault::rewrap`].
#[derive(Debug, Clone)]
pub struct WrappedKey {
    pub wrapped_key: Vec<u8>,
    pub wrapped_key_nonce: Vec<u8>,
}

/// The service's keys. `Debug` never shows them.
#[derive(Clone)]
pub struct Vault {
    master: XChaCha20Poly1305,
    master_id: String,
    /// Earlier master keys by id: they unwrap data keys not yet re-wrapped, never wrap.
    previous: BTreeMap<String, XChaCha20Poly1305>,
    lookup: [u8; 32],
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("master_id", &self.master_id)
            .field("previous_ids", &self.previous.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// What a keyed lookup hash is of, so that a phone number and an e-mail never collide.
#[derive(Debug, Clone, Copy)]
pub enum LookupKind {
    Phone,
    Email,
    Fingerprint,
    /// A one-time contact code, bound to its volunteer.
    ContactCode,
}

impl Vault {
    pub fn from_config(config: &PrivacyConfig) -> Result<Self, CryptoError> {
        let master = spontan_platform::auth::decode_key(config.master_key.expose())
            .map_err(|_| CryptoError::BadKey)?;
        let lookup = spontan_platform::auth::decode_key(config.lookup_key.expose())
            .map_err(|_| CryptoError::BadKey)?;
        if config.master_key_id.trim().is_empty() {
            return Err(CryptoError::BadKey);
        }
        let mut previous = BTreeMap::new();
        for (id, key) in &config.previous_master_keys {
            if id == &config.master_key_id {
                return Err(CryptoError::BadKey);
            }
            let key = spontan_platform::auth::decode_key(key.expose())
                .map_err(|_| CryptoError::BadKey)?;
            previous.insert(id.clone(), XChaCha20Poly1305::new(&key.into()));
        }
        Ok(Self {
            master: XChaCha20Poly1305::new(&master.into()),
            master_id: config.master_key_id.clone(),
            previous,
            lookup,
        })
    }

    /// Id of the master key that seals; rows under any other id are due for re-wrapping.
    pub fn current_key_id(&self) -> &str {
        &self.master_id
    }

    /// The master key named `key_id`, current or previous.
    fn master_for(&self, key_id: &str) -> Result<&XChaCha20Poly1305, CryptoError> {
        if key_id == self.master_id {
            return Ok(&self.master);
        }
        self.previous
            .get(key_id)
            .ok_or_else(|| CryptoError::UnknownKeyId(key_id.to_owned()))
    }

    /// The data key of `sealed`, unwrapped with whichever master key wrapped it.
    fn unwrap_data_key(&self, volunteer: Uuid, sealed: &Sealed) -> Result<[u8; 32], CryptoError> {
        let wrap_nonce: [u8; 24] = sealed
            .wrapped_key_nonce
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Tampered)?;
        let data_key = self
            .master_for(&sealed.key_id)?
            .decrypt(
                &XNonce::from(wrap_nonce),
                Payload {
                    msg: &sealed.wrapped_key,
                    aad: volunteer.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)?;
        data_key.try_into().map_err(|_| CryptoError::Tampered)
    }

    /// The same data key wrapped by the current master key under a fresh nonce, with the
    /// contact ciphertext untouched; `None` when `sealed` is under the current key already.
    pub fn rewrap(
        &self,
        volunteer: Uuid,
        sealed: &Sealed,
    ) -> Result<Option<WrappedKey>, CryptoError> {
        if sealed.key_id == self.master_id {
            return Ok(None);
        }
        let data_key = self.unwrap_data_key(volunteer, sealed)?;
        let wrap_nonce: [u8; 24] = rand::random();
        let wrapped = self
            .master
            .encrypt(
                &XNonce::from(wrap_nonce),
                Payload {
                    msg: &data_key,
                    aad: volunteer.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)?;
        Ok(Some(WrappedKey {
            wrapped_key: wrapped,
            wrapped_key_nonce: wrap_nonce.to_vec(),
        }))
    }

    /// Seals `plaintext` for `volunteer` under a fresh data key.
    pub fn seal(&self, volunteer: Uuid, plaintext: &[u8]) -> Result<Sealed, CryptoError> {
        let data_key: [u8; 32] = rand::random();
        let nonce: [u8; 24] = rand::random();
        let wrap_nonce: [u8; 24] = rand::random();
        let aad = volunteer.as_bytes();
        let ciphertext = XChaCha20Poly1305::new(&data_key.into())
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Tampered)?;
        let wrapped_key = self
            .master
            .encrypt(
                &XNonce::from(wrap_nonce),
                Payload {
                    msg: &data_key,
                    aad,
                },
            )
            .map_err(|_| CryptoError::Tampered)?;
        Ok(Sealed {
            ciphertext,
            nonce: nonce.to_vec(),
            wrapped_key,
            wrapped_key_nonce: wrap_nonce.to_vec(),
            key_id: self.master_id.clone(),
        })
    }

    /// Opens what [`Self::seal`] sealed for the same volunteer, under the current or a
    /// previous master key.
    pub fn open(&self, volunteer: Uuid, sealed: &Sealed) -> Result<Vec<u8>, CryptoError> {
        let nonce: [u8; 24] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Tampered)?;
        let data_key = self.unwrap_data_key(volunteer, sealed)?;
        XChaCha20Poly1305::new(&data_key.into())
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: volunteer.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Tampered)
    }

    /// HMAC-SHA256 of an already normalised value under the lookup key.
    pub fn lookup_hash(&self, kind: LookupKind, normalised: &[u8]) -> Vec<u8> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.lookup)
            .expect("hmac accepts keys of any length");
        mac.update(match kind {
            LookupKind::Phone => b"phone\0",
            LookupKind::Email => b"email\0",
            LookupKind::Fingerprint => b"fprnt\0",
            LookupKind::ContactCode => b"ccode\0",
        });
        mac.update(normalised);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::from_config(&PrivacyConfig::generate()).expect("vault")
    }

    #[test]
    fn sealed_data_opens_only_for_its_volunteer() {
        let vault = vault();
        let id = Uuid::new_v4();
        let sealed = vault.seal(id, b"+4915112345678").expect("seal");
        assert!(
            !sealed
                .ciphertext
                .windows(5)
                .any(|w| w == b"49151".as_slice())
        );
        assert_eq!(vault.open(id, &sealed).expect("open"), b"+4915112345678");
        assert!(vault.open(Uuid::new_v4(), &sealed).is_err());
        let other = Vault::from_config(&PrivacyConfig::generate()).expect("vault");
        assert!(other.open(id, &sealed).is_err());
    }

    #[test]
    fn rewrapped_keys_open_under_the_new_master_key_alone() {
        let old_config = PrivacyConfig::generate();
        let old = Vault::from_config(&old_config).expect("old vault");
        let id = Uuid::new_v4();
        let sealed = old.seal(id, b"Zorana").expect("seal");

        let mut rotating = PrivacyConfig::generate();
        rotating.master_key_id = "k2".into();
        rotating.lookup_key = old_config.lookup_key.clone();
        rotating
            .previous_master_keys
            .insert("k1".into(), old_config.master_key.clone());
        let during = Vault::from_config(&rotating).expect("rotating vault");
        assert_eq!(during.open(id, &sealed).expect("old row opens"), b"Zorana");
        let WrappedKey {
            wrapped_key,
            wrapped_key_nonce,
        } = during.rewrap(id, &sealed).expect("rewrap").expect("due");
        let moved = Sealed {
            wrapped_key,
            wrapped_key_nonce,
            key_id: "k2".into(),
            ..sealed.clone()
        };
        assert!(during.rewrap(id, &moved).expect("rewrap").is_none());
        assert!(during.rewrap(Uuid::new_v4(), &sealed).is_err());

        rotating.previous_master_keys.clear();
        let after = Vault::from_config(&rotating).expect("new vault");
        assert_eq!(after.open(id, &moved).expect("moved row opens"), b"Zorana");
        assert!(matches!(
            after.open(id, &sealed),
            Err(CryptoError::UnknownKeyId(k)) if k == "k1"
        ));
    }

    #[test]
    fn lookup_hashes_are_keyed_and_kind_separated() {
        let vault = vault();
        let a = vault.lookup_hash(LookupKind::Phone, b"+4915112345678");
        assert_eq!(a, vault.lookup_hash(LookupKind::Phone, b"+4915112345678"));
        assert_ne!(a, vault.lookup_hash(LookupKind::Email, b"+4915112345678"));
        assert_ne!(
            a,
            self::vault().lookup_hash(LookupKind::Phone, b"+4915112345678")
        );
    }
}
