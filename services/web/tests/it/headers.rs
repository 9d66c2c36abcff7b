//! Security headers on every response, cache headers by route class, request metrics.

use http::StatusCode;

use crate::common::TestApp;

const CSP_DEFAULT: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; font-src 'self'; \
    connect-src 'self' http://127.0.0.1:50051 http://127.0.0.1:50052 http://127.0.0.1:50053; \
    worker-src 'self' blob:; child-src blob:; manifest-src 'self'; frame-ancestors 'none'; \
    base-uri 'self'; form-action 'self'; object-src 'none'";

#[tokio::test]
async fn pages_assets_and_errors_all_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    for path in [
        "/",
        "/console/",
        "/assets/index-3f2a9c1d.js",
        "/config.json",
        "/healthz",
        "/assets/missing-0000.js",
        "/dev/sign-in?role=admin",
    ] {
        let reply = app.get(path).await;
        assert_eq!(
            reply.header("content-security-policy"),
            CSP_DEFAULT,
            "{path}"
        );
        assert_eq!(reply.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(reply.header("referrer-policy"), "no-referrer", "{path}");
        assert_eq!(
            reply.header("permissions-policy"),
            "camera=(self), geolocation=(self), microphone=()",
            "{path}"
        );
        assert_eq!(
            reply.header("cross-origin-opener-policy"),
            "same-origin",
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn the_csp_allows_the_configured_origins_once_and_never_inline_code() {
    let app = TestApp::spawn_with(|config| {
        let web = &mut config.web;
        web.registration_url = "https://spontan.example.org".into();
        web.task_url = "https://spontan.example.org/".into();
        web.matching_url = "https://spontan.example.org".into();
        web.map.style_url = "https://tiles.example.org:8443/styles/basic.json".into();
        web.oidc.issuer = "https://id.example.org/realms/thw".into();
        web.oidc.client_id = "spontan-console".into();
    })
    .await;
    let csp = app
        .get("/")
        .await
        .header("content-security-policy")
        .to_owned();
    assert!(
        csp.contains("; img-src 'self' data: blob: https://tiles.example.org:8443;"),
        "{csp}"
    );
    assert!(
        csp.contains(
            "; connect-src 'self' https://spontan.example.org https://tiles.example.org:8443 \
             https://id.example.org;"
        ),
        "{csp}"
    );
    assert!(!csp.contains("unsafe"), "{csp}");
    app.stop().await;
}

#[tokio::test]
async fn hashed_assets_are_immutable_and_everything_else_revalidates() {
    let app = TestApp::spawn().await;
    for path in ["/assets/index-3f2a9c1d.js", "/assets/index-77b0e4aa.css"] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(
            reply.header("cache-control"),
            "public, max-age=31536000, immutable",
            "{path}"
        );
    }
    for path in [
        "/",
        "/index.html",
        "/console/",
        "/dashboard/map",
        "/config.json",
        "/sw.js",
        "/manifest.webmanifest",
        // A missing asset must not be cached for a year.
        "/assets/missing-0000.js",
    ] {
        assert_eq!(
            app.get(path).await.header("cache-control"),
            "no-cache",
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn requests_are_counted_by_route_class_and_status() {
    let app = TestApp::spawn().await;
    app.get("/assets/index-3f2a9c1d.js").await;
    app.get("/assets/missing-0000.js").await;
    app.get("/console/incidents/1").await;
    let metrics = app.metrics().await;
    for series in [
        r#"http_server_requests_total{route="assets",status="200"}"#,
        r#"http_server_requests_total{route="assets",status="404"}"#,
        r#"http_server_requests_total{route="page",status="200"}"#,
        r#"http_server_request_duration_seconds_bucket{route="page",status="200",le="#,
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    app.stop().await;
}
