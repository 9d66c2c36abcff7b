//! An SMTP relay of the test's own that speaks enough ESMTP for lettre: EHLO, STARTTLS
//! (upgraded with tokio-rustls), AUTH PLAIN and LOGIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT.
//! Like a real submission server it refuses AUTH and MAIL before STARTTLS when it offers
//! STARTTLS, and MAIL before AUTH when it wants credentials. It hands the test every message
//! with what the session looked like: encrypted or not, and the credentials it accepted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio_rustls::TlsAcceptor;

/// How the relay encrypts.
#[derive(Clone)]
pub enum Security {
    Plain,
    /// Plain at first, STARTTLS offered and required before AUTH and MAIL.
    StartTls(TlsAcceptor),
    /// TLS from the first byte (SMTPS).
    Implicit(TlsAcceptor),
}

/// What the relay is like.
#[derive(Clone)]
pub struct Options {
    pub security: Security,
    /// User name and password it wants before MAIL; `None`: no AUTH offered.
    pub credentials: Option<(String, String)>,
    /// The mechanisms it offers, e.g. `"PLAIN LOGIN"`.
    pub mechanisms: &'static str,
    /// Its answer to RCPT instead of 250, e.g. `"550 5.1.1 no such mailbox"`.
    pub rcpt_reply: Option<&'static str>,
}

impl Options {
    pub fn new(security: Security) -> Self {
        Self {
            security,
            credentials: None,
            mechanisms: "PLAIN LOGIN",
            rcpt_reply: None,
        }
    }

    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }
}

/// A message as the relay received it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// Whether the session was encrypted when DATA came.
    pub tls: bool,
    /// The mechanism, user name and password of the AUTH the relay accepted.
    pub auth: Option<(String, String, String)>,
    pub from: String,
    pub rcpt: Vec<String>,
    /// Headers and body, CRLF line ends, dot-stuffing undone.
    pub data: String,
}

impl Mail {
    /// The value of the first header `name` (unfolded).
    pub fn header(&self, name: &str) -> Option<String> {
        let (head, _) = self.data.split_once("\r\n\r\n")?;
        let unfolded = head.replace("\r\n ", " ").replace("\r\n\t", " ");
        unfolded.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    /// The subject, RFC 2047 `B` encoded-words decoded (the space between two of them is
    /// not part of the text).
    pub fn subject(&self) -> String {
        let raw = self.header("subject").unwrap_or_default();
        let (mut out, mut last_encoded) = (String::new(), false);
        for word in raw.split_whitespace() {
            let decoded = encoded_word(word);
            let joined = last_encoded && decoded.is_some();
            if !out.is_empty() && !joined {
                out.push(' ');
            }
            last_encoded = decoded.is_some();
            out.push_str(&decoded.unwrap_or_else(|| word.to_owned()));
        }
        out
    }

    /// The body, quoted-printable decoded when it is.
    pub fn text(&self) -> String {
        let (_, body) = self.data.split_once("\r\n\r\n").unwrap_or_default();
        let quoted = self
            .header("content-transfer-encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !quoted {
            return body.to_owned();
        }
        let joined = body.replace("=\r\n", "");
        let (bytes, mut out) = (joined.as_bytes(), Vec::new());
        let mut i = 0;
        while i < bytes.len() {
            let hex = (bytes[i] == b'=' && i + 2 < bytes.len())
                .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
                .flatten()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8(out).expect("utf-8 body")
    }
}

/// A running relay.
pub struct SmtpServer {
    pub addr: SocketAddr,
    mails: Mutex<mpsc::UnboundedReceiver<Mail>>,
    handshake_failures: Arc<AtomicUsize>,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}
type Conn = BufReader<Box<dyn Stream>>;

struct Shared {
    options: Options,
    mails: mpsc::UnboundedSender<Mail>,
    handshake_failures: Arc<AtomicUsize>,
}

impl SmtpServer {
    /// A relay on 127.0.0.1, port 0.
    pub async fn start(options: Options) -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = mpsc::unbounded_channel();
        let handshake_failures = Arc::new(AtomicUsize::new(0));
        let shared = Arc::new(Shared {
            options,
            mails: tx,
            handshake_failures: handshake_failures.clone(),
        });
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(stream, shared.clone()));
            }
        });
        SmtpServer {
            addr,
            mails: Mutex::new(rx),
            handshake_failures,
        }
    }

    /// `127.0.0.1:<port>`, for `alerts.smtp_server`.
    pub fn server(&self) -> String {
        self.addr.to_string()
    }

    /// `localhost:<port>`: the name the certificate is for, as a relay is usually named.
    pub fn server_by_name(&self) -> String {
        format!("localhost:{}", self.addr.port())
    }

    /// The next message, if one comes within `within`.
    pub async fn next(&self, within: Duration) -> Option<Mail> {
        let mut mails = self.mails.lock().await;
        tokio::time::timeout(within, mails.recv())
            .await
            .ok()
            .flatten()
    }

    /// TLS handshakes that failed (the client refused the certificate, or gave up).
    pub fn handshake_failures(&self) -> usize {
        self.handshake_failures.load(Ordering::SeqCst)
    }
}

