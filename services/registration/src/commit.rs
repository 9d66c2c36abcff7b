//! Group commit of registrations. In a surge hundreds of `Register` calls arrive each second;
//! written one transaction each, PostgreSQL spends its time on per-statement and per-commit
//! overhead (about ten round trips and one WAL flush per volunteer). Here every call hands its
//! already validated and sealed registration to a small set of writer tasks; a writer takes
//! whatever has queued up (at least one, at most `register_commit.max_batch`) and writes all of
//! it with one statement per table and one commit. At low load a batch is one registration
//! and nothing waits; under load the batches grow by themselves, without a timer.
//!
//! Nothing is answered before its commit. A batch that fails is retried one registration at a
//! time, so one bad row never fails the others, and an idempotency key that another request
//! claimed first is answered as that request's retry (the caller replays it).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use spontan_platform::ApiError;
use spontan_platform::outbox::{OutboxMessage, enqueue};
use sqlx::{PgConnection, PgPool};
use tokio::sync::{Mutex, mpsc, oneshot};
use uuid::Uuid;

use crate::crypto::Sealed;
use crate::domain::{Profile, Window};
use crate::store::Lookup;
use crate::store::registrations as batch;

/// One validated registration, sealed and ready to be written.
#[derive(Debug)]
pub struct NewVolunteer {
    pub id: Uuid,
    pub profile: Profile,
    pub sealed: Sealed,
    pub lookup: Lookup,
    pub windows: Vec<Window>,
    pub consent_text_version: String,
    pub idempotency_key: Uuid,
    pub fingerprint: Vec<u8>,
    pub now: DateTime<Utc>,
    /// The `VolunteerRegistered` event; none while the contact must be confirmed first.
    pub event: Option<OutboxMessage>,
    /// The volunteer's first session (written with the volunteer; its tokens are handed out
    /// after the commit).
    pub session: crate::store::sessions::NewSession,
}

/// What became of a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Written and committed, `duplicate` when an earlier live volunteer shares its phone or
    /// e-mail.
    Registered { duplicate: bool },
    /// Its idempotency key had been claimed by another request: answer as that one's retry.
    KeyTaken,
}

type Reply = oneshot::Sender<Result<Outcome, ApiError>>;

/// The queue in front of the writers. Cheap to clone; the writers stop when the last clone
/// is dropped and the queue is empty.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::UnboundedSender<(NewVolunteer, Reply)>,
}

impl GroupCommit {
    /// Starts `writers` writer tasks on the current runtime over `pool`.
    pub fn start(pool: PgPool, writers: u32, max_batch: u32) -> Self {
        let (queue, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            let (pool, receiver) = (pool.clone(), receiver.clone());
            tokio::spawn(write_batches(pool, receiver, max_batch.max(1) as usize));
        }
        Self { queue }
    }

    /// Queues `volunteer` and waits for its commit.
    pub async fn submit(&self, volunteer: NewVolunteer) -> Result<Outcome, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((volunteer, reply))
            .map_err(|_| ApiError::Unavailable(anyhow::anyhow!("registration writers stopped")))?;
        answer
            .await
            .map_err(|_| ApiError::Unavailable(anyhow::anyhow!("registration writer stopped")))?
    }
}

type Receiver = Arc<Mutex<mpsc::UnboundedReceiver<(NewVolunteer, Reply)>>>;

