//! A SASL/SCRAM-SHA-512 stand-in for a broker that speaks no SASL (the local `tansu`): a TCP
//! proxy, optionally terminating TLS, that speaks just enough of the Kafka protocol to
//! authenticate a client as a Kafka broker would (KIP-43 `SaslHandshake`, KIP-152
//! `SaslAuthenticate`, SCRAM of RFC 5802 and RFC 7677 with 4096 iterations) and then passes
//! the bytes on untouched, so that tests make real SCRAM handshakes with librdkafka.
//!
//! Before authentication a connection may send only:
//!
//! - `ApiVersions`: passed to the broker, whose answer gets `SaslHandshake` and
//!   `SaslAuthenticate` (versions 0 and 1) added, so that the client sees a broker with SASL;
//! - `SaslHandshake`: `SCRAM-SHA-512` is accepted, any other mechanism refused
//!   (`UNSUPPORTED_SASL_MECHANISM`);
//! - `SaslAuthenticate` (or, after a version 0 handshake, the bare SASL tokens): the SCRAM
//!   exchange; a wrong user name or password is answered with `SASL_AUTHENTICATION_FAILED`
//!   and the connection is closed.
//!
//! Anything else closes the connection. The stand-in counts the connections it let through
//! and those it refused, so a test can tell that authentication really took place.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha512};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The one mechanism the stand-in offers.
pub const MECHANISM: &str = "SCRAM-SHA-512";
/// PBKDF2 iterations of the salted password, Kafka's default for SCRAM credentials.
pub const ITERATIONS: u32 = 4096;

const API_VERSIONS: i16 = 18;
const SASL_HANDSHAKE: i16 = 17;
const SASL_AUTHENTICATE: i16 = 36;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const SASL_AUTHENTICATION_FAILED: i16 = 58;
/// Frames before authentication are small; a larger length is not Kafka talking.
const MAX_FRAME_BEFORE_AUTHENTICATION: usize = 1 << 20;
/// What a Kafka broker answers to wrong credentials.
const FAILED_MESSAGE: &str = "Authentication failed during authentication due to invalid \
                              credentials with SASL mechanism SCRAM-SHA-512";

/// The SASL stand-in, running until dropped.
pub struct ScramProxy {
    address: String,
    counters: Arc<Counters>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Counters {
    authenticated: AtomicUsize,
    refused: AtomicUsize,
}

impl ScramProxy {
    /// Serves `listener`: authenticates clients as `username` with `password` (over TLS with
    /// `tls`, the protocol `sasl_ssl`; else `sasl_plaintext`) and connects each one to the
    /// broker at `upstream` (`host:port`), which should advertise this listener's address
    /// ([`super::TestBroker::start_owned_advertising`]).
    pub fn spawn(
        listener: TcpListener,
        upstream: impl Into<String>,
        username: &str,
        password: &str,
        tls: Option<TlsAcceptor>,
    ) -> anyhow::Result<Self> {
        let address = listener.local_addr()?.to_string();
        let credentials = Arc::new(Credentials::new(username, password));
        let counters = Arc::new(Counters::default());
        let upstream = upstream.into();
        let accept = tokio::spawn({
            let counters = Arc::clone(&counters);
            async move {
                while let Ok((client, peer)) = listener.accept().await {
                    let (credentials, counters, upstream, tls) = (
                        Arc::clone(&credentials),
                        Arc::clone(&counters),
                        upstream.clone(),
                        tls.clone(),
                    );
                    tokio::spawn(async move {
                        let served = match tls {
                            Some(acceptor) => match acceptor.accept(client).await {
                                Ok(stream) => {
                                    serve(stream, &upstream, &credentials, &counters).await
                                }
                                Err(error) => Err(error).context("TLS handshake"),
                            },
                            None => serve(client, &upstream, &credentials, &counters).await,
                        };
                        if let Err(error) = served {
                            tracing::debug!(%peer, "SASL stand-in: connection ended: {error:#}");
                        }
                    });
                }
            }
        });
        Ok(Self {
            address,
            counters,
            accept,
        })
    }

    /// `host:port` of the stand-in, for `bootstrap.servers`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Connections that authenticated and were connected to the broker.
    pub fn authenticated(&self) -> usize {
        self.counters.authenticated.load(Ordering::SeqCst)
    }

