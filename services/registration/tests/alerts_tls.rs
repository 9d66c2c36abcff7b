//! Alerts over real TLS: the SMTP relay and the messaging gateway of `support` serve
//! certificates issued in the test by a CA whose PEM file the service is given as
//! `alerts.smtp_ca_file` / `webhook_ca_file`. E-mail goes over STARTTLS with AUTH (or implicit
//! TLS), the gateway's calls over HTTPS carry an HMAC signature the test checks on its own;
//! receivers whose certificate another CA signed get nothing, and clear text outside loopback
//! is refused before the service starts.

mod common;
mod support;

use std::time::Duration;

use chrono::Utc;
use common::*;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use spontan_platform::config::{Secret, Validate};
use spontan_platform::testkit;
use spontan_proto::v1::AlertChannel;
use spontan_registration::alerts::smtp::SmtpNotifier;
use spontan_registration::alerts::{AlertKind, Notifier, Outgoing, SendError};
use spontan_registration::config::{AlertsConfig, SmtpTls};
use spontan_registration::{Application, Config};
use support::gateway::Receiver;
use support::smtp::{Options, Security, SmtpServer};
use support::tls::Pki;

const USER: &str = "spontan-alerts";
const PASSWORD: &str = "Brücke-über-die-Ahr-2021";
const SECRET: &str = "whsec_7f3a9c1e5b2d4f6a8c0e";

