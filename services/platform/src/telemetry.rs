//! Logs, traces and metrics, set up once per process.
//!
//! - Logs: JSON lines on stdout (or pretty for a terminal), lowercase messages with structured
//!   fields.
//! - Traces: every span is an OpenTelemetry span, so that trace context can be carried in
//!   gRPC metadata and Kafka headers even when nothing is exported. When the standard
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, spans are
//!   exported over OTLP/gRPC; the exporter reads the other standard `OTEL_*` variables itself.
//! - Metrics: a Prometheus recorder for the `metrics` facade, rendered on `/metrics`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::TelemetryConfig;

/// Flushes and shuts down trace export when dropped; keep it alive for the whole `main`.
#[must_use = "dropping the guard stops trace export"]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("trace export did not shut down cleanly: {error}");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("otlp exporter: {0}")]
    Exporter(#[from] opentelemetry_otlp::ExporterBuildError),
}

/// Installs logging, tracing and the metrics recorder. Safe to call more than once per
/// process (integration tests run several services in one): later calls keep the first
/// subscriber and recorder.
pub fn init(
    service: &'static str,
    config: &TelemetryConfig,
) -> Result<TelemetryGuard, TelemetryError> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let mut builder = SdkTracerProvider::builder()
        .with_resource(Resource::builder().with_service_name(service).build());
    if otlp_configured() {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));

    // The log filter applies to logs only: trace context must keep flowing through every
    // info-level span even when logs are turned down to warnings.
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log_filter));
    let otel = otel.with_filter(LevelFilter::INFO);
    let registry = tracing_subscriber::registry().with(otel);
    let _ = if config.log_format == "pretty" {
        registry
            .with(tracing_subscriber::fmt::layer().with_filter(filter))
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_filter(filter),
            )
            .try_init()
    };
    metrics_handle();
    Ok(TelemetryGuard { provider })
}

/// A tracer provider and W3C propagator with no exporter, and its layer: what tests install so
/// that trace context is carried exactly as in production.
pub fn propagation_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let provider = SdkTracerProvider::builder().build();
    opentelemetry::global::set_tracer_provider(provider.clone());
    tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("spontan-test"))
        .with_filter(LevelFilter::INFO)
}

fn otlp_configured() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|name| std::env::var(name).is_ok_and(|v| !v.is_empty()))
}

/// Histogram buckets (seconds) for request latencies: the default.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Histogram buckets (seconds) for how long people take to answer an offer: seconds to hours
/// (offers expire after `matching.offer_timeout_secs`, 15 minutes by default).
const ANSWER_BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
];

/// Histogram buckets for batch sizes (registrations per group commit, records per consumer
/// batch).
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(
                    Matcher::Full("matching_offer_answer_seconds".into()),
                    &ANSWER_BUCKETS,
                )
            })
            .and_then(|builder| {
                builder
                    .set_buckets_for_metric(Matcher::Suffix("_batch_size".into()), &BATCH_BUCKETS)
            })
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may already be installed (a test harness); ours still renders.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The W3C `traceparent`/`tracestate` of the current span, for carrying into Kafka headers.
pub fn current_trace_headers() -> Vec<(String, String)> {
    struct Collect(Vec<(String, String)>);
    impl Injector for Collect {
        fn set(&mut self, key: &str, value: String) {
            self.0.push((key.to_owned(), value));
        }
    }
    let context = tracing::Span::current().context();
    let mut collect = Collect(Vec::new());
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&context, &mut collect));
    collect.0
}

/// Makes `span` a child of the trace context found in `headers` (W3C trace context), if any.
pub fn set_parent_from<'a, I>(span: &tracing::Span, headers: I)
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    struct Pairs<'a>(Vec<(&'a str, &'a str)>);
    impl Extractor for Pairs<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| *v)
        }
        fn keys(&self) -> Vec<&str> {
            self.0.iter().map(|(k, _)| *k).collect()
        }
    }
    let pairs = Pairs(headers.into_iter().collect());
    if pairs.get("traceparent").is_none() {
        return;
    }
    let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&pairs));
    let _ = span.set_parent(parent);
}

/// The trace id of the current span as 32 hex digits, for tests and log correlation.
pub fn current_trace_id() -> String {
    use opentelemetry::trace::TraceContextExt;
    tracing::Span::current()
        .context()
        .span()
        .span_context()
        .trace_id()
        .to_string()
}
