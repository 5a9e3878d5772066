//! Security headers on every response, set in one place so no handler can forget them.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Only our own stylesheet and images (inline SVG QR codes need nothing more; `data:` allows small
/// inline images), no framing (clickjacking), forms post only to us, no `<base>` tricks, and no
/// scripts at all beyond `'self'`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
     frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Paths whose responses may be cached: static assets, which set their own `Cache-Control`.
pub const STATIC_PREFIX: &str = "/static/";

/// Adds the security headers to every response, replacing any a handler set, and `Cache-Control:
/// no-store` to everything but static assets: pages show secrets (enrollment QR codes) and personal
/// data that must not linger in a shared cache or the browser's history.
///
/// `Referrer-Policy: no-referrer` because enrollment links carry their token in the URL.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let is_static = request.uri().path().starts_with(STATIC_PREFIX);
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !is_static || !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::{HeaderMap, StatusCode};
    use axum::middleware::from_fn;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;

    fn router() -> Router {
        Router::new()
            .route(
                "/page",
                get(|| async { ([(header::CACHE_CONTROL, "public, max-age=600")], "secret page") }),
            )
            .route(
                "/static/style.css",
                get(|| async { ([(header::CACHE_CONTROL, "public, max-age=31536000")], "css") }),
            )
            .route("/static/bare.css", get(|| async { "no cache header" }))
            .route("/framed", get(|| async { ([(header::X_FRAME_OPTIONS, "ALLOWALL")], "x") }))
            .layer(from_fn(security_headers))
    }

    async fn headers_of(path: &str) -> (StatusCode, HeaderMap) {
        let response = router().oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        (response.status(), response.headers().clone())
    }

    fn assert_security_headers(headers: &HeaderMap) {
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers.get_all(header::X_FRAME_OPTIONS).iter().collect::<Vec<_>>(), ["DENY"]);
    }

    #[tokio::test]
    async fn pages_get_security_headers_and_no_store_even_if_they_asked_for_caching() {
        let (status, headers) = headers_of("/page").await;
        assert_eq!(status, StatusCode::OK);
        assert_security_headers(&headers);
        assert_eq!(headers.get_all(header::CACHE_CONTROL).iter().collect::<Vec<_>>(), ["no-store"]);
        assert_security_headers(&headers_of("/framed").await.1);
    }

    #[tokio::test]
    async fn static_assets_keep_their_cache_header() {
        let (_, headers) = headers_of("/static/style.css").await;
        assert_security_headers(&headers);
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=31536000");
        assert_eq!(headers_of("/static/bare.css").await.1[header::CACHE_CONTROL], "no-store");
    }

    #[tokio::test]
    async fn not_found_responses_are_covered_too() {
        let (status, headers) = headers_of("/nowhere").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_security_headers(&headers);
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    }
}
