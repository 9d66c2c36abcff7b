//! How every command talks to the services: the global flags (addresses, TLS, token,
//! output), a connection, a request carrying the token, and idempotency keys derived from
//! the command's arguments.
//!
//! A connection is native gRPC (HTTP/2, tonic's channel), or gRPC-Web over HTTP/1.1 with
//! `--grpc-web`: the public ingress passes only gRPC-Web to the services (it reaches them
//! over HTTP/1.1), so the CLI speaks it there, as the web clients do. An `https://` address
//! speaks TLS, checking the service's certificate against the webpki roots (a public
//! certificate, such as the ingress's) or the CA of `--tls-ca` (the suite's internal CA,
//! through a port-forward), optionally showing a client certificate (`--tls-cert`,
//! `--tls-key`: the services require one of the internal CA).

use std::hash::{Hash, Hasher};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use spontan_platform::client_tls::{ClientTls, ClientTlsFiles};
use tonic::body::Body;
use tonic::codegen::StdError;
use tonic::transport::Channel;
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

/// How long to wait for a connection, and for the answer to a request (a stream's first
/// answer).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the services are, who you are, and how to print.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// Registration service address.
    #[arg(
        long,
        global = true,
        env = "SPONTAN_REGISTRATION_ADDR",
        default_value = "http://127.0.0.1:50051"
    )]
    pub registration: String,
    /// Task service address.
    #[arg(
        long,
        global = true,
        env = "SPONTAN_TASK_ADDR",
        default_value = "http://127.0.0.1:50052"
    )]
    pub task: String,
    /// Matching service address.
    #[arg(
        long,
        global = true,
        env = "SPONTAN_MATCHING_ADDR",
        default_value = "http://127.0.0.1:50053"
    )]
    pub matching: String,
    /// Speak gRPC-Web (HTTP/1.1) instead of native gRPC: needed through the public ingress
    /// (https://<host> for all three addresses), which passes only gRPC-Web on.
    #[arg(long, global = true, env = "SPONTAN_GRPC_WEB")]
    pub grpc_web: bool,
    #[command(flatten)]
    pub tls: Tls,
    /// Bearer token sent with every request (see `spontan token mint`).
    #[arg(long, global = true, env = "SPONTAN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
}

/// TLS towards `https://` addresses; without these, the service's certificate is checked
/// against the webpki roots for the address's host, and no client certificate is shown.
#[derive(Debug, Clone, Default, Args)]
pub struct Tls {
    /// CA certificate (PEM) the services' certificates must chain to, instead of the public
    /// roots: the suite's internal CA (`ca.crt` of the Secret spontan-ingress-client-tls).
    #[arg(
        long = "tls-ca",
        global = true,
        env = "SPONTAN_TLS_CA",
        value_name = "PEM"
    )]
    pub ca: Option<String>,
    /// The name to check the service's certificate for, instead of the address's host: the
    /// Service's name (spontan-task.spontan.svc) through a port-forward to 127.0.0.1.
    #[arg(
        long = "tls-domain",
        global = true,
        env = "SPONTAN_TLS_DOMAIN",
        value_name = "NAME"
    )]
    pub domain: Option<String>,
    /// Client certificate (PEM) for mutual TLS, with --tls-key.
    #[arg(
        long = "tls-cert",
        global = true,
        env = "SPONTAN_TLS_CERT",
        value_name = "PEM",
        requires = "key"
    )]
    pub cert: Option<String>,
    /// The client certificate's private key (PEM), with --tls-cert.
    #[arg(
        long = "tls-key",
        global = true,
        env = "SPONTAN_TLS_KEY",
        value_name = "PEM",
        requires = "cert"
    )]
    pub key: Option<String>,
}

impl Tls {
    fn files(&self) -> ClientTlsFiles {
        ClientTlsFiles {
            ca: self.ca.clone(),
            domain: self.domain.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        }
    }
}

/// A connection to one service: what the generated clients are built on.
pub type Connection = BoxCloneSyncService<http::Request<Body>, http::Response<Body>, StdError>;

/// A connection to `address` (5 s to connect, 30 s per request), over TLS for `https://`,
/// gRPC-Web with `--grpc-web`.
pub async fn channel(global: &Global, address: &str) -> anyhow::Result<Connection> {
    let uri: http::Uri = address
        .parse()
        .with_context(|| format!("invalid address {address}"))?;
    let files = global.tls.files();
    let tls = match uri.scheme_str() {
        Some("https") => Some(files.load()?),
        Some("http") => {
            anyhow::ensure!(
                files.is_empty(),
                "TLS options are set (--tls-* or SPONTAN_TLS_*), but {address} is plain \
                 text: use an https:// address"
            );
            None
        }
        _ => anyhow::bail!("invalid address {address}: it starts with http:// or https://"),
    };
    if global.grpc_web {
        grpc_web(address, uri, tls)
    } else {
        native(address, tls).await
    }
}