async fn write_batches(pool: PgPool, receiver: Receiver, max_batch: usize) {
    loop {
        let mut batch = Vec::new();
        {
            // One writer at a time takes from the queue: it waits for the first registration,
            // then takes whatever else is already there.
            let mut queue = receiver.lock().await;
            let Some(first) = queue.recv().await else {
                return;
            };
            batch.push(first);
            while batch.len() < max_batch {
                match queue.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
        }
        metrics::histogram!("registration_commit_batch_size").record(batch.len() as f64);
        write(&pool, batch).await;
    }
}

/// Writes `batch` and answers every registration in it.
async fn write(pool: &PgPool, batch: Vec<(NewVolunteer, Reply)>) {
    let (volunteers, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
    match write_all(pool, &volunteers).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(error) if volunteers.len() == 1 => {
            let _ = replies.into_iter().next().map(|r| r.send(Err(error)));
        }
        Err(error) => {
            // One registration may be what failed the batch: the others must not fail with it.
            tracing::warn!(%error, size = volunteers.len(), "registration batch failed; writing one at a time");
            for (volunteer, reply) in volunteers.iter().zip(replies) {
                let outcome = write_all(pool, std::slice::from_ref(volunteer)).await;
                let _ = reply.send(outcome.map(|mut o| o.remove(0)));
            }
        }
    }
}

/// Writes the registrations in one transaction; the outcome of each, in order. Keys claimed
/// elsewhere meanwhile make the transaction start over without those registrations.
async fn write_all(pool: &PgPool, volunteers: &[NewVolunteer]) -> Result<Vec<Outcome>, ApiError> {
    let mut outcomes = vec![Outcome::KeyTaken; volunteers.len()];
    // A key used twice within the batch: the first use writes, the others are its retries.
    let mut seen = HashSet::new();
    let mut pending: Vec<usize> = (0..volunteers.len())
        .filter(|&i| seen.insert(volunteers[i].idempotency_key))
        .collect();
    while !pending.is_empty() {
        let mut tx = pool.begin().await?;
        let chosen: Vec<&NewVolunteer> = pending.iter().map(|&i| &volunteers[i]).collect();
        let duplicates = duplicates(&mut tx, &chosen).await?;
        batch::insert_volunteers(&mut tx, &chosen, &duplicates).await?;
        batch::insert_windows(&mut tx, &chosen).await?;
        let claimed = batch::claim_keys(&mut tx, &chosen).await?;
        if claimed.len() < chosen.len() {
            // Another request holds one of these keys: none of this is kept, and those
            // registrations are answered as its retries.
            tx.rollback().await?;
            pending.retain(|&i| claimed.contains(&volunteers[i].idempotency_key));
            continue;
        }
        let events: Vec<OutboxMessage> = chosen.iter().filter_map(|v| v.event.clone()).collect();
        if !events.is_empty() {
            enqueue(&mut tx, &events).await?;
        }
        batch::open_sessions(&mut tx, &chosen).await?;
        tx.commit().await?;
        for (&i, duplicate) in pending.iter().zip(duplicates) {
            outcomes[i] = Outcome::Registered {
                duplicate: duplicate.is_some(),
            };
        }
        break;
    }
    Ok(outcomes)
}

/// For each registration, the earliest live volunteer sharing its phone or e-mail: one
/// already stored ([`batch::earliest_holders`]), else an earlier one of the same batch.
async fn duplicates(
    conn: &mut PgConnection,
    volunteers: &[&NewVolunteer],
) -> Result<Vec<Option<Uuid>>, sqlx::Error> {
    let phones: Vec<&[u8]> = volunteers
        .iter()
        .filter_map(|v| v.lookup.phone_hash.as_deref())
        .collect();
    let emails: Vec<&[u8]> = volunteers
        .iter()
        .filter_map(|v| v.lookup.email_hash.as_deref())
        .collect();
    let stored = batch::earliest_holders(conn, &phones, &emails).await?;
    let mut earliest: HashMap<(bool, &[u8]), Uuid> = stored
        .iter()
        .map(|(phone, hash, id)| ((*phone, hash.as_slice()), *id))
        .collect();
    Ok(volunteers
        .iter()
        .map(|v| {
            let keys = [
                v.lookup.phone_hash.as_deref().map(|p| (true, p)),
                v.lookup.email_hash.as_deref().map(|e| (false, e)),
            ];
            let found = keys
                .iter()
                .flatten()
                .filter_map(|key| earliest.get(key).copied())
                .next();
            for key in keys.into_iter().flatten() {
                earliest.entry(key).or_insert(v.id);
            }
            found
        })
        .collect())
}
