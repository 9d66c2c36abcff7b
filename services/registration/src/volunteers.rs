//! The registry of volunteers: registration, self-service changes and erasure, each one
//! database transaction that writes the state and its event through the outbox. Contact data
//! is sealed on the way in and opened on the way out here, nowhere else.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use prost::Message;
use spontan_platform::ApiError;
use spontan_platform::auth::TokenIssuer;
use spontan_platform::outbox::{OutboxMessage, enqueue};
use spontan_proto::v1::{AlertChannel, RegisterRequest};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::clock::Clock;
use crate::commit::{GroupCommit, NewVolunteer, Outcome};
use crate::crypto::{LookupKind, Sealed, Vault};
use crate::domain::{ContactData, Profile, Status, Volunteer, normalise_email};
use crate::events::{self, Change};
use crate::sessions::SessionTokens;
use crate::store::volunteers::FirstUse;
use crate::store::{self, Lookup, VolunteerRow};
use crate::validation;

/// How long an idempotency key answers with a session for its volunteer: a phone that lost
/// the answer retries within minutes; after a day, the request is no credential.
pub const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(24);

/// Why a retried Register is refused after [`IDEMPOTENCY_WINDOW`].
pub const IDEMPOTENCY_KEY_EXPIRED: spontan_platform::error::Reason =
    spontan_platform::error::Reason::new("IDEMPOTENCY_KEY_EXPIRED", "registration.spontan");

/// A freshly issued volunteer token.
#[derive(Debug, Clone)]
pub struct Token {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Everything the volunteer RPCs need, shared by the handlers.
#[derive(Debug, Clone)]
pub struct Registry {
    pub pool: PgPool,
    pub vault: Vault,
    pub topic: String,
    pub consent_text_version: String,
    pub issuer: TokenIssuer,
    /// Lifetime of access tokens.
    pub token_ttl: Duration,
    /// Days a session lives without a refresh.
    pub session_days: u32,
    /// Where "now" comes from: the system clock, or a test's [`crate::clock::ManualClock`].
    pub clock: Arc<dyn Clock>,
    /// The writers that commit new registrations in groups.
    pub commit: GroupCommit,
    /// `privacy.require_confirmed_contact`: matching learns of a volunteer (their events are
    /// published) only once they confirmed a contact.
    pub require_confirmed_contact: bool,
    /// Verifies matching's contact grants (`auth.contact_grant_verifying_keys`); `None`:
    /// grants are ignored.
    pub grants: Option<spontan_platform::auth::grant::GrantVerifier>,
}

fn internal(error: impl Into<anyhow::Error>) -> ApiError {
    ApiError::Internal(error.into())
}

impl Registry {
    /// The registry over `pool` with the keys, topic and token settings of `config`.
    pub fn from_config(
        pool: PgPool,
        config: &crate::Config,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        use anyhow::Context;
        Ok(Self {
            pool: pool.clone(),
            vault: Vault::from_config(&config.privacy).context("privacy keys")?,
            topic: config.platform.kafka.topics.volunteer.clone(),
            consent_text_version: config.privacy.consent_text_version.clone(),
            issuer: TokenIssuer::from_config(&config.platform.auth).context("auth.signing_key")?,
            token_ttl: Duration::from_secs(
                u64::from(config.platform.auth.volunteer_access_token_minutes) * 60,
            ),
            session_days: config.platform.auth.volunteer_session_days,
            clock,
            commit: GroupCommit::start(
                pool.clone(),
                config.register_commit.writers,
                config.register_commit.max_batch,
            ),
            require_confirmed_contact: config.privacy.require_confirmed_contact,
            grants: spontan_platform::auth::grant::GrantVerifier::from_config(
                &config.platform.auth,
            )
            .context("auth.contact_grant_verifying_keys")?,
        })
    }

