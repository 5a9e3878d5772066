//! Keyward's HTTP face. `app()` builds the whole router, so tests drive it with
//! `tower::ServiceExt::oneshot` and no socket; the binary serves the same router.

use axum::{Router, http::header, response::IntoResponse, routing::get};

/// What the handlers need from the process around them.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The address people reach this instance at, as configured (shown on the start page).
    pub public_url: String,
}

/// The application's router.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn home(axum::extract::State(state): axum::extract::State<AppState>) -> impl IntoResponse {
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

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz() -> &'static str {
    "ready\n"
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    fn state() -> AppState {
        AppState { public_url: "http://<example>".into() }
    }

    #[tokio::test]
    async fn healthz_answers_ok() {
        let response =
            app(state()).oneshot(Request::get("/healthz").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn home_escapes_the_configured_url_and_sets_security_headers() {
        let response = app(state()).oneshot(Request::get("/").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("http://&lt;example&gt;"), "{body}");
    }

    #[tokio::test]
    async fn unknown_path_is_404() {
        let response =
            app(state()).oneshot(Request::get("/nope").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
