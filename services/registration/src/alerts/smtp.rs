//! The e-mail notifier: one plain-text message per alert, handed to the operator's SMTP relay
//! (which does the onward delivery) through `lettre`. The connection is encrypted before
//! anything personal is sent: STARTTLS that must succeed (the default; a relay that does not
//! offer it is not used) or implicit TLS, against the webpki roots plus `alerts.smtp_ca_file`;
//! in clear only to a relay on loopback (`alerts.smtp_tls = "none"`, refused elsewhere by
//! the configuration's check). AUTH (PLAIN or LOGIN) is used when a username is configured.
//!
//! The transport is built once and keeps a small pool of connections, so a burst of offers
//! does not pay a TCP and TLS handshake per message.

use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::tls::{self, RootsError};
use super::{AlertKind, Notifier, Outgoing, SendError};
use crate::config::{AlertsConfig, SmtpTls};

/// Why the e-mail notifier cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("smtp_server must be host:port")]
    Server,
    #[error("smtp_from must be an e-mail address")]
    From,
    #[error("smtp_ca_file: {0}")]
    Roots(#[from] RootsError),
    #[error("tls set-up failed")]
    Tls(#[source] SmtpError),
}

/// Host and port of `host:port` (an IPv6 address in brackets: `[::1]:25`).
pub fn host_and_port(server: &str) -> Option<(&str, u16)> {
    let (host, port) = server.rsplit_once(':')?;
    let port = port.parse().ok().filter(|port| *port != 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    (!host.is_empty()).then_some((host, port))
}

/// AUTH refusals (RFC 4954: 530, 534, 535, 538) are about the relay's set-up or our
/// credentials, not about the message: they are retried like a passing failure, so alerts
/// go out once the operator has fixed them.
const AUTH_REFUSALS: [u16; 4] = [530, 534, 535, 538];

pub struct SmtpNotifier {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpNotifier {
    /// The transport for `config`; nothing is contacted yet. Call it inside the Tokio runtime:
    /// the pool starts its task that closes idle connections.
    pub fn new(config: &AlertsConfig) -> Result<Self, SetupError> {
        let (host, port) = host_and_port(&config.smtp_server).ok_or(SetupError::Server)?;
        let from: Address = config.smtp_from.parse().map_err(|_| SetupError::From)?;
        let tls = match config.smtp_tls {
            SmtpTls::Starttls => Tls::Required(parameters(host, &config.smtp_ca_file)?),
            SmtpTls::Implicit => Tls::Wrapper(parameters(host, &config.smtp_ca_file)?),
            SmtpTls::None => Tls::None,
        };
        // Each command waits at most the send timeout (the dispatcher bounds the whole send).
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .tls(tls)
            .hello_name(ClientId::Domain("spontan-registration".into()))
            .timeout(Some(Duration::from_millis(config.send_timeout_ms)));
        if !config.smtp_username.is_empty() {
            builder = builder
                .credentials(Credentials::new(
                    config.smtp_username.clone(),
                    config.smtp_password.expose().to_owned(),
                ))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        tracing::info!(
            server = %config.smtp_server,
            tls = config.smtp_tls.as_str(),
            auth = !config.smtp_username.is_empty(),
            "e-mail alerts go through the smtp relay"
        );
        Ok(Self {
            transport: builder.build(),
            from: Mailbox::new(Some("Spontan".into()), from),
        })
    }
}

/// TLS towards `host`: the webpki roots and the certificates of `ca_file`.
fn parameters(host: &str, ca_file: &str) -> Result<TlsParameters, SetupError> {
    let mut builder = TlsParameters::builder(host.to_owned());
    for cert in tls::extra_roots(ca_file)? {
        let cert = Certificate::from_der(cert.to_vec()).map_err(SetupError::Tls)?;
        builder = builder.add_root_certificate(cert);
    }
    builder.build_rustls().map_err(SetupError::Tls)
}

/// Drops line breaks and other control characters, which have no place in a header or a
/// line of the text.
fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// The message: German-first subject (RFC 2047 encoded by lettre), a greeting and the alert
/// text as UTF-8 plain text (quoted-printable, so any relay takes it), and a Message-ID that
/// stays the same across retries.
fn message(from: &Mailbox, alert: &Outgoing) -> Result<Message, SendError> {
    let to: Address = alert
        .to
        .parse()
        .map_err(|_| SendError::Rejected("bad address".into()))?;
    let title = clean(&alert.task_title);
    let subject = match alert.kind {
        AlertKind::Offer => format!("Einsatzangebot: {title}"),
        AlertKind::Withdrawn => format!("Einsatz zurückgezogen: {title}"),
        AlertKind::Message if title.is_empty() => "Nachricht der Einsatzleitung".to_owned(),
        AlertKind::Message => format!("Nachricht zu: {title}"),
        AlertKind::Reminder => format!("Erinnerung: {title}"),
        AlertKind::Verification => "Dein Bestätigungscode / Your confirmation code".to_owned(),
    };
    let body = format!(
        "Hallo {},\n\n{}\n",
        clean(&alert.display_name),
        clean(&alert.text)
    );
    Message::builder()
        .from(from.clone())
        .to(Mailbox::new(None, to))
        .subject(subject)
        .message_id(Some(format!("<spontan-alert-{}@spontan>", alert.alert_id)))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|_| SendError::Rejected("message".into()))
}

/// What a failed send means for the alert. A 5xx reply refuses this message for good; 4xx
/// replies, AUTH refusals, a relay without STARTTLS or AUTH, an untrusted certificate and
/// connection problems are retried. The relay's reply text is never kept: it may repeat the
/// address.
fn outcome(error: &SmtpError) -> SendError {
    if let Some(code) = error.status() {
        let code = u16::from(code);
        return if error.is_permanent() && !AUTH_REFUSALS.contains(&code) {
            SendError::Rejected(format!("smtp {code}"))
        } else {
            SendError::Refused(format!("smtp {code}"))
        };
    }
    if error.is_timeout() {
        SendError::Timeout
    } else if tls::is_handshake_failure(error) {
        SendError::Tls
    } else if error.is_client() {
        // What lettre refuses itself: STARTTLS, AUTH or SMTPUTF8 missing on the relay.
        SendError::Refused("smtp extension missing".into())
    } else {
        SendError::Unreachable
    }
}

#[async_trait]
impl Notifier for SmtpNotifier {
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError> {
        let message = message(&self.from, alert)?;
        self.transport
            .send(message)
            .await
            .map(|_response| ())
            .map_err(|error| outcome(&error))
    }
}

#[cfg(test)]
mod tests {
    use spontan_proto::v1::AlertChannel;

    use super::*;

    #[test]
    fn servers_are_host_and_port() {
        assert_eq!(
            host_and_port("smtp.example.org:587"),
            Some(("smtp.example.org", 587))
        );
        assert_eq!(host_and_port("[::1]:25"), Some(("::1", 25)));
        assert_eq!(host_and_port("127.0.0.1:2525"), Some(("127.0.0.1", 2525)));
        for bad in [
            "smtp.example.org",
            ":25",
            "host:0",
            "host:smtp",
            "host:70000",
        ] {
            assert_eq!(host_and_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_message_is_german_first_utf8_and_keeps_its_id() {
        let from = Mailbox::new(
            Some("Spontan".into()),
            "alerts@spontan.invalid".parse().expect("address"),
        );
        let alert = Outgoing {
            alert_id: 42,
            kind: AlertKind::Offer,
            channel: AlertChannel::Email,
            to: "mara@example.org".into(),
            display_name: "Mara\r\nBcc: x@example.org".into(),
            match_id: String::new(),
            task_title: "Suppenküche\nMarktplatz".into(),
            expires_at: None,
            text: Outgoing::compose(AlertKind::Offer, "Suppenküche Marktplatz", None, None),
        };
        let raw =
            String::from_utf8(message(&from, &alert).expect("message").formatted()).expect("ascii");
        assert!(raw.is_ascii(), "encoded for any relay: {raw}");
        assert!(
            raw.contains("Message-ID: <spontan-alert-42@spontan>"),
            "{raw}"
        );
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(
            raw.contains("Subject: Einsatzangebot: =?utf-8?b?"),
            "RFC 2047: {raw}"
        );
        assert!(!raw.contains("\r\nBcc:"), "no header injection: {raw}");

        let bad = Outgoing {
            to: "not an address".into(),
            ..alert
        };
        assert!(matches!(
            message(&from, &bad),
            Err(SendError::Rejected(reason)) if reason == "bad address"
        ));
    }
}