    /// Whether matching may know of `volunteer` yet: always, unless the deployment requires
    /// a confirmed contact and they have none.
    pub fn published(&self, volunteer: &Volunteer) -> bool {
        !self.require_confirmed_contact || volunteer.contact_confirmed_at.is_some()
    }

    /// Whether `volunteer` must still confirm a contact before offers reach them.
    pub fn confirmation_required(&self, volunteer: &Volunteer) -> bool {
        !self.published(volunteer)
    }

    /// The registry's current time at the database's precision.
    pub fn now(&self) -> DateTime<Utc> {
        crate::clock::db_now(self.clock.as_ref())
    }

    /// Registers a volunteer once per idempotency key; a retry gets the same volunteer. The
    /// write goes through the group commit ([`crate::commit`]): concurrent registrations share
    /// one transaction, and this call returns after the commit that holds its own.
    pub async fn register(&self, request: &RegisterRequest) -> Result<SessionTokens, ApiError> {
        let fingerprint = self
            .vault
            .lookup_hash(LookupKind::Fingerprint, &request.encode_to_vec());
        let now = self.now();
        let registration = match validation::registration(request, &self.consent_text_version, now)
        {
            Ok(registration) => registration,
            Err(invalid) => {
                // A retry is answered even when it no longer validates: its windows may have
                // ended since the first attempt, and it was valid then.
                let key = Uuid::parse_str(request.idempotency_key.trim()).ok();
                return match key {
                    Some(key) => match self.first_use(key).await? {
                        Some(first) => self.replay(first, &fingerprint).await,
                        None => Err(invalid),
                    },
                    None => Err(invalid),
                };
            }
        };
        let id = Uuid::new_v4();
        let lookup = self.lookup(&registration.profile.contact);
        let sealed = self.seal(id, &registration.profile.contact)?;
        let volunteer = Volunteer {
            id,
            status: Status::Active,
            profile: registration.profile,
            windows: registration.windows,
            consent_text_version: registration.consent_text_version,
            consent_given_at: now,
            created_at: now,
            updated_at: now,
            version: 1,
            contact_confirmed_at: None,
        };
        let event = self
            .published(&volunteer)
            .then(|| events::message(&self.topic, Change::Registered, &volunteer));
        // Signed now, handed out only after the commit that writes the session.
        let (session, tokens) = self.new_session(id, now)?;
        let outcome = self
            .commit
            .submit(NewVolunteer {
                id,
                profile: volunteer.profile,
                sealed,
                lookup,
                windows: volunteer.windows,
                consent_text_version: volunteer.consent_text_version,
                idempotency_key: registration.idempotency_key,
                fingerprint: fingerprint.clone(),
                now,
                event,
                session,
            })
            .await?;
        match outcome {
            Outcome::Registered { duplicate } => {
                if duplicate {
                    tracing::info!(volunteer_id = %id, "registration shares a phone or e-mail with an earlier volunteer");
                }
                tracing::info!(volunteer_id = %id, "volunteer registered");
                metrics::counter!("registration_volunteers_registered_total").increment(1);
                Ok(tokens)
            }
            Outcome::KeyTaken => {
                let first = self
                    .first_use(registration.idempotency_key)
                    .await?
                    .ok_or_else(|| internal(anyhow::anyhow!("idempotency key vanished")))?;
                self.replay(first, &fingerprint).await
            }
        }
    }

    /// How a key was first used, if it was.
    async fn first_use(&self, key: Uuid) -> Result<Option<FirstUse>, ApiError> {
        let mut conn = self.pool.acquire().await?;
        Ok(store::volunteers::idempotency(&mut conn, key).await?)
    }

