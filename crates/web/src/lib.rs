//! Keyward's HTTP face. `app()` builds the whole router, so tests drive it with
//! `tower::ServiceExt::oneshot` and no socket; the binary serves the same router.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Router, routing::get};
use keyward_core::store::{HealthStore, Store};

/// What the handlers need from the process around them.
pub struct AppState<S> {
    /// The address people reach this instance at, as configured (shown on the start page).
    pub public_url: String,
    /// The database.
    pub store: S,
}

/// The application's router.
pub fn app<S: Store + 'static>(state: AppState<S>) -> Router {
    Router::new()
        .route("/", get(home::<S>))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz::<S>))
        .with_state(Arc::new(state))
}

async fn home<S>(State(state): State<Arc<AppState<S>>>) -> impl IntoResponse {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Keyward</title></head>\n\
         <body><main><h1>Keyward</h1><p>Two-factor authentication for your team. \
         This instance answers at {}.</p></main></body></html>\n",
        escape_html(&state.public_url)
    );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, "default-src 'self'; frame-ancestors 'none'"),
        ],
        body,
    )
}

/// The process is up.
async fn healthz() -> &'static str {
    "ok\n"
}

/// The process can serve: its database answers.
async fn readyz<S: HealthStore>(State(state): State<Arc<AppState<S>>>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(error) => {
            tracing::warn!(error = &error as &dyn std::error::Error, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "the database does not answer\n")
        }
    }
}

fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
