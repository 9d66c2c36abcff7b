//! The built clients from `web.assets_dir`, with the client-side routes' fallbacks.
//!
//! - `/assets/…` are the bundles' hashed files: served or 404, never an HTML page in their
//!   place (a browser would try to run it as a script and the page would break obscurely).
//! - Any other existing file is served as it is (`index.html`, `sw.js`, the manifest, icons).
//! - Unknown paths under `/console/` and `/dashboard/` are routes of those pages and get
//!   their `index.html`; other unknown paths without a file extension get the volunteer
//!   app's `index.html`; unknown paths with an extension, and `/dev/…`, which belongs to the
//!   server, are 404.
//! - Files are sent precompressed when the browser accepts it and the build left a `.br` or
//!   `.gz` beside them (`scripts/compress.mjs`): a phone on a bad network gets the bundle at
//!   a third of its size, and the server spends no CPU compressing.
//! - Hidden paths (a segment starting with `.`, such as Vite's `.vite/manifest.json`) are
//!   404 even when the file exists: a build directory may hold more than the clients.
//!   `/.well-known/` is the exception, being meant for the public.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use tower::ServiceExt;
use tower_http::services::{ServeDir, ServeFile};

/// The routes serving files; merged last into the application's router.
pub fn routes<S>(assets_dir: &Path) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let root = Arc::new(assets_dir.to_path_buf());
    let pages = ServeDir::new(assets_dir)
        .precompressed_br()
        .precompressed_gzip()
        .fallback(client_route.with_state(root));
    let assets = ServeDir::new(assets_dir.join("assets"))
        .precompressed_br()
        .precompressed_gzip();
    Router::new()
        .nest_service("/assets", assets)
        .fallback_service(pages)
        .layer(axum::middleware::from_fn(refuse_hidden))
        .layer(axum::middleware::map_response(vary_by_encoding))
}

/// The same URL has several encodings: a cache between us and the browser must keep them
/// apart (ServeDir does not say so itself).
async fn vary_by_encoding(mut response: Response) -> Response {
    response.headers_mut().append(
        http::header::VARY,
        http::HeaderValue::from_static("accept-encoding"),
    );
    response
}

async fn refuse_hidden(request: Request, next: Next) -> Response {
    if request
        .uri()
        .path()
        .split('/')
        .any(|segment| segment.starts_with('.') && segment != ".well-known")
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    next.run(request).await
}

/// The page whose client-side routing handles `path`, if any.
fn page_for(path: &str) -> Option<&'static str> {
    if path.starts_with("/console/") {
        Some("console/index.html")
    } else if path.starts_with("/dashboard/") {
        Some("dashboard/index.html")
    } else if path.starts_with("/dev/")
        || path.starts_with("/assets/")
        || path
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains('.'))
    {
        None
    } else {
        Some("index.html")
    }
}

/// What `ServeDir` calls when no file matches.
async fn client_route(State(root): State<Arc<PathBuf>>, request: Request) -> Response {
    match page_for(request.uri().path()) {
        Some(page) => match ServeFile::new(root.join(page))
            .precompressed_br()
            .precompressed_gzip()
            .oneshot(request)
            .await
        {
            Ok(response) => response.map(Body::new),
            Err(never) => match never {},
        },
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_routes_go_to_their_page_and_files_do_not() {
        for (path, page) in [
            ("/", Some("index.html")),
            ("/offers/7", Some("index.html")),
            ("/console/incidents/42", Some("console/index.html")),
            ("/dashboard/map", Some("dashboard/index.html")),
            ("/favicon.ico", None),
            ("/dev/sign-in", None),
            ("/assets/missing", None),
        ] {
            assert_eq!(page_for(path), page, "{path}");
        }
    }
}
