//! Where the volunteer topic is read from (a part of [`crate::consumer`]): the offsets stored
//! with the read model, once the broker's log has been checked to be the one they came from.
//!
//! An offset names a place in one log. After the broker was rebuilt empty (a disaster
//! recovery brings back the databases with a new Kafka cluster, or `up.sh` starts a fresh
//! broker over old databases) or the topic was recreated, resuming at the stored offsets
//! would skip every record of the new log before them, silently: the offsets would then equal
//! the log ends and show no lag. So the stored offsets carry their cluster id and the last
//! record applied (migration 0109), and `spontan_platform::kafka::log_identity` compares them
//! with the broker's at start and every 30 s while the consumer runs. A partition whose
//! log is another one is read from its beginning: applying is idempotent by volunteer version
//! (an erasure keeps the highest version), so what the read model has already changes
//! nothing, and whatever the new log holds that it lacks is applied. Each such partition is
//! logged at error level and counted in `matching_foreign_offsets_total`
//! (alert `SpontanForeignOffsets`).

use spontan_platform::config::KafkaConfig;
use spontan_platform::kafka::log_identity::{self, CheckedStart, Finding, Mismatch};
use spontan_platform::kafka::{Ended, EventConsumer};
use spontan_platform::retry;
use tokio_util::sync::CancellationToken;

use super::VolunteerConsumer;
use crate::matcher::Matcher;
use crate::store;

/// The consumer's name in logs and metrics.
const NAME: &str = "matching-volunteers";

/// Reads the volunteer topic into the read model and this replica's index.
pub struct VolunteerLog {
    pub matcher: Matcher,
    pub kafka: KafkaConfig,
    /// Names the consumer in the lag metrics; it joins no group.
    pub label: String,
    pub topic: String,
}

impl VolunteerLog {
    /// Rebuilds the index from the database and checks the offsets stored with it against the
    /// broker's log: returns how many volunteers the index holds and where to start reading.
    /// The offsets of partitions whose log is another one are forgotten before anything of
    /// the new log is applied, so that its offsets can grow from the beginning.
    pub async fn restore(&self) -> anyhow::Result<(usize, CheckedStart)> {
        let snapshot = store::volunteer_snapshot(&self.matcher.pool, &self.topic).await?;
        let checked =
            log_identity::verify(&self.kafka, &self.label, &self.topic, snapshot.positions).await?;
        self.forget(&checked.findings).await?;
        report(&self.topic, &checked.findings, "at start");
        let mut index = self.matcher.index_mut();
        for v in snapshot.volunteers {
            index.upsert(v);
        }
        Ok((index.len(), checked))
    }

    /// Assigns every partition of the topic from where `start` says.
    pub async fn assign(&self, start: &CheckedStart) -> anyhow::Result<EventConsumer> {
        Ok(EventConsumer::assign(&self.kafka, NAME, &self.label, &self.topic, start).await?)
    }

    /// Reads with `consumer` (assigned from `start`) until shutdown. When the consumer finds
    /// its log replaced, forgets the offsets of those partitions (they were written from the
    /// new log meanwhile, and may have skipped its first records), restores and reads again.
    pub async fn run(
        self,
        mut consumer: EventConsumer,
        mut start: CheckedStart,
        shutdown: CancellationToken,
    ) {
        let batch = self.matcher.settings.volunteer_batch;
        loop {
            let handler = VolunteerConsumer {
                matcher: self.matcher.clone(),
                cluster_id: start.cluster_id.clone(),
            };
            let findings = match consumer.run_batches(handler, batch, shutdown.clone()).await {
                Ended::Shutdown => return,
                Ended::LogReplaced(findings) => findings,
            };
            let forget = || self.forget(&findings);
            if retry::until_ok(&shutdown, "forgetting the replaced log's offsets", forget)
                .await
                .is_none()
            {
                return;
            }
            report(&self.topic, &findings, "while reading");
            let restore = || self.restore();
            let Some((restored, checked)) =
                retry::until_ok(&shutdown, "restoring the volunteer index", restore).await
            else {
                return;
            };
            tracing::info!(volunteers = restored, "volunteer index restored");
            let assign = || self.assign(&checked);
            let Some(next) =
                retry::until_ok(&shutdown, "reading the volunteer topic", assign).await
            else {
                return;
            };
            (consumer, start) = (next, checked);
        }
    }

    /// Deletes the stored offsets of the partitions whose log is another one.
    async fn forget(&self, findings: &[Finding]) -> anyhow::Result<()> {
        let foreign: Vec<i32> = findings
            .iter()
            .filter(|f| f.mismatch.is_foreign())
            .map(|f| f.partition)
            .collect();
        if !foreign.is_empty() {
            store::forget_volunteer_offsets(&self.matcher.pool, &self.topic, &foreign).await?;
        }
        Ok(())
    }
}

/// One error line and one count per partition whose stored position did not hold.
fn report(topic: &str, findings: &[Finding], when: &'static str) {
    for f in findings {
        let reason = f.mismatch.reason();
        crate::metrics::foreign_offsets(topic, reason);
        let (stored, found) = match &f.mismatch {
            Mismatch::Cluster { stored, current } => (stored.as_str(), current.as_str()),
            Mismatch::Record { stored, found } => (stored.as_str(), found.as_str()),
            Mismatch::LogEnd | Mismatch::Expired => ("", ""),
        };
        if f.mismatch.is_foreign() {
            tracing::error!(
                topic,
                partition = f.partition,
                stored_offset = f.offset,
                low_watermark = f.low,
                high_watermark = f.high,
                reason,
                stored,
                found,
                when,
                "stored volunteer offset belongs to another log (broker rebuilt or topic \
                 recreated); reading the partition from its beginning"
            );
        } else {
            tracing::error!(
                topic,
                partition = f.partition,
                stored_offset = f.offset,
                low_watermark = f.low,
                high_watermark = f.high,
                reason,
                when,
                "volunteer records expired before matching read them; reading on from the \
                 oldest record the broker has"
            );
        }
    }
}
