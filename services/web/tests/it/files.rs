//! Static files, content types and the client-side routes' fallbacks.

use http::StatusCode;

use crate::common::{TestApp, body_of, write};

#[tokio::test]
async fn the_three_pages_are_served_at_their_paths() {
    let app = TestApp::spawn().await;
    for (path, file) in [
        ("/", "index.html"),
        ("/console/", "console/index.html"),
        ("/dashboard/", "dashboard/index.html"),
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body, body_of(file), "{path}");
        assert!(
            reply.header("content-type").starts_with("text/html"),
            "{path}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn client_routes_fall_back_to_their_page() {
    let app = TestApp::spawn().await;
    for (path, file) in [
        ("/console/incidents/42", "console/index.html"),
        ("/console/incidents/42/tasks", "console/index.html"),
        ("/dashboard/map", "dashboard/index.html"),
        ("/offers/7", "index.html"),
        ("/register", "index.html"),
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body, body_of(file), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn missing_assets_and_files_are_404_never_a_page() {
    let app = TestApp::spawn().await;
    for path in [
        "/assets/index-00000000.js",
        "/assets/",
        "/favicon.ico",
        "/icons/missing.png",
        "/../Cargo.toml",
        "/.vite/manifest.json",
        "/console/.vite/manifest.json",
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!reply.body.contains("<title>"), "{path}: {}", reply.body);
    }
    app.stop().await;
}

#[tokio::test]
async fn the_service_worker_may_control_the_whole_origin() {
    let app = TestApp::spawn().await;
    let reply = app.get("/sw.js").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, body_of("sw.js"));
    assert_eq!(reply.header("service-worker-allowed"), "/");
    assert_eq!(reply.header("cache-control"), "no-cache");
    assert_eq!(reply.header("content-type"), "text/javascript");
    app.stop().await;
}

#[tokio::test]
async fn files_get_their_content_types() {
    let app = TestApp::spawn().await;
    for (path, content_type) in [
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/assets/index-3f2a9c1d.js", "text/javascript"),
        ("/assets/index-77b0e4aa.css", "text/css"),
        ("/icons/icon-192.png", "image/png"),
        ("/.well-known/security.txt", "text/plain"),
    ] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.header("content-type"), content_type, "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn precompressed_files_are_sent_to_browsers_that_accept_them() {
    let app = TestApp::spawn().await;
    let root = app.assets.path();
    write(root, "assets/app-1a2b3c.js", "console.log('plain')");
    write(root, "assets/app-1a2b3c.js.br", "brotli bytes");
    write(root, "assets/app-1a2b3c.js.gz", "gzip bytes");
    write(root, "index.html.gz", "gzipped page");

    let (plain, _) = app.get_with("/assets/app-1a2b3c.js", &[]).await;
    assert_eq!(plain.body, "console.log('plain')");
    assert_eq!(plain.header("content-encoding"), "");

    let (br, _) = app
        .get_with("/assets/app-1a2b3c.js", &[("accept-encoding", "gzip, br")])
        .await;
    assert_eq!(br.status, StatusCode::OK);
    assert_eq!(br.header("content-encoding"), "br");
    assert_eq!(br.body, "brotli bytes");
    assert!(br.header("content-type").contains("javascript"));
    assert!(
        br.header("vary")
            .to_ascii_lowercase()
            .contains("accept-encoding")
    );
    assert!(br.header("cache-control").contains("immutable"));

    let (gz, _) = app
        .get_with("/assets/app-1a2b3c.js", &[("accept-encoding", "gzip")])
        .await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    assert_eq!(gz.body, "gzip bytes");

    // Pages too, also when reached through a client route's fallback.
    for path in ["/", "/offers/7"] {
        let (page, _) = app.get_with(path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(page.header("content-encoding"), "gzip", "{path}");
        assert_eq!(page.body, "gzipped page", "{path}");
        assert!(
            page.header("content-type").starts_with("text/html"),
            "{path}"
        );
    }
    app.stop().await;
}
