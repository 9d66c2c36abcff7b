//! Volunteer sessions: what keeps a volunteer signed in on their phone.
//!
//! Volunteers have no password: registering opens a session, and the session is the account's
//! only key. It has two tokens:
//!
//! - an **access token** (an EdDSA JWT naming the volunteer and the session, `sid`) that every
//!   service checks on every call, living `auth.volunteer_access_token_minutes` (15), so that
//!   a stolen one is soon worthless;
//! - a **refresh token** (32 random bytes, base64url) that only `RefreshSession` takes. The
//!   database keeps its SHA-256 hash, never the token. Each use replaces it (rotation); the
//!   hash before is kept, so that presenting an already-replaced token, which only a copy can
//!   do, ends the session for everyone holding it (except once within a minute of the
//!   rotation, before the new token was used: the phone whose answer was lost retrying). A session ends after
//!   `auth.volunteer_session_days` (180) without a refresh.
//!
//! "Sign out everywhere" ends every session (or every other one) and refuses every access
//! token issued before it (`volunteers.tokens_not_before`), here at once. Erasure deletes the
//! sessions; matching refuses an erased volunteer's tokens once it has the erasure event.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};
use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use uuid::Uuid;

use crate::store::sessions::{self as store, NewSession, Rotation};
use crate::store::volunteers::{set_token_floor, token_floor};
use crate::volunteers::{Registry, Token};

/// The tokens of a session, as a volunteer receives them.
#[derive(Debug, Clone)]
pub struct SessionTokens {
    pub volunteer_id: Uuid,
    pub access: Token,
    pub refresh_token: String,
    pub refresh_expires_at: DateTime<Utc>,
}

/// A refresh token and the hash the database keeps of it.
pub fn new_refresh_token() -> (String, Vec<u8>) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    (token, hash)
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn internal(error: impl Into<anyhow::Error>) -> ApiError {
    ApiError::Internal(error.into())
}

impl Registry {
    /// When a session refreshed at `now` ends.
    pub(crate) fn session_end(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        now + chrono::Duration::days(i64::from(self.session_days))
    }

