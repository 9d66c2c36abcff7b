//! Reading topics the way a test looks at them: every record from the beginning, in a
//! consumer group of the reader's own that commits nothing, and collecting what arrives until
//! it is complete and quiet.

use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::{Consumer, StreamConsumer};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::KafkaConfig;
use crate::kafka::{ConsumedEvent, EventConsumer, EventHandler};

/// A raw consumer of `topic` from its beginning, in a new group that commits nothing: it sees
/// keys, headers and bytes exactly as the broker holds them.
pub fn raw_reader(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<StreamConsumer> {
    let consumer: StreamConsumer = crate::kafka::client_config(kafka)
        .set("group.id", format!("test-reader-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()?;
    consumer.subscribe(&[topic])?;
    Ok(consumer)
}

/// Reads `topic` from its beginning through the platform's own consumer loop, in a group of
/// its own, until `stop`: what `pick` takes from each record arrives on the returned channel
/// (records it returns `None` for are left out). The handle ends once the reader has left.
pub fn read_events<T: Send + 'static>(
    kafka: &KafkaConfig,
    topic: &str,
    stop: CancellationToken,
    pick: impl Fn(&ConsumedEvent) -> Option<T> + Send + Sync + 'static,
) -> anyhow::Result<(UnboundedReceiver<T>, JoinHandle<()>)> {
    let group = format!("test-reader-{}", uuid::Uuid::new_v4().simple());
    let (consumer, _rebalances) = EventConsumer::subscribe(kafka, "test-reader", &group, &[topic])?;
    let (tx, rx) = unbounded_channel();
    let reader = tokio::spawn(consumer.run(Forward { tx, pick }, stop));
    Ok((rx, reader))
}

struct Forward<T, F> {
    tx: UnboundedSender<T>,
    pick: F,
}

#[async_trait]
impl<T, F> EventHandler for Forward<T, F>
where
    T: Send + 'static,
    F: Fn(&ConsumedEvent) -> Option<T> + Send + Sync + 'static,
{
    async fn handle(&self, event: &ConsumedEvent) -> anyhow::Result<()> {
        if let Some(item) = (self.pick)(event) {
            // A test that stopped listening has what it wanted.
            let _ = self.tx.send(item);
        }
        Ok(())
    }
}

/// How long a reader waits after it has enough, for a late copy or one record too many.
const QUIET: Duration = Duration::from_secs(2);

/// Receives from `rx` until `enough` holds for everything received and then nothing more
/// arrives for two seconds, or until `within` has passed or the sender is gone; returns what
/// was received. The caller asserts what it expected: a shortfall is not an error here.
pub async fn receive_until_quiet<T>(
    rx: &mut UnboundedReceiver<T>,
    within: Duration,
    mut enough: impl FnMut(&[T]) -> bool,
) -> Vec<T> {
    let deadline = tokio::time::Instant::now() + within;
    let mut received = Vec::new();
    loop {
        let wait = if enough(&received) {
            QUIET
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        };
        match tokio::time::timeout(wait, rx.recv()).await {
            Ok(Some(item)) => received.push(item),
            _ => return received,
        }
    }
}
