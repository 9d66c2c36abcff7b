//! The gRPC server every service runs: its own services plus `grpc.health.v1` and server
//! reflection, a tracing span per request that continues the caller's W3C trace context,
//! request metrics per method and code, authentication ([`crate::auth`]), limits, and
//! graceful shutdown on a cancellation token.
//!
//! The same port answers native gRPC (HTTP/2) and gRPC-Web (HTTP/1.1 or HTTP/2, unary and
//! server streaming), so browsers call the services directly: `tonic-web` translates, and a
//! CORS layer answers preflights for the origins in `grpc.cors_allowed_origins` only. With
//! `grpc.tls` it answers over TLS only ([`crate::tls`]).

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic::transport::Server;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::auth::{Access, AuthLayer, Authenticator};
use crate::config::GrpcConfig;

/// Serves `routes` with health and reflection on `listener` until `shutdown` is cancelled,
/// then stops accepting and lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    config: &GrpcConfig,
    routes: Routes,
    health: tonic_health::pb::health_server::HealthServer<
        impl tonic_health::pb::health_server::Health,
    >,
    authenticator: Authenticator,
    access: &[&'static Access],
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(spontan_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|error| tracing::error!(%error, "reflection disabled"))
        .ok();
    // Older clients (grpcurl before 1.9) still ask the v1alpha endpoint.
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(spontan_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .ok();

    let mut routes = routes.add_service(health);
    if let Some(reflection) = reflection_v1 {
        routes = routes.add_service(reflection);
    }
    if let Some(reflection) = reflection_v1alpha {
        routes = routes.add_service(reflection);
    }

    let router = Server::builder()
        // gRPC-Web from browsers arrives over HTTP/1.1 unless TLS lets them negotiate HTTP/2.
        .accept_http1(true)
        .trace_fn(request_span)
        .timeout(Duration::from_millis(config.request_timeout_ms))
        .concurrency_limit_per_connection(config.concurrency_limit_per_connection)
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        // Outermost first: CORS answers preflights before anything else runs, gRPC-Web is
        // translated to gRPC, the metrics see every call as gRPC, whichever way it came, and
        // a bearer token becomes the request's principal (or an Unauthenticated answer), and
        // a caller the method's access rule does not allow is refused.
        .layer(cors_layer(&config.cors_allowed_origins))
        .layer(tonic_web::GrpcWebLayer::new())
        .layer(GrpcMetricsLayer)
        .layer(AuthLayer::new(authenticator, access))
        .add_routes(routes);
    let stop = shutdown.clone().cancelled_owned();
    if config.tls.enabled() {
        let incoming = crate::tls::incoming(listener, config.tls.clone(), shutdown)?;
        router.serve_with_incoming_shutdown(incoming, stop).await?;
    } else {
        router
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop)
            .await?;
    }
    Ok(())
}

/// The headers a gRPC-Web client sends, and those its code must be able to read.
const CORS_REQUEST_HEADERS: [&str; 6] = [
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
    "authorization",
    "traceparent",
];
const CORS_EXPOSED_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];
/// How long a browser may reuse a preflight answer: fewer round trips on a bad network.
const CORS_MAX_AGE: Duration = Duration::from_secs(2 * 60 * 60);

/// CORS for the configured origins only (checked at configuration load). With none, no
/// cross-origin request is allowed and same-origin deployments need no CORS at all.
fn cors_layer(origins: &[String]) -> CorsLayer {
    let origins: Vec<http::HeaderValue> = origins
        .iter()
        .filter_map(|origin| http::HeaderValue::from_str(origin).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([http::Method::POST, http::Method::OPTIONS])
        .allow_headers(CORS_REQUEST_HEADERS.map(http::HeaderName::from_static))
        .expose_headers(CORS_EXPOSED_HEADERS.map(http::HeaderName::from_static))
        .max_age(CORS_MAX_AGE)
}

/// Checks that `origin` is what a browser sends in `Origin`: `http` or `https`, a host, an
/// optional port, and nothing else (no path, no wildcard, no trailing slash).
pub fn check_origin(origin: &str) -> Result<(), &'static str> {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() {
        return Err("has no host");
    }
    if rest.contains(['/', '*', '?', '#', ' ']) {
        return Err("must be scheme://host[:port] without path or wildcard");
    }
    if http::HeaderValue::from_str(origin).is_err() {
        return Err("is not a valid header value");
    }
    Ok(())
}

/// A server span per request, child of the caller's trace when it sent a `traceparent`.
fn request_span(request: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc",
        otel.kind = "server",
        otel.name = request.uri().path(),
        rpc.system = "grpc",
        rpc.method = request.uri().path(),
    );
    let headers = request
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)));
    crate::telemetry::set_parent_from(&span, headers);
    span
}

/// Counts requests per method and gRPC code and observes their latency.
#[derive(Debug, Clone, Copy)]
pub struct GrpcMetricsLayer;

impl<S> tower::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetrics<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct GrpcMetrics<S> {
    inner: S,
}

impl<S, B, RB> tower::Service<http::Request<B>> for GrpcMetrics<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        // Only known API prefixes become label values, so that scanners cannot blow up the
        // number of series.
        let method = if path.starts_with("/spontan.") || path.starts_with("/grpc.") {
            path.to_owned()
        } else {
            "other".to_owned()
        };
        let started = Instant::now();
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            let code = match &result {
                // Errors are sent trailers-only, so `grpc-status` is in the headers; a success
                // puts it in the trailers, which are sent after this point.
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse::<i32>().ok())
                    .map_or_else(
                        || "Ok".to_owned(),
                        |c| format!("{:?}", tonic::Code::from_i32(c)),
                    ),
                Err(_) => "TransportError".to_owned(),
            };
            metrics::counter!("grpc_server_requests_total", "method" => method.clone(), "code" => code.clone())
                .increment(1);
            metrics::histogram!("grpc_server_request_duration_seconds", "method" => method, "code" => code)
                .record(started.elapsed().as_secs_f64());
            result
        })
    }
}