    /// Connections refused for a wrong user name, password or mechanism.
    pub fn refused(&self) -> usize {
        self.counters.refused.load(Ordering::SeqCst)
    }
}

impl Drop for ScramProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One connection: the handshake, then the bytes both ways.
async fn serve<S>(
    mut client: S,
    upstream: &str,
    credentials: &Credentials,
    counters: &Counters,
) -> anyhow::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut broker = TcpStream::connect(upstream)
        .await
        .with_context(|| format!("connecting to the broker at {upstream}"))?;
    let mut handshake: Option<i16> = None;
    let mut exchange = ScramExchange::Start;
    loop {
        let frame = read_frame(&mut client).await?;
        // After a version 0 handshake the SASL tokens come bare, each in a frame of its own.
        if handshake == Some(0) {
            match exchange.step(credentials, &frame) {
                Ok(reply) => {
                    write_frame(&mut client, &reply).await?;
                    if matches!(exchange, ScramExchange::Done) {
                        break;
                    }
                    continue;
                }
                Err(reason) => {
                    counters.refused.fetch_add(1, Ordering::SeqCst);
                    bail!("refused: {reason}");
                }
            }
        }
        let mut request = Decoder::new(&frame);
        let (api_key, api_version, correlation_id) =
            (request.i16()?, request.i16()?, request.i32()?);
        tracing::debug!(
            api_key,
            api_version,
            "SASL stand-in: request before authentication"
        );
        match api_key {
            API_VERSIONS => {
                write_frame(&mut broker, &frame).await?;
                let response = read_frame(&mut broker).await?;
                write_frame(&mut client, &with_sasl_apis(&response, api_version)?).await?;
            }
            SASL_HANDSHAKE if handshake.is_none() && (0..=1).contains(&api_version) => {
                let _client_id = request.nullable_string()?;
                let mechanism = request.string()?;
                let error = if mechanism == MECHANISM {
                    0
                } else {
                    UNSUPPORTED_SASL_MECHANISM
                };
                let mut response = Encoder::default();
                response
                    .i32(correlation_id)
                    .i16(error)
                    .i32(1)
                    .string(MECHANISM);
                write_frame(&mut client, &response.0).await?;
                if error != 0 {
                    counters.refused.fetch_add(1, Ordering::SeqCst);
                    bail!("refused the mechanism {mechanism}");
                }
                handshake = Some(api_version);
            }
            SASL_AUTHENTICATE if handshake == Some(1) && (0..=1).contains(&api_version) => {
                let _client_id = request.nullable_string()?;
                let token = request.bytes()?;
                let outcome = exchange.step(credentials, token);
                let mut response = Encoder::default();
                response.i32(correlation_id);
                match &outcome {
                    Ok(reply) => response.i16(0).i16(-1).bytes(reply),
                    Err(_) => response
                        .i16(SASL_AUTHENTICATION_FAILED)
                        .string(FAILED_MESSAGE)
                        .bytes(&[]),
                };
                if api_version >= 1 {
                    // No session lifetime: the client never re-authenticates (KIP-368).
                    response.i64(0);
                }
                write_frame(&mut client, &response.0).await?;
                if let Err(reason) = outcome {
                    counters.refused.fetch_add(1, Ordering::SeqCst);
                    bail!("refused: {reason}");
                }
                if matches!(exchange, ScramExchange::Done) {
                    break;
                }
            }
            _ => bail!("request {api_key} v{api_version} before authentication; closing"),
        }
    }
    counters.authenticated.fetch_add(1, Ordering::SeqCst);
    tracing::debug!("SASL stand-in: authenticated; passing bytes on");
    tokio::io::copy_bidirectional(&mut client, &mut broker).await?;
    Ok(())
}