/// Native gRPC: tonic's channel, HTTP/2.
async fn native(address: &str, tls: Option<ClientTls>) -> anyhow::Result<Connection> {
    let mut endpoint = Channel::from_shared(address.to_owned())
        .with_context(|| format!("invalid address {address}"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT);
    if let Some(tls) = tls {
        endpoint = endpoint
            .tls_config(tls.tonic(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()))
            .context("TLS configuration")?;
    }
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot reach {address}"))?;
    let address = address.to_owned();
    Ok(BoxCloneSyncService::new(channel.map_err(
        move |error| -> StdError { Box::new(transport_status(&address, error)) },
    )))
}

/// A failure below gRPC (the connection, TLS) as a status with tonic's code for it and a
/// message that names the address and every cause: hyper and tonic say only "client error"
/// or "transport error", and the reason (a TLS alert) is in the causes.
fn transport_status(
    address: &str,
    error: impl std::error::Error + Send + Sync + 'static,
) -> tonic::Status {
    let text = crate::errors::causes(std::iter::successors(
        Some(&error as &(dyn std::error::Error + 'static)),
        |cause| cause.source(),
    ));
    let code = tonic::Status::from_error(Box::new(error)).code();
    let code = if code == tonic::Code::Unknown {
        tonic::Code::Unavailable
    } else {
        code
    };
    tonic::Status::new(code, format!("{address}: {text}"))
}

/// gRPC-Web over HTTP/1.1 (hyper's client, rustls), as a browser calls through the ingress.
fn grpc_web(address: &str, uri: http::Uri, tls: Option<ClientTls>) -> anyhow::Result<Connection> {
    use hyper_util::client::legacy::Client;
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioExecutor;

    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    http.set_nodelay(true);
    // Plain `http://` needs no TLS; the builder wants a configuration all the same.
    let tls = match tls {
        Some(tls) => tls,
        None => ClientTlsFiles::default().load()?,
    };
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.rustls(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())?)
        .https_or_http();
    let builder = match tls.domain() {
        Some(domain) => {
            builder.with_server_name_resolver(hyper_rustls::FixedServerNameResolver::new(
                domain
                    .to_owned()
                    .try_into()
                    .with_context(|| format!("--tls-domain {domain} is not a host name"))?,
            ))
        }
        None => builder,
    };
    let connector = builder.enable_http1().wrap_connector(http);
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let origin = uri.clone();
    let address = address.to_owned();
    let service = tower::ServiceBuilder::new()
        .layer(tonic_web::GrpcWebClientLayer::new())
        .service(client)
        .map_request(move |request: http::Request<Body>| with_origin(&origin, request))
        .map_response(|response| response.map(Body::new))
        .map_err(move |error| -> StdError { Box::new(transport_status(&address, error)) });
    let service = tower::ServiceBuilder::new()
        .timeout(REQUEST_TIMEOUT)
        .service(service)
        .map_err(|error: StdError| -> StdError {
            if error.is::<tower::timeout::error::Elapsed>() {
                Box::new(tonic::Status::deadline_exceeded(format!(
                    "no answer within {} s",
                    REQUEST_TIMEOUT.as_secs()
                )))
            } else {
                error
            }
        });
    Ok(BoxCloneSyncService::new(service))
}

/// `request` sent to `origin` (scheme and host of the address, the request's path): tonic's
/// clients send only the path, which tonic's channel completes itself and hyper's client
/// does not.
fn with_origin(origin: &http::Uri, request: http::Request<Body>) -> http::Request<Body> {
    let (mut parts, body) = request.into_parts();
    let mut uri = http::uri::Parts::default();
    uri.scheme = origin.scheme().cloned();
    uri.authority = origin.authority().cloned();
    uri.path_and_query = parts.uri.path_and_query().cloned();
    if let Ok(complete) = http::Uri::from_parts(uri) {
        parts.uri = complete;
    }
    http::Request::from_parts(parts, body)
}

/// A request carrying the caller's token, if any.
pub fn request<T>(global: &Global, message: T) -> anyhow::Result<tonic::Request<T>> {
    let mut request = tonic::Request::new(message);
    if let Some(token) = &global.token {
        let value = format!("Bearer {token}")
            .parse()
            .context("the token contains invalid characters")?;
        request.metadata_mut().insert("authorization", value);
    }
    Ok(request)
}

/// A stable idempotency key for `text` (the demo's objects).
pub fn stable_key(text: &str) -> String {
    derived_key(&text)
}

/// A stable idempotency key derived from a command's arguments, so that running the same
/// command again after a timeout never creates a second object.
pub fn derived_key(parts: &impl Hash) -> String {
    let mut first = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut first);
    let mut second = std::collections::hash_map::DefaultHasher::new();
    (parts, "spontan").hash(&mut second);
    let bytes = [first.finish().to_be_bytes(), second.finish().to_be_bytes()].concat();
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&bytes);
    uuid::Builder::from_custom_bytes(raw)
        .into_uuid()
        .to_string()
}
