//! Static assets compiled into the binary, so a node needs no files beside it.
//!
//! The stylesheet's URL carries a hash of its content (`/static/style.css?v=…`, written by the layout),
//! so it can be cached for a year: a release that changes it changes the URL.

use axum::http::header;
use axum::response::IntoResponse;

/// The path the stylesheet is served at.
pub const STYLE_PATH: &str = "/static/style.css";

/// The stylesheet, as built into the binary.
pub const STYLE_CSS: &str = include_str!("../static/style.css");

/// The path the security-key script is served at: the only script Keyward has.
pub const WEBAUTHN_PATH: &str = "/static/webauthn.js";

/// The script, as built into the binary; pages with a security-key form load it.
pub const WEBAUTHN_JS: &str = include_str!("../static/webauthn.js");

/// FNV-1a (64 bit) of the script, as for the stylesheet.
pub const WEBAUTHN_VERSION: u64 = fnv1a(WEBAUTHN_JS.as_bytes());

/// FNV-1a (64 bit) of the stylesheet: a cache-busting version, not a security measure.
pub const STYLE_VERSION: u64 = fnv1a(STYLE_CSS.as_bytes());

/// How long browsers and proxies may keep a static asset: a year, never revalidated.
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    hash
}

/// `GET /static/style.css`.
pub async fn style_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, ASSET_CACHE_CONTROL)],
        STYLE_CSS,
    )
}

/// `GET /static/webauthn.js`.
pub async fn webauthn_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, ASSET_CACHE_CONTROL),
        ],
        WEBAUTHN_JS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // From the FNV reference test suite.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[tokio::test]
    async fn the_stylesheet_is_served_as_css_and_cached_long() {
        let response = style_css().await.into_response();
        assert_eq!(response.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
        assert_eq!(response.headers()[header::CACHE_CONTROL], ASSET_CACHE_CONTROL);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        assert_eq!(body, STYLE_CSS.as_bytes());
        assert!(STYLE_CSS.contains(".button-primary"));
    }
}