/// The broker's `ApiVersions` response with `SaslHandshake` and `SaslAuthenticate` (versions
/// 0 to 1) in its list, encoded for the request's `version` (3 and later: flexible). An error
/// response (such as the version 0 answer to an unsupported version) passes unchanged.
fn with_sasl_apis(response: &[u8], version: i16) -> anyhow::Result<Vec<u8>> {
    let flexible = version >= 3;
    let mut decoder = Decoder::new(response);
    let correlation_id = decoder.i32()?;
    let error = decoder.i16()?;
    if error != 0 {
        return Ok(response.to_vec());
    }
    let count = if flexible {
        usize::try_from(decoder.uvarint()?)?
            .checked_sub(1)
            .context("null api_keys")?
    } else {
        usize::try_from(decoder.i32()?).context("null api_keys")?
    };
    let mut entries: Vec<(i16, &[u8])> = Vec::with_capacity(count + 2);
    for _ in 0..count {
        let start = decoder.position;
        let api_key = decoder.i16()?;
        decoder.take(4)?;
        if flexible {
            decoder.skip_tagged_fields()?;
        }
        entries.push((api_key, &response[start..decoder.position]));
    }
    let rest = &response[decoder.position..];
    let mut added = Vec::new();
    for api_key in [SASL_HANDSHAKE, SASL_AUTHENTICATE] {
        let mut entry = Encoder::default();
        entry.i16(api_key).i16(0).i16(1);
        if flexible {
            entry.uvarint(0);
        }
        added.push((api_key, entry.0));
    }
    entries.retain(|(api_key, _)| *api_key != SASL_HANDSHAKE && *api_key != SASL_AUTHENTICATE);
    entries.extend(
        added
            .iter()
            .map(|(api_key, entry)| (*api_key, entry.as_slice())),
    );
    let mut out = Encoder::default();
    out.i32(correlation_id).i16(error);
    if flexible {
        out.uvarint(u64::try_from(entries.len() + 1)?);
    } else {
        out.i32(i32::try_from(entries.len())?);
    }
    for (_, entry) in entries {
        out.0.extend_from_slice(entry);
    }
    out.0.extend_from_slice(rest);
    Ok(out.0)
}