    /// A new session of `volunteer` (its row, not yet written) and its tokens.
    pub(crate) fn new_session(
        &self,
        volunteer: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(NewSession, SessionTokens), ApiError> {
        let id = Uuid::new_v4();
        let (refresh_token, refresh_hash) = new_refresh_token();
        let expires_at = self.session_end(now);
        let access = self.sign_for_session(volunteer, id, now)?;
        Ok((
            NewSession {
                id,
                volunteer_id: volunteer,
                refresh_hash,
                now,
                expires_at,
            },
            SessionTokens {
                volunteer_id: volunteer,
                access,
                refresh_token,
                refresh_expires_at: expires_at,
            },
        ))
    }

    /// Opens a session for an existing volunteer (a replayed Register).
    pub(crate) async fn open_session(&self, volunteer: Uuid) -> Result<SessionTokens, ApiError> {
        let (row, tokens) = self.new_session(volunteer, self.now())?;
        store::create(&self.pool, &row).await?;
        Ok(tokens)
    }

    /// RefreshSession: rotates the refresh token, issues an access token.
    pub async fn refresh(&self, presented: &str) -> Result<SessionTokens, ApiError> {
        let presented = presented.trim();
        if presented.is_empty() {
            return Err(ApiError::invalid("refresh_token", "is required"));
        }
        let now = self.now();
        let (next, next_hash) = new_refresh_token();
        let expires_at = self.session_end(now);
        let mut conn = self.pool.acquire().await?;
        match store::rotate(&mut conn, &hash(presented), &next_hash, now, expires_at).await? {
            Rotation::Rotated { session, volunteer } | Rotation::Retried { session, volunteer } => {
                metrics::counter!("registration_sessions_refreshed_total").increment(1);
                Ok(SessionTokens {
                    volunteer_id: volunteer,
                    access: self.sign_for_session(volunteer, session, now)?,
                    refresh_token: next,
                    refresh_expires_at: expires_at,
                })
            }
            Rotation::Reused { session, volunteer } => {
                tracing::warn!(volunteer_id = %volunteer, session_id = %session,
                    "a replaced refresh token was presented: session ended");
                metrics::counter!("registration_sessions_reused_total").increment(1);
                Err(ApiError::Unauthenticated)
            }
            Rotation::Unknown => Err(ApiError::Unauthenticated),
        }
    }

    /// SignOutEverywhere: ends the volunteer's sessions (all, or all but the caller's) and
    /// refuses their access tokens issued before now; with `keep`, new tokens for it.
    pub async fn sign_out_everywhere(
        &self,
        caller: &Principal,
        volunteer: Uuid,
        keep: bool,
    ) -> Result<(u64, Option<SessionTokens>), ApiError> {
        let now = self.now();
        // Tokens issued in this second stay good: the kept session's new one is among them.
        let floor = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
        let kept = match (keep, &caller.session) {
            (true, Some(sid)) => Some(Uuid::parse_str(sid).map_err(|_| ApiError::Unauthenticated)?),
            (true, None) => {
                return Err(ApiError::invalid(
                    "keep_this_session",
                    "this token belongs to no session; sign out everywhere without keeping it",
                ));
            }
            (false, _) => None,
        };
        let mut tx = self.pool.begin().await?;
        let ended = store::revoke_all(&mut tx, volunteer, kept, now).await?;
        set_token_floor(&mut tx, volunteer, floor).await?;
        let tokens = match kept {
            Some(session) => {
                let (refresh_token, refresh_hash) = new_refresh_token();
                let expires_at = self.session_end(now);
                if !store::replace_token(&mut tx, session, &refresh_hash, now, expires_at).await? {
                    return Err(ApiError::Unauthenticated);
                }
                Some(SessionTokens {
                    volunteer_id: volunteer,
                    access: self.sign_for_session(volunteer, session, now)?,
                    refresh_token,
                    refresh_expires_at: expires_at,
                })
            }
            None => None,
        };
        tx.commit().await?;
        tracing::info!(volunteer_id = %volunteer, ended, kept = kept.is_some(), "signed out everywhere");
        Ok((ended, tokens))
    }

    /// RenewMyToken (deprecated): a new access token for the caller's session, while it lives.
    pub async fn renew(&self, caller: &Principal, volunteer: Uuid) -> Result<Token, ApiError> {
        let session = caller
            .session
            .as_deref()
            .and_then(|sid| Uuid::parse_str(sid).ok())
            .ok_or(ApiError::Unauthenticated)?;
        let now = self.now();
        let mut conn = self.pool.acquire().await?;
        if !store::live(&mut conn, session, volunteer, now).await? {
            return Err(ApiError::Unauthenticated);
        }
        self.sign_for_session(volunteer, session, now)
    }

    /// Checks that a volunteer's access token is still good: the volunteer is live (or, with
    /// `erased_ok`, erased already: a retried EraseMe) and did not sign out everywhere after
    /// it was issued.
    pub async fn check_token(
        &self,
        caller: &Principal,
        volunteer: Uuid,
        erased_ok: bool,
    ) -> Result<(), ApiError> {
        let mut conn = self.pool.acquire().await?;
        match token_floor(&mut conn, volunteer).await? {
            Some((status, _)) if status == "erased" => {
                if erased_ok {
                    Ok(())
                } else {
                    Err(ApiError::Unauthenticated)
                }
            }
            Some((_, Some(floor)))
                if i64::try_from(caller.issued_at).unwrap_or(i64::MAX) < floor.timestamp() =>
            {
                Err(ApiError::Unauthenticated)
            }
            Some(_) => Ok(()),
            None => Err(ApiError::Unauthenticated),
        }
    }

    /// An access token of `session`, valid for the access token lifetime from `now`.
    pub(crate) fn sign_for_session(
        &self,
        volunteer: Uuid,
        session: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Token, ApiError> {
        let token = self
            .issuer
            .issue_for_session(&volunteer.to_string(), &session.to_string(), self.token_ttl)
            .map_err(internal)?;
        let expires_at = now + chrono::Duration::from_std(self.token_ttl).map_err(internal)?;
        Ok(Token { token, expires_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_are_random_and_kept_only_as_hashes() {
        let (a, a_hash) = new_refresh_token();
        let (b, _) = new_refresh_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43, "32 bytes, base64url without padding");
        assert_eq!(a_hash, hash(&a));
        assert_eq!(a_hash.len(), 32);
    }
}
