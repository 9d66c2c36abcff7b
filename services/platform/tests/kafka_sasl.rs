//! SASL/SCRAM-SHA-512 to the brokers with real handshakes: the local broker speaks no SASL,
//! so the testkit's SCRAM stand-in (`testkit::sasl`) authenticates clients as a Kafka broker
//! would and then passes their bytes on to a private broker that tells clients to come
//! through it. Clients are configured by the platform's own `kafka.security` code, as the
//! services are: with the right password they create topics, produce and read back (over TLS,
//! as in production, and in plain text); with a wrong one librdkafka reports an
//! authentication error and nothing reaches the broker.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use spontan_platform::config::{GrpcTlsConfig, KafkaConfig, KafkaSecurity, Secret};
use spontan_platform::testkit::sasl::ScramProxy;
use spontan_platform::testkit::tls::TestCa;
use spontan_platform::testkit::{self, TestBroker};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const USER: &str = "spontan-task";
const PASSWORD: &str = "s3cret-for-the-test";

/// The stand-in in front of a private broker; with `ca`, over TLS with a certificate of it.
struct Cluster {
    proxy: ScramProxy,
    _broker: TestBroker,
}

async fn cluster(ca: Option<&TestCa>) -> Cluster {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let front = listener.local_addr().expect("addr").to_string();
    let broker = TestBroker::start_owned_advertising(Some(&front))
        .await
        .expect("private broker");
    let tls = ca.map(|ca| {
        let server = ca.server("broker").expect("broker certificate");
        let config = spontan_platform::tls::server_config(&GrpcTlsConfig {
            cert_file: server.cert_file,
            key_file: server.key_file,
            client_ca_file: String::new(),
        })
        .expect("stand-in's TLS");
        TlsAcceptor::from(Arc::new(config))
    });
    let proxy =
        ScramProxy::spawn(listener, broker.brokers(), USER, PASSWORD, tls).expect("stand-in");
    Cluster {
        proxy,
        _broker: broker,
    }
}

/// The configuration a service gets from `kafka.security.*`, validated as at start.
fn kafka(brokers: &str, protocol: &str, ca_file: &str, password: &str) -> KafkaConfig {
    let mut config =
        testkit::platform_config("kafka-sasl", "postgres://unused/unused", brokers).kafka;
    config.security = KafkaSecurity {
        protocol: protocol.into(),
        ca_file: ca_file.into(),
        sasl_mechanism: "SCRAM-SHA-512".into(),
        sasl_username: USER.into(),
        sasl_password: Secret::new(password),
        ..KafkaSecurity::default()
    };
    let mut problems = Vec::new();
    spontan_platform::kafka::security::validate(&config.security, &mut problems);
    assert!(problems.is_empty(), "{problems:?}");
    config
}

/// Creates a topic, produces a record and reads it back, all through the stand-in.
async fn round_trip(config: &KafkaConfig, payload: &str) {
    let topic = format!("spontan.sasl.{}", uuid::Uuid::new_v4().simple());
    tokio::time::timeout(
        Duration::from_secs(60),
        spontan_platform::kafka::ensure_topics(config, &[topic.as_str()]),
    )
    .await
    .expect("in time")
    .expect("topics created after SCRAM");
    let producer = spontan_platform::kafka::producer(config).expect("producer");
    producer
        .send(
            FutureRecord::to(&topic).key("k").payload(payload),
            Duration::from_secs(20),
        )
        .await
        .map_err(|(error, _)| error)
        .expect("produced after SCRAM");
    let consumer: StreamConsumer = spontan_platform::kafka::client_config(config)
        .set("group.id", format!("sasl-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic.as_str()]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
        .await
        .expect("read back in time")
        .expect("a message");
    assert_eq!(message.payload(), Some(payload.as_bytes()));
}

// Several threads: librdkafka's clients block the thread that drops them until their
// connections are closed, and those go through the stand-in, a task of this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_sha_512_over_tls_authenticates_then_produces_and_consumes() {
    testkit::init_logging();
    let ca = TestCa::new("broker CA").expect("ca");
    let cluster = cluster(Some(&ca)).await;
    let ca_file = ca.ca_file().expect("ca file");
    let config = kafka(cluster.proxy.address(), "sasl_ssl", &ca_file, PASSWORD);

    round_trip(&config, "über SASL_SSL").await;

    assert!(
        cluster.proxy.authenticated() > 0,
        "the clients went through SCRAM"
    );
    assert_eq!(cluster.proxy.refused(), 0, "no client was refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scram_sha_512_in_plain_text_authenticates_then_produces_and_consumes() {
    testkit::init_logging();
    let cluster = cluster(None).await;
    let config = kafka(cluster.proxy.address(), "sasl_plaintext", "", PASSWORD);

    round_trip(&config, "über SASL_PLAINTEXT").await;

    assert!(cluster.proxy.authenticated() > 0);
    assert_eq!(cluster.proxy.refused(), 0);
}

/// Keeps the errors librdkafka reports (its error callback) for the test to look at.
#[derive(Clone, Default)]
struct ReportedErrors(Arc<Mutex<Vec<(KafkaError, String)>>>);

impl ReportedErrors {
    fn authentication_failure(&self) -> Option<String> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(error, _)| {
                matches!(
                    error.rdkafka_error_code(),
                    Some(
                        RDKafkaErrorCode::Authentication
                            | RDKafkaErrorCode::SaslAuthenticationFailed
                    )
                )
            })
            .map(|(_, reason)| reason.clone())
    }
}