/// The stored form of a SCRAM credential, as a broker keeps it: salt, iterations, StoredKey
/// and ServerKey (RFC 5802 §3), never the password.
struct Credentials {
    username: String,
    salt: [u8; 16],
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Credentials {
    fn new(username: &str, password: &str) -> Self {
        let salt: [u8; 16] = rand::random();
        let mut salted = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, ITERATIONS, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        Self {
            username: username.to_owned(),
            salt,
            stored_key: Sha512::digest(&client_key).to_vec(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// The server's side of one SCRAM exchange.
enum ScramExchange {
    Start,
    /// server-first-message sent; waiting for client-final-message.
    Challenged {
        gs2_header: String,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

impl ScramExchange {
    /// Takes the client's next message; the answer, or why the client is refused.
    fn step(&mut self, credentials: &Credentials, message: &[u8]) -> Result<Vec<u8>, String> {
        let message = std::str::from_utf8(message).map_err(|_| "message not UTF-8".to_owned())?;
        match std::mem::replace(self, Self::Done) {
            Self::Start => {
                // gs2-header: no channel binding ("n" or "y"), an optional authzid, then the
                // client-first-message-bare "n=<saslname>,r=<nonce>[,extensions]".
                let (flag, rest) = message.split_once(',').ok_or("no gs2 header")?;
                if flag != "n" && flag != "y" {
                    return Err(format!("channel binding {flag:?} not supported"));
                }
                let (_authzid, bare) = rest.split_once(',').ok_or("no gs2 header")?;
                let gs2_header = message[..message.len() - bare.len()].to_owned();
                let mut attributes = bare.split(',');
                let username = attributes
                    .next()
                    .and_then(|a| a.strip_prefix("n="))
                    .ok_or("no user name")?
                    .replace("=2C", ",")
                    .replace("=3D", "=");
                let client_nonce = attributes
                    .next()
                    .and_then(|a| a.strip_prefix("r="))
                    .filter(|nonce| !nonce.is_empty())
                    .ok_or("no nonce")?;
                if username != credentials.username {
                    return Err(format!("unknown user {username:?}"));
                }
                let server_nonce = BASE64.encode(rand::random::<[u8; 18]>());
                let nonce = format!("{client_nonce}{server_nonce}");
                let server_first = format!(
                    "r={nonce},s={},i={ITERATIONS}",
                    BASE64.encode(credentials.salt)
                );
                let reply = server_first.clone().into_bytes();
                *self = Self::Challenged {
                    gs2_header,
                    client_first_bare: bare.to_owned(),
                    server_first,
                    nonce,
                };
                Ok(reply)
            }
            Self::Challenged {
                gs2_header,
                client_first_bare,
                server_first,
                nonce,
            } => {
                // client-final-message: "c=<base64 gs2 header>,r=<nonce>[,...],p=<proof>".
                let (without_proof, proof) = message.rsplit_once(",p=").ok_or("no client proof")?;
                let mut attributes = without_proof.split(',');
                if attributes.next().and_then(|a| a.strip_prefix("c="))
                    != Some(BASE64.encode(&gs2_header).as_str())
                {
                    return Err("channel binding does not match the gs2 header".into());
                }
                if attributes.next().and_then(|a| a.strip_prefix("r=")) != Some(nonce.as_str()) {
                    return Err("nonce does not match".into());
                }
                let proof = BASE64
                    .decode(proof)
                    .map_err(|_| "client proof not base64".to_owned())?;
                let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
                let client_signature = hmac(&credentials.stored_key, auth_message.as_bytes());
                if proof.len() != client_signature.len() {
                    return Err("client proof of the wrong length".into());
                }
                let client_key: Vec<u8> = proof
                    .iter()
                    .zip(&client_signature)
                    .map(|(p, s)| p ^ s)
                    .collect();
                if Sha512::digest(&client_key)[..] != credentials.stored_key[..] {
                    return Err("wrong password".into());
                }
                let server_signature = hmac(&credentials.server_key, auth_message.as_bytes());
                Ok(format!("v={}", BASE64.encode(server_signature)).into_bytes())
            }
            Self::Done => Err("message after the exchange ended".into()),
        }
    }
}

async fn read_frame<R: AsyncRead + Unpin>(reader: &mut R) -> anyhow::Result<Vec<u8>> {
    let length = reader.read_i32().await.context("reading a frame")?;
    let length = usize::try_from(length).context("negative frame length")?;
    if length > MAX_FRAME_BEFORE_AUTHENTICATION {
        bail!("frame of {length} bytes before authentication");
    }
    let mut frame = vec![0; length];
    reader.read_exact(&mut frame).await?;
    Ok(frame)
}

async fn write_frame<W: AsyncWrite + Unpin>(writer: &mut W, payload: &[u8]) -> anyhow::Result<()> {
    writer.write_i32(i32::try_from(payload.len())?).await?;
    writer.write_all(payload).await?;
    writer.flush().await?;
    Ok(())
}

/// Reads Kafka's primitive types (big-endian, `i16`-length strings, `i32`-length bytes,
/// unsigned varints) from a frame.
struct Decoder<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Decoder<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.position.checked_add(n).context("length overflow")?;
        let taken = self
            .bytes
            .get(self.position..end)
            .context("frame too short")?;
        self.position = end;
        Ok(taken)
    }

    fn i16(&mut self) -> anyhow::Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into()?))
    }

    fn i32(&mut self) -> anyhow::Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }

    fn uvarint(&mut self) -> anyhow::Result<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        bail!("varint too long")
    }

    fn skip_tagged_fields(&mut self) -> anyhow::Result<()> {
        for _ in 0..self.uvarint()? {
            let _tag = self.uvarint()?;
            let size = usize::try_from(self.uvarint()?)?;
            self.take(size)?;
        }
        Ok(())
    }

    fn nullable_string(&mut self) -> anyhow::Result<Option<&'a str>> {
        let length = self.i16()?;
        if length < 0 {
            return Ok(None);
        }
        let bytes = self.take(usize::try_from(length)?)?;
        Ok(Some(std::str::from_utf8(bytes)?))
    }

    fn string(&mut self) -> anyhow::Result<&'a str> {
        self.nullable_string()?.context("null string")
    }

    fn bytes(&mut self) -> anyhow::Result<&'a [u8]> {
        let length = usize::try_from(self.i32()?).context("null bytes")?;
        self.take(length)
    }
}

/// Writes Kafka's primitive types.
#[derive(Default)]
struct Encoder(Vec<u8>);

impl Encoder {
    fn i16(&mut self, value: i16) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn i32(&mut self, value: i32) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn i64(&mut self, value: i64) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    fn uvarint(&mut self, mut value: u64) -> &mut Self {
        while value >= 0x80 {
            // Truncation intended: the low seven bits with the continuation bit.
            self.0.push((value & 0x7f) as u8 | 0x80);
            value >>= 7;
        }
        self.0.push(value as u8);
        self
    }

