//! TLS to the brokers with a real handshake: the local broker speaks only plain text, so a
//! TLS terminator with a certificate of the test's own CA stands in front of a private
//! broker that tells clients to come through it. A client configured with that CA creates
//! topics, produces and reads back; one that trusts another CA gets nowhere.

use std::time::Duration;

use rdkafka::Message;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::FutureRecord;
use spontan_platform::config::{GrpcTlsConfig, KafkaConfig, KafkaSecurity};
use spontan_platform::testkit::tls::TestCa;
use spontan_platform::testkit::{self, TestBroker};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// Terminates TLS on `listener` and passes the bytes on to `upstream`.
async fn tls_terminator(listener: TcpListener, acceptor: TlsAcceptor, upstream: String) {
    while let Ok((client, _)) = listener.accept().await {
        let (acceptor, upstream) = (acceptor.clone(), upstream.clone());
        tokio::spawn(async move {
            let Ok(mut tls) = acceptor.accept(client).await else {
                return;
            };
            if let Ok(mut broker) = TcpStream::connect(&upstream).await {
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
            }
        });
    }
}

fn kafka(brokers: &str, ca_file: &str) -> KafkaConfig {
    let mut config =
        testkit::platform_config("kafka-tls", "postgres://unused/unused", brokers).kafka;
    config.security = KafkaSecurity {
        protocol: "ssl".into(),
        ca_file: ca_file.into(),
        ..KafkaSecurity::default()
    };
    config
}

// Several threads: librdkafka's clients block the thread that drops them until their
// connections are closed, and those go through the terminator, a task of this runtime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_reach_the_brokers_over_verified_tls() {
    testkit::init_logging();
    let ca = TestCa::new("broker CA").expect("ca");
    let server = ca.server("broker").expect("broker certificate");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let front = listener.local_addr().expect("addr").to_string();
    let broker = TestBroker::start_owned_advertising(Some(&front))
        .await
        .expect("private broker");
    let tls = spontan_platform::tls::server_config(&GrpcTlsConfig {
        cert_file: server.cert_file.clone(),
        key_file: server.key_file.clone(),
        client_ca_file: String::new(),
    })
    .expect("terminator's TLS");
    let acceptor = TlsAcceptor::from(std::sync::Arc::new(tls));
    tokio::spawn(tls_terminator(
        listener,
        acceptor,
        broker.brokers().to_owned(),
    ));

    let config = kafka(&front, &ca.ca_file().expect("ca file"));
    let topic = format!("spontan.tls.{}", uuid::Uuid::new_v4().simple());
    tokio::time::timeout(
        Duration::from_secs(60),
        spontan_platform::kafka::ensure_topics(&config, &[topic.as_str()]),
    )
    .await
    .expect("in time")
    .expect("topics created over TLS");
    let producer = spontan_platform::kafka::producer(&config).expect("producer");
    producer
        .send(
            FutureRecord::to(&topic).key("k").payload("über TLS"),
            Duration::from_secs(20),
        )
        .await
        .map_err(|(error, _)| error)
        .expect("produced over TLS");
    let consumer: StreamConsumer = spontan_platform::kafka::client_config(&config)
        .set("group.id", format!("tls-{}", uuid::Uuid::new_v4()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic.as_str()]).expect("subscribe");
    let message = tokio::time::timeout(Duration::from_secs(60), consumer.recv())
        .await
        .expect("read back in time")
        .expect("a message");
    assert_eq!(message.payload(), Some("über TLS".as_bytes()));

    let stranger = TestCa::new("another CA").expect("ca");
    let untrusting = kafka(&front, &stranger.ca_file().expect("ca file"));
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        spontan_platform::kafka::ensure_topics(&untrusting, &["spontan.tls.refused"]),
    )
    .await;
    assert!(
        !matches!(refused, Ok(Ok(()))),
        "a client that does not trust the brokers' CA gets nowhere"
    );
}
