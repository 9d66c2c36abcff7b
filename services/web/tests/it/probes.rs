//! Liveness, readiness and shutdown.

use http::StatusCode;

use crate::common::{TestApp, write};

#[tokio::test]
async fn healthz_answers_ok() {
    let app = TestApp::spawn().await;
    let reply = app.get("/healthz").await;
    assert_eq!((reply.status, reply.body.as_str()), (StatusCode::OK, "ok"));
    app.stop().await;
}

#[tokio::test]
async fn readyz_waits_for_the_volunteer_page() {
    let assets = tempfile::tempdir().expect("temporary directory");
    let app = TestApp::spawn_over(assets, |_| {}).await;
    assert_eq!(
        app.get("/readyz").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    // Still alive: liveness does not depend on the files.
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);

    write(app.assets.path(), "index.html", "<!doctype html>");
    assert_eq!(app.get("/readyz").await.status, StatusCode::OK);
    app.stop().await;
}