    fn string(&mut self, value: &str) -> &mut Self {
        let length = i16::try_from(value.len()).expect("short strings only");
        self.i16(length);
        self.0.extend_from_slice(value.as_bytes());
        self
    }

    fn bytes(&mut self, value: &[u8]) -> &mut Self {
        let length = i32::try_from(value.len()).expect("short byte strings only");
        self.i32(length);
        self.0.extend_from_slice(value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The client's side of RFC 5802, written from the RFC, against the server above.
    fn client_final(password: &str, client_first_bare: &str, server_first: &str) -> String {
        let mut attributes = server_first.split(',');
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .expect("r");
        let salt = BASE64
            .decode(
                attributes
                    .next()
                    .and_then(|a| a.strip_prefix("s="))
                    .expect("s"),
            )
            .expect("salt");
        let iterations: u32 = attributes
            .next()
            .and_then(|a| a.strip_prefix("i="))
            .expect("i")
            .parse()
            .expect("number");
        let mut salted = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(password.as_bytes(), &salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key = Sha512::digest(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    fn exchange(user: &str, password: &str) -> Result<Vec<u8>, String> {
        let credentials = Credentials::new("spontan-task", "s3cret");
        let mut exchange = ScramExchange::Start;
        let bare = format!("n={user},r=fyko+d2lbbFgONRv9qkxdawL");
        let server_first = exchange.step(&credentials, format!("n,,{bare}").as_bytes())?;
        let server_first = String::from_utf8(server_first).expect("text");
        assert!(server_first.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"));
        assert!(server_first.ends_with(",i=4096"));
        exchange.step(
            &credentials,
            client_final(password, &bare, &server_first).as_bytes(),
        )
    }

    #[test]
    fn scram_accepts_the_password_and_refuses_others() {
        let server_final = exchange("spontan-task", "s3cret").expect("accepted");
        assert!(server_final.starts_with(b"v="));
        assert_eq!(
            exchange("spontan-task", "wrong").expect_err("refused"),
            "wrong password"
        );
        assert!(exchange("someone", "s3cret").is_err());
    }

    #[test]
    fn api_versions_gain_the_sasl_apis_in_both_encodings() {
        // Version 0: i32 array of (key, min, max), then nothing.
        let mut v0 = Encoder::default();
        v0.i32(7).i16(0).i32(1).i16(3).i16(0).i16(12);
        let out = with_sasl_apis(&v0.0, 0).expect("decoded");
        let mut d = Decoder::new(&out);
        assert_eq!((d.i32().expect("id"), d.i16().expect("error")), (7, 0));
        assert_eq!(d.i32().expect("count"), 3);
        let keys: Vec<(i16, i16, i16)> = (0..3)
            .map(|_| {
                (
                    d.i16().expect("k"),
                    d.i16().expect("min"),
                    d.i16().expect("max"),
                )
            })
            .collect();
        assert_eq!(keys, [(3, 0, 12), (17, 0, 1), (36, 0, 1)]);
        assert_eq!(d.position, out.len());
        // Version 3: compact array with tagged fields per entry, then throttle and tags kept.
        let mut v3 = Encoder::default();
        v3.i32(8).i16(0).uvarint(2).i16(18).i16(0).i16(3).uvarint(0);
        v3.i32(0).uvarint(0);
        let out = with_sasl_apis(&v3.0, 3).expect("decoded");
        let mut d = Decoder::new(&out);
        assert_eq!((d.i32().expect("id"), d.i16().expect("error")), (8, 0));
        assert_eq!(d.uvarint().expect("count"), 4);
        let mut keys = Vec::new();
        for _ in 0..3 {
            keys.push((
                d.i16().expect("k"),
                d.i16().expect("min"),
                d.i16().expect("max"),
            ));
            d.skip_tagged_fields().expect("tags");
        }
        assert_eq!(keys, [(18, 0, 3), (17, 0, 1), (36, 0, 1)]);
        assert_eq!(
            (d.i32().expect("throttle"), d.uvarint().expect("tags")),
            (0, 0)
        );
        assert_eq!(d.position, out.len());
    }
}