/// Checks `X-Spontan-Signature: t=<unix>,v1=<hex>` as a gateway would (docs/api.md): the
/// HMAC-SHA256 of `<t>.<body>` under the secret, and `t` within five minutes of now.
fn verify_signature(header: &str, body: &[u8], secret: &str) -> Result<(), String> {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (t, v1) = t.zip(v1).ok_or("t and v1 expected")?;
    if (Utc::now().timestamp() - t).abs() > 300 {
        return Err(format!("stale: t={t}"));
    }
    let given: Vec<u8> = (0..v1.len() / 2)
        .map(|i| u8::from_str_radix(&v1[2 * i..2 * i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| "v1 is not hex")?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| "signature mismatch".to_owned())
}

fn alerts_config(relay: &SmtpServer, tls: SmtpTls, ca_file: &str) -> AlertsConfig {
    AlertsConfig {
        smtp_server: relay.server(),
        smtp_tls: tls,
        smtp_username: USER.into(),
        smtp_password: Secret::new(PASSWORD),
        smtp_ca_file: ca_file.into(),
        smtp_from: "alerts@thw-ahrweiler.example".into(),
        ..AlertsConfig::default()
    }
}

fn email(to: &str) -> Outgoing {
    let title = "Suppenküche Marktplatz";
    Outgoing {
        alert_id: 7,
        kind: AlertKind::Offer,
        channel: AlertChannel::Email,
        to: to.into(),
        display_name: "Mara".into(),
        match_id: uuid::Uuid::new_v4().to_string(),
        task_title: title.into(),
        expires_at: None,
        text: Outgoing::compose(AlertKind::Offer, title, None, None),
    }
}

#[tokio::test]
async fn offers_reach_the_relay_over_starttls_with_auth_and_the_gateway_signed_over_https() {
    let pki = Pki::new("Spontan test CA");
    let relay = SmtpServer::start(
        Options::new(Security::StartTls(pki.acceptor.clone())).credentials(USER, PASSWORD),
    )
    .await;
    let gateway = Receiver::start(Some(pki.acceptor.clone()), 0).await;
    let app = TestApp::spawn_with(|c| {
        c.alerts = AlertsConfig {
            webhook_url: gateway.url.clone(),
            webhook_secret: Secret::new(SECRET),
            webhook_ca_file: pki.ca_file.clone(),
            ..alerts_config(&relay, SmtpTls::Starttls, &pki.ca_file)
        };
        c.alerts.retry_base_ms = 100;
    })
    .await;
    assert!(gateway.url.starts_with("https://"));

    let sms = app.register(valid_request()).await;
    let mail = app
        .register(email_request("Mara", "mara@example.org"))
        .await;
    let sms_match = app.offer(&sms.volunteer_id, "Sandsäcke füllen").await;
    let mail_match = app
        .offer(&mail.volunteer_id, "Suppenküche Marktplatz")
        .await;

    let received = relay
        .next(Duration::from_secs(30))
        .await
        .expect("mail in time");
    assert!(received.tls, "DATA came after STARTTLS");
    let (mechanism, user, password) = received.auth.clone().expect("authenticated");
    assert_eq!((user.as_str(), password.as_str()), (USER, PASSWORD));
    assert_eq!(mechanism, "PLAIN", "the first mechanism both sides know");
    assert_eq!(received.from, "alerts@thw-ahrweiler.example");
    assert_eq!(received.rcpt, ["mara@example.org"]);
    assert_eq!(received.subject(), "Einsatzangebot: Suppenküche Marktplatz");
    let text = received.text();
    assert!(text.starts_with("Hallo Mara,"), "{text}");
    assert!(
        text.contains("Spontan: Einsatzangebot „Suppenküche Marktplatz“"),
        "{text}"
    );
    assert!(
        text.contains("Task offered: \"Suppenküche Marktplatz\""),
        "{text}"
    );

    let call = gateway
        .next(Duration::from_secs(30))
        .await
        .expect("webhook called in time");
    assert_eq!(call.json()["match_id"], sms_match.as_str());
    assert_eq!(call.json()["to"], PHONE_MARKER);
    let signature = call.header("x-spontan-signature").expect("signed");
    verify_signature(signature, &call.body, SECRET).expect("the signature verifies");
    assert!(
        verify_signature(signature, &call.body, "whsec_someone_elses_secret").is_err(),
        "and only under our secret"
    );
    let mut altered = call.body.to_vec();
    altered.extend_from_slice(b" ");
    assert!(
        verify_signature(signature, &altered, SECRET).is_err(),
        "and only for this body"
    );

    for match_id in [&sms_match, &mail_match] {
        assert_eq!(app.settled_alert(match_id).await, ("sent".into(), 1, None));
    }
    assert_eq!(relay.handshake_failures() + gateway.handshake_failures(), 0);
    app.stop().await;
}

#[tokio::test]
async fn receivers_whose_certificate_another_ca_signed_get_nothing() {
    let trusted = Pki::new("Spontan test CA");
    let rogue = Pki::new("Rogue CA");
    let relay = SmtpServer::start(
        Options::new(Security::StartTls(rogue.acceptor.clone())).credentials(USER, PASSWORD),
    )
    .await;
    let gateway = Receiver::start(Some(rogue.acceptor.clone()), 0).await;
    let app = TestApp::spawn_with(|c| {
        c.alerts = AlertsConfig {
            webhook_url: gateway.url.clone(),
            webhook_secret: Secret::new(SECRET),
            webhook_ca_file: trusted.ca_file.clone(),
            max_attempts: 2,
            retry_base_ms: 100,
            ..alerts_config(&relay, SmtpTls::Starttls, &trusted.ca_file)
        };
    })
    .await;

    let sms = app.register(valid_request()).await;
    let mail = app
        .register(email_request("Mara", "mara@example.org"))
        .await;
    let sms_match = app.offer(&sms.volunteer_id, "Sandsäcke füllen").await;
    let mail_match = app
        .offer(&mail.volunteer_id, "Suppenküche Marktplatz")
        .await;

    // Each alert is tried, retried once (a transport error is not the message's fault), and
    // given up; the handshake is where it stopped.
    for match_id in [&sms_match, &mail_match] {
        assert_eq!(
            app.settled_alert(match_id).await,
            ("failed".into(), 2, Some("tls handshake failed".into()))
        );
    }
    assert!(relay.handshake_failures() >= 2, "STARTTLS was tried");
    assert!(gateway.handshake_failures() >= 2, "HTTPS was tried");
    assert!(
        relay.next(Duration::from_millis(200)).await.is_none(),
        "no mail"
    );
    assert_eq!(gateway.calls(), 0, "no request");
    app.stop().await;
}

#[tokio::test]
async fn implicit_tls_delivers_too_and_the_certificate_name_is_checked() {
    let pki = Pki::new("Spontan test CA");
    let mut options =
        Options::new(Security::Implicit(pki.acceptor.clone())).credentials(USER, PASSWORD);
    options.mechanisms = "LOGIN";
    let relay = SmtpServer::start(options).await;
    let config = AlertsConfig {
        // By name, as relays usually are: the certificate is for `localhost` too.
        smtp_server: relay.server_by_name(),
        ..alerts_config(&relay, SmtpTls::Implicit, &pki.ca_file)
    };
    let notifier = SmtpNotifier::new(&config).expect("notifier");
    notifier
        .send(&email("mara@example.org"))
        .await
        .expect("sent");
    let received = relay.next(Duration::from_secs(10)).await.expect("mail");
    assert!(received.tls);
    let (mechanism, user, password) = received.auth.clone().expect("authenticated");
    assert_eq!(
        (mechanism.as_str(), user.as_str(), password.as_str()),
        ("LOGIN", USER, PASSWORD)
    );
    assert!(received.text().contains("„Suppenküche Marktplatz“"));
    // The notifier is built once: a second alert goes through the same transport.
    notifier
        .send(&email("jonas@example.org"))
        .await
        .expect("sent again");
    let again = relay.next(Duration::from_secs(10)).await.expect("mail");
    assert_eq!(again.rcpt, ["jonas@example.org"]);

    // Without the CA file only the webpki roots are trusted: the test CA is not among them.
    let untrusting =
        SmtpNotifier::new(&alerts_config(&relay, SmtpTls::Implicit, "")).expect("notifier");
    let error = untrusting
        .send(&email("mara@example.org"))
        .await
        .expect_err("untrusted");
    assert!(matches!(error, SendError::Tls), "{error:?}");
    assert!(!error.is_permanent(), "retried");
}

#[tokio::test]
async fn refusals_by_the_relay_are_permanent_only_for_the_message() {
    let pki = Pki::new("Spontan test CA");
    let tls = Security::StartTls(pki.acceptor.clone());

    let mut options = Options::new(tls.clone()).credentials(USER, PASSWORD);
    options.rcpt_reply = Some("550 5.1.1 no such mailbox");
    let relay = SmtpServer::start(options).await;
    let notifier =
        SmtpNotifier::new(&alerts_config(&relay, SmtpTls::Starttls, &pki.ca_file)).expect("n");
    let error = notifier
        .send(&email("gone@example.org"))
        .await
        .expect_err("550");
    assert!(
        matches!(&error, SendError::Rejected(r) if r == "smtp 550"),
        "{error:?}"
    );
    assert!(error.is_permanent());

    let mut options = Options::new(tls.clone()).credentials(USER, PASSWORD);
    options.rcpt_reply = Some("451 4.3.0 try again later");
    let relay = SmtpServer::start(options).await;
    let notifier =
        SmtpNotifier::new(&alerts_config(&relay, SmtpTls::Starttls, &pki.ca_file)).expect("n");
    let error = notifier
        .send(&email("mara@example.org"))
        .await
        .expect_err("451");
    assert!(
        matches!(&error, SendError::Refused(r) if r == "smtp 451"),
        "{error:?}"
    );
    assert!(!error.is_permanent());

    // A wrong password is the relay's set-up, not the message's: retried.
    let relay = SmtpServer::start(Options::new(tls).credentials(USER, "another password")).await;
    let notifier =
        SmtpNotifier::new(&alerts_config(&relay, SmtpTls::Starttls, &pki.ca_file)).expect("n");
    let error = notifier
        .send(&email("mara@example.org"))
        .await
        .expect_err("535");
    assert!(
        matches!(&error, SendError::Refused(r) if r == "smtp 535"),
        "{error:?}"
    );

    // A relay that does not offer STARTTLS is not used in clear.
    let relay = SmtpServer::start(Options::new(Security::Plain)).await;
    let config = AlertsConfig {
        smtp_username: String::new(),
        smtp_password: Secret::default(),
        ..alerts_config(&relay, SmtpTls::Starttls, &pki.ca_file)
    };
    let error = SmtpNotifier::new(&config)
        .expect("n")
        .send(&email("mara@example.org"))
        .await
        .expect_err("no STARTTLS");
    assert!(!error.is_permanent(), "{error:?}");
    assert!(relay.next(Duration::from_millis(200)).await.is_none());
}

#[tokio::test]
async fn clear_text_outside_loopback_is_refused_before_the_service_starts() {
    let problems = |alerts: AlertsConfig| {
        let mut config = Config::with_generated_keys(testkit::platform_config(
            "registration",
            "postgres://unused@127.0.0.1:1/unused",
            "127.0.0.1:1",
        ));
        config.alerts = alerts;
        let mut found = Vec::new();
        config.validate(&mut found);
        (found, config)
    };
    let smtp = |server: &str, tls| AlertsConfig {
        smtp_server: server.into(),
        smtp_tls: tls,
        ..AlertsConfig::default()
    };
    let webhook = |url: &str| AlertsConfig {
        webhook_url: url.into(),
        ..AlertsConfig::default()
    };

    for fine in [
        smtp("smtp.example.org:587", SmtpTls::Starttls),
        smtp("smtp.example.org:465", SmtpTls::Implicit),
        smtp("127.0.0.1:25", SmtpTls::None),
        smtp("localhost:25", SmtpTls::None),
        smtp("[::1]:25", SmtpTls::None),
        webhook("https://gateway.example.org/alerts"),
        webhook("http://127.0.0.1:8025/messages"),
    ] {
        let (found, _) = problems(fine.clone());
        assert!(found.is_empty(), "{fine:?}: {found:?}");
    }

    let (found, config) = problems(smtp("smtp.example.org:25", SmtpTls::None));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("alerts.smtp_tls = \"none\"") && found[0].contains("smtp.example.org"),
        "{found:?}"
    );
    let refused = Application::build(config, Default::default())
        .await
        .err()
        .expect("the service refuses to start");
    assert!(
        format!("{refused:#}").contains("alerts.smtp_tls"),
        "{refused:#}"
    );

    for (bad, key) in [
        (
            webhook("http://gateway.example.org/alerts"),
            "alerts.webhook_url",
        ),
        (
            webhook("ftp://gateway.example.org/alerts"),
            "alerts.webhook_url",
        ),
        (
            AlertsConfig {
                webhook_secret: Secret::new("short"),
                ..AlertsConfig::default()
            },
            "alerts.webhook_secret",
        ),
        (
            AlertsConfig {
                smtp_username: USER.into(),
                ..smtp("smtp.example.org:587", SmtpTls::Starttls)
            },
            "alerts.smtp_username",
        ),
        (
            AlertsConfig {
                smtp_ca_file: "/nonexistent/ca.pem".into(),
                ..smtp("smtp.example.org:587", SmtpTls::Starttls)
            },
            "alerts.smtp_ca_file",
        ),
        (
            smtp("smtp.example.org", SmtpTls::Starttls),
            "alerts.smtp_server",
        ),
    ] {
        let (found, _) = problems(bad.clone());
        assert!(
            found.len() == 1 && found[0].starts_with(key),
            "{bad:?}: {found:?}"
        );
    }
}