impl ClientContext for ReportedErrors {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::info!("librdkafka reports {error}: {reason}");
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((error, reason.to_owned()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused_and_nothing_reaches_the_broker() {
    testkit::init_logging();
    let ca = TestCa::new("broker CA").expect("ca");
    let cluster = cluster(Some(&ca)).await;
    let ca_file = ca.ca_file().expect("ca file");
    let config = kafka(cluster.proxy.address(), "sasl_ssl", &ca_file, PASSWORD);
    let topic = format!("spontan.sasl.{}", uuid::Uuid::new_v4().simple());
    tokio::time::timeout(
        Duration::from_secs(60),
        spontan_platform::kafka::ensure_topics(&config, &[topic.as_str()]),
    )
    .await
    .expect("in time")
    .expect("topic created with the right password");
    let authenticated_before = cluster.proxy.authenticated();

    let wrong = kafka(
        cluster.proxy.address(),
        "sasl_ssl",
        &ca_file,
        "not-the-password",
    );
    let errors = ReportedErrors::default();
    let producer: FutureProducer<ReportedErrors> = spontan_platform::kafka::client_config(&wrong)
        .set("message.timeout.ms", "5000")
        .create_with_context(errors.clone())
        .expect("producer");
    let sent = tokio::time::timeout(
        Duration::from_secs(30),
        producer.send(
            FutureRecord::to(&topic).key("k").payload("must not arrive"),
            Duration::from_secs(5),
        ),
    )
    .await
    .expect("the delivery ends in time");
    assert!(
        sent.is_err(),
        "a record produced with a wrong password is not delivered"
    );
    let reason = testkit::eventually(
        Duration::from_secs(30),
        "librdkafka to report an authentication error",
        || {
            let found = errors.authentication_failure();
            async move { found }
        },
    )
    .await;
    assert!(reason.contains("SASL authentication error"), "{reason}");
    // Readiness, as the services report it, stays false.
    let readiness = spontan_platform::kafka::producer(&wrong).expect("producer");
    assert!(!spontan_platform::kafka::is_reachable(&readiness).await);
    assert!(
        cluster.proxy.refused() > 0,
        "the stand-in refused the password"
    );
    assert_eq!(
        cluster.proxy.authenticated(),
        authenticated_before,
        "no connection with the wrong password got through"
    );

    // With the right password: the topic holds nothing.
    let reader: BaseConsumer = spontan_platform::kafka::client_config(&config)
        .set("group.id", format!("sasl-{}", uuid::Uuid::new_v4()))
        .create()
        .expect("reader");
    let partitions = config.partitions;
    let high_watermarks = tokio::task::spawn_blocking(move || {
        (0..partitions)
            .map(|partition| {
                reader
                    .fetch_watermarks(&topic, partition, Duration::from_secs(20))
                    .map(|(_, high)| high)
            })
            .collect::<Result<Vec<i64>, KafkaError>>()
    })
    .await
    .expect("joined")
    .expect("watermarks with the right password");
    assert!(
        high_watermarks.iter().all(|&high| high == 0),
        "nothing was produced: {high_watermarks:?}"
    );
}
