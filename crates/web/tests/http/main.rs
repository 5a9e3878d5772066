//! The router over HTTP semantics, without a socket: each test gets its own SQLite database.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use keyward_store::SqlStore;
use keyward_web::{AppState, app};
use tower::ServiceExt;

struct TestApp {
    router: Router,
    store: SqlStore,
}

async fn spawn_app(name: &str) -> TestApp {
    let dir = std::env::temp_dir().join(format!("keyward-web-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqlStore::connect(&format!("sqlite://{}", dir.join("keyward.db").display())).await.unwrap();
    store.migrate().await.unwrap();
    let router = app(AppState { public_url: "http://<example>".into(), store: store.clone() });
    TestApp { router, store }
}

async fn get(app: &TestApp, path: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    let response = app.router.clone().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, headers, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app("health").await;
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK);
    assert_eq!(get(&app, "/readyz").await.0, StatusCode::OK);
    app.store.close().await;
    let (status, _, body) = get(&app, "/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "a closed database is not ready");
    assert!(!body.contains("pool"), "internal details stay in the log: {body}");
    assert_eq!(get(&app, "/healthz").await.0, StatusCode::OK, "but the process is alive");
}

#[tokio::test]
async fn home_escapes_the_configured_url_and_sets_security_headers() {
    let app = spawn_app("home").await;
    let (status, headers, body) = get(&app, "/").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    assert!(body.contains("http://&lt;example&gt;"), "{body}");
}

#[tokio::test]
async fn unknown_paths_are_404() {
    let app = spawn_app("missing").await;
    assert_eq!(get(&app, "/nope").await.0, StatusCode::NOT_FOUND);
}