async fn reply(conn: &mut Conn, text: &str) -> std::io::Result<()> {
    conn.get_mut().write_all(text.as_bytes()).await?;
    conn.get_mut().flush().await
}

/// One line without its CRLF; `None` at the end of the stream.
async fn line(conn: &mut Conn) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if conn.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    let text = String::from_utf8_lossy(&buf);
    Ok(Some(text.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The text of `=?utf-8?b?…?=`.
fn encoded_word(word: &str) -> Option<String> {
    let prefix = "=?utf-8?b?";
    let head = word.get(..prefix.len())?;
    let inner = word.strip_suffix("?=")?.get(prefix.len()..)?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| String::from_utf8(STANDARD.decode(inner).ok()?).ok())
        .flatten()
}

fn decode(b64: &str) -> String {
    String::from_utf8_lossy(&STANDARD.decode(b64.trim()).unwrap_or_default()).into_owned()
}

/// The address in `MAIL FROM:<a>` or `RCPT TO:<a>`.
fn address(line: &str) -> String {
    let start = line.find('<').map_or(0, |i| i + 1);
    let end = line[start..].find('>').map_or(line.len(), |i| start + i);
    line[start..end].to_owned()
}

#[derive(Default)]
struct State {
    tls: bool,
    auth: Option<(String, String, String)>,
    from: Option<String>,
    rcpt: Vec<String>,
}

async fn session(stream: TcpStream, shared: Arc<Shared>) {
    let _ = serve(stream, &shared).await;
}

async fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let options = &shared.options;
    let mut state = State::default();
    let mut conn: Conn = match &options.security {
        Security::Implicit(acceptor) => match acceptor.accept(stream).await {
            Ok(tls) => {
                state.tls = true;
                BufReader::new(Box::new(tls))
            }
            Err(_) => {
                shared.handshake_failures.fetch_add(1, Ordering::SeqCst);
                return Ok(());
            }
        },
        _ => BufReader::new(Box::new(stream)),
    };
    let starttls = |state: &State| matches!(options.security, Security::StartTls(_)) && !state.tls;
    reply(&mut conn, "220 localhost ESMTP test relay\r\n").await?;
    while let Some(command) = line(&mut conn).await? {
        let upper = command.to_ascii_uppercase();
        let verb = upper.split(' ').next().unwrap_or_default();
        match verb {
            "EHLO" | "HELO" => {
                (state.from, state.rcpt) = (None, Vec::new());
                let mut text = String::from("250-localhost\r\n250-8BITMIME\r\n");
                if starttls(&state) {
                    text.push_str("250-STARTTLS\r\n");
                } else if options.credentials.is_some() {
                    text.push_str(&format!("250-AUTH {}\r\n", options.mechanisms));
                }
                text.push_str("250 SMTPUTF8\r\n");
                reply(&mut conn, &text).await?;
            }
            "STARTTLS" => {
                let Security::StartTls(acceptor) = &options.security else {
                    reply(&mut conn, "502 5.5.1 not offered\r\n").await?;
                    continue;
                };
                if state.tls {
                    reply(&mut conn, "503 5.5.1 already encrypted\r\n").await?;
                    continue;
                }
                reply(&mut conn, "220 2.0.0 go ahead\r\n").await?;
                match acceptor.accept(conn.into_inner()).await {
                    Ok(tls) => conn = BufReader::new(Box::new(tls)),
                    Err(_) => {
                        shared.handshake_failures.fetch_add(1, Ordering::SeqCst);
                        return Ok(());
                    }
                }
                // RFC 3207: everything learnt before the upgrade is forgotten.
                state = State {
                    tls: true,
                    ..State::default()
                };
            }
            "AUTH" if starttls(&state) => {
                reply(
                    &mut conn,
                    "530 5.7.0 must issue a STARTTLS command first\r\n",
                )
                .await?
            }
            "AUTH" => {
                let mut words = command.split_whitespace().skip(1);
                let mechanism = words.next().unwrap_or_default().to_ascii_uppercase();
                let initial = words.next().map(str::to_owned);
                let (user, password) = match mechanism.as_str() {
                    "PLAIN" => {
                        let response = match initial {
                            Some(response) => response,
                            None => {
                                reply(&mut conn, "334 \r\n").await?;
                                line(&mut conn).await?.unwrap_or_default()
                            }
                        };
                        let decoded = decode(&response);
                        let mut parts = decoded.split('\0').skip(1);
                        let user = parts.next().unwrap_or_default().to_owned();
                        (user, parts.next().unwrap_or_default().to_owned())
                    }
                    "LOGIN" => {
                        reply(&mut conn, "334 VXNlcm5hbWU6\r\n").await?;
                        let user = decode(&line(&mut conn).await?.unwrap_or_default());
                        reply(&mut conn, "334 UGFzc3dvcmQ6\r\n").await?;
                        (user, decode(&line(&mut conn).await?.unwrap_or_default()))
                    }
                    _ => {
                        reply(&mut conn, "504 5.5.4 mechanism not supported\r\n").await?;
                        continue;
                    }
                };
                let wanted = options.credentials.as_ref();
                if wanted.is_some_and(|(u, p)| *u == user && *p == password) {
                    state.auth = Some((mechanism, user, password));
                    reply(&mut conn, "235 2.7.0 authenticated\r\n").await?;
                } else {
                    reply(&mut conn, "535 5.7.8 credentials invalid\r\n").await?;
                }
            }
            "MAIL" if starttls(&state) => {
                reply(
                    &mut conn,
                    "530 5.7.0 must issue a STARTTLS command first\r\n",
                )
                .await?
            }
            "MAIL" if options.credentials.is_some() && state.auth.is_none() => {
                reply(&mut conn, "530 5.7.0 authentication required\r\n").await?
            }
            "MAIL" => {
                state.from = Some(address(&command));
                reply(&mut conn, "250 2.1.0 ok\r\n").await?;
            }
            "RCPT" if state.from.is_none() => reply(&mut conn, "503 5.5.1 MAIL first\r\n").await?,
            "RCPT" => match options.rcpt_reply {
                Some(answer) => reply(&mut conn, &format!("{answer}\r\n")).await?,
                None => {
                    state.rcpt.push(address(&command));
                    reply(&mut conn, "250 2.1.5 ok\r\n").await?;
                }
            },
            "DATA" if state.rcpt.is_empty() => reply(&mut conn, "503 5.5.1 RCPT first\r\n").await?,
            "DATA" => {
                reply(&mut conn, "354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut data = String::new();
                while let Some(text) = line(&mut conn).await? {
                    if text == "." {
                        break;
                    }
                    data.push_str(text.strip_prefix('.').unwrap_or(&text));
                    data.push_str("\r\n");
                }
                let _ = shared.mails.send(Mail {
                    tls: state.tls,
                    auth: state.auth.clone(),
                    from: state.from.take().unwrap_or_default(),
                    rcpt: std::mem::take(&mut state.rcpt),
                    data,
                });
                reply(&mut conn, "250 2.0.0 queued\r\n").await?;
            }
            "RSET" => {
                (state.from, state.rcpt) = (None, Vec::new());
                reply(&mut conn, "250 2.0.0 ok\r\n").await?;
            }
            "NOOP" => reply(&mut conn, "250 2.0.0 ok\r\n").await?,
            "QUIT" => {
                reply(&mut conn, "221 2.0.0 bye\r\n").await?;
                return Ok(());
            }
            _ => reply(&mut conn, "502 5.5.2 not implemented\r\n").await?,
        }
    }
    Ok(())
}
