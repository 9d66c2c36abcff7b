//! The e-mail notifier: a minimal SMTP client (EHLO, MAIL, RCPT, DATA, QUIT) for the
//! operator's relay, which does the real delivery (and TLS to the outside world). Written by
//! hand because one plain-text message per alert needs a hundred lines, not a mail framework.

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::{AlertKind, Notifier, Outgoing, SendError};

pub struct SmtpNotifier {
    server: String,
    from: String,
}

impl SmtpNotifier {
    pub fn new(server: impl Into<String>, from: impl Into<String>) -> Self {
        Self {
            server: server.into(),
            from: from.into(),
        }
    }
}

type Conn = BufReader<TcpStream>;

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect(conn: &mut Conn, want: &[u16]) -> Result<(), SendError> {
    loop {
        let mut line = String::new();
        let n = conn
            .read_line(&mut line)
            .await
            .map_err(|_| SendError::Unreachable)?;
        if n == 0 || line.len() < 3 {
            return Err(SendError::Unreachable);
        }
        let code: u16 = line[..3]
            .parse()
            .map_err(|_| SendError::Refused("smtp garbage".into()))?;
        if line.as_bytes().get(3) == Some(&b'-') {
            continue;
        }
        return if want.contains(&code) {
            Ok(())
        } else {
            Err(SendError::Refused(format!("smtp {code}")))
        };
    }
}

async fn command(conn: &mut Conn, line: &str, want: &[u16]) -> Result<(), SendError> {
    conn.get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .await
        .map_err(|_| SendError::Unreachable)?;
    expect(conn, want).await
}

/// An address fit for an SMTP envelope: no brackets, spaces or line breaks.
fn envelope_address(address: &str) -> Result<&str, SendError> {
    if address.is_empty()
        || address
            .chars()
            .any(|c| c.is_whitespace() || "<>".contains(c))
    {
        return Err(SendError::Refused("bad address".into()));
    }
    Ok(address)
}

fn encoded_word(text: &str) -> String {
    format!("=?UTF-8?B?{}?=", STANDARD.encode(text))
}

/// The message: headers, a blank line, the body with CRLF line ends and dot-stuffing.
fn message(from: &str, alert: &Outgoing) -> String {
    let subject = match alert.kind {
        AlertKind::Offer => format!("Einsatzangebot: {}", alert.task_title),
        AlertKind::Withdrawn => format!("Einsatz zurückgezogen: {}", alert.task_title),
        AlertKind::Verification => "Dein Bestätigungscode / Your confirmation code".to_owned(),
    };
    let greeting = format!("Hallo {},", alert.display_name);
    let body: String = [greeting.as_str(), "", alert.text.as_str(), ""]
        .iter()
        .map(|line| {
            let line: String = line.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            if line.starts_with('.') {
                format!(".{line}\r\n")
            } else {
                format!("{line}\r\n")
            }
        })
        .collect();
    format!(
        "From: Spontan <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\
         Message-ID: <spontan-alert-{id}@spontan>\r\n\r\n{body}",
        to = alert.to,
        subject = encoded_word(&subject),
        id = alert.alert_id,
    )
}

#[async_trait]
impl Notifier for SmtpNotifier {
    async fn send(&self, alert: &Outgoing) -> Result<(), SendError> {
        let to = envelope_address(&alert.to)?;
        let from = envelope_address(&self.from)?;
        let stream = TcpStream::connect(&self.server)
            .await
            .map_err(|_| SendError::Unreachable)?;
        let mut conn = BufReader::new(stream);
        expect(&mut conn, &[220]).await?;
        command(&mut conn, "EHLO spontan-registration", &[250]).await?;
        command(&mut conn, &format!("MAIL FROM:<{from}>"), &[250]).await?;
        command(&mut conn, &format!("RCPT TO:<{to}>"), &[250, 251]).await?;
        command(&mut conn, "DATA", &[354]).await?;
        let data = message(from, alert);
        command(&mut conn, &format!("{data}."), &[250]).await?;
        // The message is accepted; a failed QUIT changes nothing.
        let _ = command(&mut conn, "QUIT", &[221]).await;
        Ok(())
    }
}