    /// A retry of a registration: a new session for its volunteer, within
    /// [`IDEMPOTENCY_WINDOW`] of the first attempt and for the same request only.
    async fn replay(&self, first: FirstUse, fingerprint: &[u8]) -> Result<SessionTokens, ApiError> {
        if first.fingerprint != fingerprint {
            return Err(ApiError::AlreadyExists(
                "this idempotency_key was already used for a different registration; \
                 use a new key for a new registration"
                    .into(),
            ));
        }
        if self.now() - first.created_at > IDEMPOTENCY_WINDOW {
            return Err(ApiError::precondition(
                IDEMPOTENCY_KEY_EXPIRED,
                "this registration was answered more than 24 hours ago; its idempotency key \
                 no longer opens a session",
            ));
        }
        self.open_session(first.volunteer_id).await
    }

    /// The live volunteer `id`; an erased or unknown one means the token is no longer good.
    pub async fn get(&self, id: Uuid) -> Result<Volunteer, ApiError> {
        let mut conn = self.pool.acquire().await?;
        let row = store::volunteers::load(&mut conn, id, false).await?;
        self.open_live(&mut conn, row).await
    }

    pub(crate) async fn open_live(
        &self,
        conn: &mut PgConnection,
        row: Option<VolunteerRow>,
    ) -> Result<Volunteer, ApiError> {
        let row = row.ok_or(ApiError::Unauthenticated)?;
        if row.status() == Status::Erased {
            return Err(ApiError::Unauthenticated);
        }
        let windows = store::volunteers::windows(conn, row.id).await?;
        self.open(row, windows)
    }

    fn open(
        &self,
        row: VolunteerRow,
        windows: Vec<crate::domain::Window>,
    ) -> Result<Volunteer, ApiError> {
        let sealed = row
            .sealed()
            .ok_or_else(|| internal(anyhow::anyhow!("live volunteer without sealed contact")))?;
        let plain = self.vault.open(row.id, &sealed).map_err(internal)?;
        let contact: ContactData = serde_json::from_slice(&plain).map_err(internal)?;
        let channel = row
            .preferred_channel
            .and_then(|c| AlertChannel::try_from(i32::from(c)).ok())
            .unwrap_or(AlertChannel::Unspecified);
        Ok(Volunteer {
            id: row.id,
            status: row.status(),
            profile: Profile {
                contact,
                channel,
                skill_ids: row.skill_ids,
                languages: row.languages,
                birth_year: row.birth_year.unwrap_or_default(),
                travel_radius_km: row.travel_radius_km.unwrap_or_default(),
                messages_opt_out: row.messages_opt_out,
            },
            windows,
            consent_text_version: row.consent_text_version.unwrap_or_default(),
            consent_given_at: row.consent_given_at.unwrap_or(row.created_at),
            created_at: row.created_at,
            updated_at: row.updated_at,
            version: row.version,
            contact_confirmed_at: row.contact_confirmed_at,
        })
    }

    /// Applies `edit` to the volunteer under a row lock. Writes (and bumps the version) only
    /// when something changed, and publishes the event the change calls for: Paused/Resumed
    /// for a status change, Updated when the matchable state differs, nothing for changes
    /// matching does not see (contact data, `messages_opt_out`).
    pub async fn change<F>(
        &self,
        id: Uuid,
        expected_version: Option<i64>,
        edit: F,
    ) -> Result<Volunteer, ApiError>
    where
        F: FnOnce(&mut Volunteer) -> Result<(), ApiError>,
    {
        let mut tx = self.pool.begin().await?;
        let row = store::volunteers::load(&mut tx, id, true).await?;
        let before = self.open_live(&mut tx, row).await?;
        if let Some(expected) = expected_version
            && expected != before.version
        {
            return Err(ApiError::Aborted(format!(
                "the profile changed meanwhile (version {} now); reload and retry",
                before.version
            )));
        }
        let mut after = before.clone();
        edit(&mut after)?;
        if after.profile == before.profile
            && after.windows == before.windows
            && after.status == before.status
        {
            return Ok(before);
        }
        let now = self.now();
        let sealed = self.seal(id, &after.profile.contact)?;
        let lookup = self.lookup(&after.profile.contact);
        after.version = store::volunteers::save(
            &mut tx,
            id,
            after.status,
            &after.profile,
            &sealed,
            &lookup,
            now,
        )
        .await?;
        after.updated_at = now;
        if after.windows != before.windows {
            store::volunteers::replace_windows(&mut tx, id, &after.windows).await?;
        }
        let change = match (before.status, after.status) {
            (Status::Active, Status::Paused) => Some(Change::Paused),
            (Status::Paused, Status::Active) => Some(Change::Resumed),
            _ if events::matchable(&before, now) != events::matchable(&after, now) => {
                Some(Change::Updated)
            }
            _ => None,
        };
        if let Some(change) = change
            && self.published(&after)
        {
            enqueue(&mut tx, &[events::message(&self.topic, change, &after)]).await?;
            store::volunteers::mark_published(&mut tx, id, now).await?;
        }
        tx.commit().await?;
        Ok(after)
    }

