//! Idempotent creation, the same for incidents and tasks: a retried create answers with what
//! the first one made, and a key reused for another request is refused.

use prost::Message;
use spontan_platform::ApiError;
use spontan_platform::auth::Principal;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::store::{self, Claim};

/// One create request of one caller, as its idempotency key sees it.
pub(super) struct Create<'a> {
    /// `create_incident`, `create_task`: keys are per operation.
    operation: &'static str,
    /// `incident`, `task`: what the conflict message names.
    what: &'static str,
    principal: &'a Principal,
    /// The request's bytes: a replay must be the same request.
    encoded: Vec<u8>,
}

impl<'a> Create<'a> {
    pub(super) fn new(
        operation: &'static str,
        what: &'static str,
        principal: &'a Principal,
        request: &impl Message,
    ) -> Self {
        Self {
            operation,
            what,
            principal,
            encoded: request.encode_to_vec(),
        }
    }

    /// The resource this caller's earlier request with the same key and content created, if
    /// `key` (not validated yet) is such a key. Checked before validation, so that a retry
    /// hours later (when the task's window may have begun) still gets its answer.
    pub(super) async fn replayed(
        &self,
        pool: &PgPool,
        key: &str,
    ) -> Result<Option<Uuid>, ApiError> {
        let Ok(key) = Uuid::parse_str(key.trim()) else {
            return Ok(None);
        };
        let mut conn = pool.acquire().await?;
        let subject = &self.principal.subject;
        Ok(store::replayed(&mut conn, subject, key, self.operation, &self.encoded).await?)
    }

    /// Claims `key` for the new resource `id` in the request's transaction: `Some(existing)`
    /// when a concurrent twin of this request made it first, `None` to create it now; a key
    /// used for another request is `AlreadyExists`.
    pub(super) async fn claim(
        &self,
        tx: &mut PgConnection,
        organisation: &str,
        key: Uuid,
        id: Uuid,
    ) -> Result<Option<Uuid>, ApiError> {
        let subject = &self.principal.subject;
        let claim = store::claim_idempotency_key(
            tx,
            organisation,
            subject,
            key,
            self.operation,
            &self.encoded,
            id,
        )
        .await?;
        match claim {
            Claim::New => Ok(None),
            Claim::Replay(existing) => Ok(Some(existing)),
            Claim::Conflict => Err(ApiError::AlreadyExists(format!(
                "idempotency_key was already used for a different request; \
                 use a new key for a new {}",
                self.what
            ))),
        }
    }
}
