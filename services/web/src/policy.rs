//! What every response gets, whatever answered it: the security headers (a strict
//! Content-Security-Policy built from the configured origins), the cache policy of its
//! route class, and the request metrics.
//!
//! One middleware around the whole router rather than a layer per route, so that 404s,
//! 405s, redirects and the SPA fallbacks carry the same headers as pages.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{self, HeaderName, HeaderValue};

use crate::config::{Config, origin_of};

/// Hashed file names under `/assets/` never change content: cache them for a year.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
/// Everything else is revalidated, so that a deployment reaches every browser at once.
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");
/// The dev sign-in's redirect carries a token: never stored.
const NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

/// Which kind of route a request is for: the `route` label of the request metrics, and what
/// decides the cache policy. Classes, not paths, so that scanners cannot create series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass {
    /// `/assets/…`: the bundles' hashed files.
    Assets,
    /// An HTML page or a client-side route of one (no file extension, or `.html`).
    Page,
    /// `/config.json`.
    Config,
    /// `/dev/…`: dev sign-in.
    Dev,
    /// Probes and root files (`sw.js`, the manifest, icons) and anything else.
    Other,
}

impl RouteClass {
    pub fn of(path: &str) -> Self {
        if path.starts_with("/assets/") {
            return Self::Assets;
        }
        if path == "/config.json" {
            return Self::Config;
        }
        if path.starts_with("/dev/") {
            return Self::Dev;
        }
        if matches!(path, "/healthz" | "/readyz") {
            return Self::Other;
        }
        let last = path.rsplit('/').next().unwrap_or_default();
        if !last.contains('.') || last.ends_with(".html") {
            Self::Page
        } else {
            Self::Other
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Assets => "assets",
            Self::Page => "page",
            Self::Config => "config",
            Self::Dev => "dev",
            Self::Other => "other",
        }
    }
}

/// The headers set on every response, computed once from the configuration.
#[derive(Debug)]
pub struct Policy {
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Policy {
    pub fn new(config: &Config) -> Result<Self, http::header::InvalidHeaderValue> {
        let csp = HeaderValue::from_str(&content_security_policy(config))?;
        Ok(Self {
            headers: vec![
                (header::CONTENT_SECURITY_POLICY, csp),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                ),
                (
                    HeaderName::from_static("permissions-policy"),
                    HeaderValue::from_static("camera=(self), geolocation=(self), microphone=()"),
                ),
                (
                    HeaderName::from_static("cross-origin-opener-policy"),
                    HeaderValue::from_static("same-origin"),
                ),
            ],
        })
    }
}

/// The Content-Security-Policy: no inline script or style anywhere (the Vite build inlines
/// nothing), network access only to this origin, the three services, the map's style origin
/// and the identity provider. Origins equal to the page's own are harmless repetitions of
/// `'self'`.
pub fn content_security_policy(config: &Config) -> String {
    let web = &config.web;
    let map = origins([web.map.style_url.as_str()]);
    let mut connect = origins([
        web.registration_url.as_str(),
        web.task_url.as_str(),
        web.matching_url.as_str(),
        web.map.style_url.as_str(),
        // The console fetches the provider's discovery document and token endpoint.
        web.oidc.issuer.as_str(),
    ]);
    connect.insert(0, "'self'".into());
    let mut img = vec!["'self'".to_owned(), "data:".into(), "blob:".into()];
    img.extend(map);
    [
        "default-src 'self'".to_owned(),
        "script-src 'self'".into(),
        "style-src 'self'".into(),
        format!("img-src {}", img.join(" ")),
        "font-src 'self'".into(),
        format!("connect-src {}", connect.join(" ")),
        // MapLibre runs its workers from blob: URLs; the service worker is /sw.js.
        "worker-src 'self' blob:".into(),
        "child-src blob:".into(),
        "manifest-src 'self'".into(),
        "frame-ancestors 'none'".into(),
        "base-uri 'self'".into(),
        "form-action 'self'".into(),
        "object-src 'none'".into(),
    ]
    .join("; ")
}

/// The distinct origins of the non-empty URLs, in order (configuration validated them).
fn origins<'a>(urls: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    for origin in urls
        .into_iter()
        .filter(|url| !url.is_empty())
        .filter_map(|url| origin_of(url).ok())
    {
        if !found.contains(&origin) {
            found.push(origin);
        }
    }
    found
}

/// The middleware: runs the request, then sets the policy's headers, the cache policy and
/// `Service-Worker-Allowed` for the service worker, and records the request.
pub async fn apply(State(policy): State<Arc<Policy>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let class = RouteClass::of(request.uri().path());
    let service_worker = request.uri().path() == "/sw.js";
    let mut response = next.run(request).await;
    let status = response.status();
    let headers = response.headers_mut();
    for (name, value) in &policy.headers {
        headers.insert(name.clone(), value.clone());
    }
    let cache = match class {
        // Errors are not cached for a year: a missing file may be deployed a minute later.
        RouteClass::Assets if status.is_success() || status == http::StatusCode::NOT_MODIFIED => {
            IMMUTABLE
        }
        RouteClass::Dev => NO_STORE,
        _ => NO_CACHE,
    };
    headers.insert(header::CACHE_CONTROL, cache);
    if service_worker {
        // Lets /sw.js control the whole origin whatever path registers it.
        headers.insert(
            HeaderName::from_static("service-worker-allowed"),
            HeaderValue::from_static("/"),
        );
    }
    let status = status.as_u16().to_string();
    metrics::counter!("http_server_requests_total", "route" => class.label(), "status" => status.clone())
        .increment(1);
    metrics::histogram!("http_server_request_duration_seconds", "route" => class.label(), "status" => status)
        .record(started.elapsed().as_secs_f64());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_into_their_class() {
        for (path, class) in [
            ("/", RouteClass::Page),
            ("/console/", RouteClass::Page),
            ("/console/incidents/42", RouteClass::Page),
            ("/dashboard/index.html", RouteClass::Page),
            ("/assets/index-3f2a.js", RouteClass::Assets),
            ("/config.json", RouteClass::Config),
            ("/dev/sign-in", RouteClass::Dev),
            ("/healthz", RouteClass::Other),
            ("/sw.js", RouteClass::Other),
            ("/manifest.webmanifest", RouteClass::Other),
        ] {
            assert_eq!(RouteClass::of(path), class, "{path}");
        }
    }

    #[test]
    fn the_csp_names_each_configured_origin_once() {
        let mut config = Config::default();
        config.web.registration_url = "https://spontan.example.org".into();
        config.web.task_url = "https://spontan.example.org/".into();
        config.web.matching_url = "https://spontan.example.org".into();
        config.web.map.style_url = "https://tiles.example.org/styles/basic.json".into();
        let csp = content_security_policy(&config);
        assert!(
            csp.contains(
                "connect-src 'self' https://spontan.example.org https://tiles.example.org;"
            ),
            "{csp}"
        );
        assert!(
            csp.contains("img-src 'self' data: blob: https://tiles.example.org;"),
            "{csp}"
        );
        assert!(!csp.contains("unsafe-inline"), "{csp}");
    }
}