    /// Publishes the volunteer's current state again under a new version (VolunteerPaused
    /// for a paused one, VolunteerUpdated otherwise): the yearly refresh.
    pub async fn republish(&self, id: Uuid) -> Result<(), ApiError> {
        let mut tx = self.pool.begin().await?;
        let row = store::volunteers::load(&mut tx, id, true).await?;
        let mut volunteer = match self.open_live(&mut tx, row).await {
            Ok(v) => v,
            Err(ApiError::Unauthenticated) => return Ok(()),
            Err(other) => return Err(other),
        };
        if !self.published(&volunteer) {
            return Ok(());
        }
        let now = self.now();
        volunteer.version = store::volunteers::bump_version(&mut tx, id).await?;
        let change = match volunteer.status {
            Status::Paused => Change::Paused,
            _ => Change::Updated,
        };
        enqueue(&mut tx, &[events::message(&self.topic, change, &volunteer)]).await?;
        store::volunteers::mark_published(&mut tx, id, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Erases the volunteer: crypto-shredding, `VolunteerErased` and a tombstone. Erasing
    /// again answers with the first erasure's time.
    pub async fn erase(&self, id: Uuid) -> Result<DateTime<Utc>, ApiError> {
        self.erase_for(id, "request").await
    }

    /// Erases `id` for `reason` (`request` or `retention`).
    pub async fn erase_for(&self, id: Uuid, reason: &str) -> Result<DateTime<Utc>, ApiError> {
        let mut tx = self.pool.begin().await?;
        let row = store::volunteers::load(&mut tx, id, true)
            .await?
            .ok_or(ApiError::Unauthenticated)?;
        if row.status() == Status::Erased {
            return row
                .erased_at
                .ok_or_else(|| internal(anyhow::anyhow!("erased volunteer without time")));
        }
        let now = self.now();
        let version = store::volunteers::erase(&mut tx, id, now, reason).await?;
        let messages: [OutboxMessage; 2] = events::erased(&self.topic, id, version);
        enqueue(&mut tx, &messages).await?;
        tx.commit().await?;
        tracing::info!(volunteer_id = %id, reason, "volunteer erased");
        metrics::counter!("registration_volunteers_erased_total", "reason" => reason.to_owned())
            .increment(1);
        Ok(now)
    }

    fn seal(&self, id: Uuid, contact: &ContactData) -> Result<Sealed, ApiError> {
        let plain = serde_json::to_vec(contact).map_err(internal)?;
        self.vault.seal(id, &plain).map_err(internal)
    }

    fn lookup(&self, contact: &ContactData) -> Lookup {
        Lookup {
            phone_hash: contact
                .phone_e164
                .as_ref()
                .map(|p| self.vault.lookup_hash(LookupKind::Phone, p.as_bytes())),
            email_hash: contact.email.as_ref().map(|e| {
                self.vault
                    .lookup_hash(LookupKind::Email, normalise_email(e).as_bytes())
            }),
        }
    }
}
