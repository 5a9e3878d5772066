//! The session cookie and CSRF protection for forms.
//!
//! **Cookies.** The session id lives in `__Host-keyward_session` when the public URL is https (the
//! prefix makes browsers insist on `Secure`, `Path=/` and no `Domain`, so a sibling subdomain cannot
//! plant or shadow it), else in `keyward_session`. Always `HttpOnly; SameSite=Lax; Path=/`.
//!
//! **CSRF.** Every state-changing form carries a field `csrf` derived from a secret the browser holds in
//! an HttpOnly cookie: `base64url(SHA-256("keyward-csrf\0" || secret))`. After login the secret is the
//! session token itself, so no extra state is stored and a new session invalidates old forms. Forms shown
//! before login (sign-up, login, forgot password) use a random secret in the `keyward_csrf` cookie
//! (`__Host-keyward_csrf` over https; `SameSite=Strict`): a double-submit cookie. An attacker's page
//! can neither read the cookie nor compute the field from it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponseParts, ResponseParts};
use keyward_core::ports::{Entropy, EntropyRng};
use keyward_core::session::ABSOLUTE_TIMEOUT_SECS;
use keyward_core::token::Token;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::errors::AppError;

/// The name of the hidden form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf";

/// Bytes of randomness in a pre-login CSRF secret (256 bits).
const CSRF_SECRET_BYTES: usize = 32;

/// The longest cookie value taken for a token. Ours are 22 (session) or 43 (CSRF secret) characters.
const MAX_TOKEN_CHARS: usize = 128;

/// The CSRF form token for a secret (the session token, or the pre-login cookie's value):
/// `base64url(SHA-256("keyward-csrf\0" || secret))`, unpadded.
pub fn csrf_token(secret: &Token) -> String {
    let digest =
        Sha256::new().chain_update(b"keyward-csrf\0").chain_update(secret.as_str().as_bytes()).finalize();
    data_encoding::BASE64URL_NOPAD.encode(&digest)
}

/// Whether `submitted` is the CSRF token for `secret`, compared in constant time.
pub fn check_csrf(secret: &Token, submitted: &str) -> bool {
    let expected = csrf_token(secret);
    // `ct_eq` on slices of different lengths is false; the length is public anyway.
    expected.as_bytes().ct_eq(submitted.trim().as_bytes()).into()
}

/// The value of cookie `name` in the request's `Cookie` header(s), if present and non-empty.
/// The first occurrence wins, as browsers send the most specific cookie first.
pub fn cookie_value<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| key.trim() == name)
        .map(|(_, value)| {
            let value = value.trim();
            // RFC 6265 §4.1.1 allows the value in double quotes.
            value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value)
        })
        .filter(|value| !value.is_empty())
}

/// A token-shaped cookie value: base64url characters only, of a sane length. Anything else never
/// reaches a database lookup.
fn token_cookie(headers: &HeaderMap, name: &str) -> Option<Token> {
    cookie_value(headers, name)
        .filter(|value| value.len() <= MAX_TOKEN_CHARS)
        .filter(|value| value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .map(Token::from_presented)
}

/// How this instance names and flags its cookies, which depends only on whether it is served over https.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    secure: bool,
}

impl CookiePolicy {
    /// Secure cookies with the `__Host-` prefix when `public_url` is https, plain ones otherwise.
    pub fn for_public_url(public_url: &str) -> CookiePolicy {
        let scheme = public_url.trim_start().split_once("://").map(|(scheme, _)| scheme);
        CookiePolicy { secure: scheme.is_some_and(|s| s.eq_ignore_ascii_case("https")) }
    }

    /// Whether cookies carry `Secure` and the `__Host-` prefix.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The session cookie's name.
    pub fn session_cookie_name(&self) -> &'static str {
        if self.secure { "__Host-keyward_session" } else { "keyward_session" }
    }

    /// The pre-login CSRF cookie's name.
    pub fn csrf_cookie_name(&self) -> &'static str {
        if self.secure { "__Host-keyward_csrf" } else { "keyward_csrf" }
    }

    /// The known-browser cookie's name.
    pub fn browser_cookie_name(&self) -> &'static str {
        if self.secure { "__Host-keyward_browser" } else { "keyward_browser" }
    }

    /// The known-browser mark the request presents, if it has the shape of one (key id, a dot, base64url).
    pub fn browser_mark<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        cookie_value(headers, self.browser_cookie_name()).filter(|value| {
            value.len() <= 200
                && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
    }

    /// `Set-Cookie` marking this browser as one that completed a login (its own throttle budget), for as
    /// long as such a mark is honoured.
    pub fn mark_browser(&self, mark: &str) -> SetCookie {
        let max_age = keyward_core::usecase::KNOWN_BROWSER_SECS;
        self.cookie(self.browser_cookie_name(), mark, "Lax", Some(max_age))
    }

    /// The "Remember this browser" cookie's name.
    pub fn remember_cookie_name(&self) -> &'static str {
        if self.secure { "__Host-keyward_remember" } else { "keyward_remember" }
    }

    /// The remembered-browser token the request presents, if it has the shape of one.
    pub fn remembered_browser<'h>(&self, headers: &'h HeaderMap) -> Option<&'h str> {
        cookie_value(headers, self.remember_cookie_name()).filter(|value| {
            value.len() <= MAX_TOKEN_CHARS
                && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    }

    /// `Set-Cookie` remembering this browser for `max_age` seconds after a second factor.
    pub fn remember_browser(&self, token: &Token, max_age: u64) -> SetCookie {
        self.cookie(self.remember_cookie_name(), token.as_str(), "Lax", Some(max_age))
    }

    /// `Set-Cookie` that removes the remembered-browser cookie.
    pub fn forget_browser(&self) -> SetCookie {
        self.cookie(self.remember_cookie_name(), "", "Lax", Some(0))
    }

    /// The session token the request presents, if any (shape-checked, not looked up).
    pub fn session_token(&self, headers: &HeaderMap) -> Option<Token> {
        token_cookie(headers, self.session_cookie_name())
    }

    /// The pre-login CSRF secret the request presents, if any.
    pub fn csrf_secret(&self, headers: &HeaderMap) -> Option<Token> {
        token_cookie(headers, self.csrf_cookie_name())
    }

    /// `Set-Cookie` for a new session. The browser may keep it at most as long as the session can live
    /// (12 h); the server enforces the idle timeout itself.
    pub fn start_session(&self, token: &Token) -> SetCookie {
        self.cookie(self.session_cookie_name(), token.as_str(), "Lax", Some(ABSOLUTE_TIMEOUT_SECS))
    }

    /// `Set-Cookie` that removes the session cookie (logout, expired session).
    pub fn end_session(&self) -> SetCookie {
        self.cookie(self.session_cookie_name(), "", "Lax", Some(0))
    }

    /// `Set-Cookie` for a pre-login CSRF secret: lives as long as the browser session.
    pub fn set_csrf_secret(&self, secret: &Token) -> SetCookie {
        self.cookie(self.csrf_cookie_name(), secret.as_str(), "Strict", None)
    }

    fn cookie(&self, name: &str, value: &str, same_site: &str, max_age: Option<u64>) -> SetCookie {
        let mut text = format!("{name}={value}; Path=/; HttpOnly; SameSite={same_site}");
        if let Some(seconds) = max_age {
            text.push_str(&format!("; Max-Age={seconds}"));
        }
        if self.secure {
            text.push_str("; Secure");
        }
        SetCookie(text)
    }
}

impl<S, M> FromRef<Arc<AppState<S, M>>> for CookiePolicy {
    fn from_ref(state: &Arc<AppState<S, M>>) -> CookiePolicy {
        state.cookies
    }
}

/// One `Set-Cookie` header, returned from a handler as a response part: `(cookie, Redirect::to("/"))`.
/// Several may be returned; each appends its own header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie(String);

impl SetCookie {
    /// The header's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl IntoResponseParts for SetCookie {
    type Error = AppError;

    fn into_response_parts(self, mut response: ResponseParts) -> Result<ResponseParts, AppError> {
        let value = HeaderValue::try_from(self.0).map_err(AppError::internal)?;
        response.headers_mut().append(header::SET_COOKIE, value);
        Ok(response)
    }
}

/// The session token from the cookie. As an extractor it answers "not signed in" (a redirect to the
/// login page) when there is none; use `Option<SessionToken>` where signing in is optional. The token
/// is not looked up: the handler's use case loads the session and checks its stage and age.
#[derive(Debug, Clone)]
pub struct SessionToken(pub Token);

impl SessionToken {
    /// The CSRF token for the forms of a page shown in this session.
    pub fn csrf_token(&self) -> String {
        csrf_token(&self.0)
    }
}

impl<St> FromRequestParts<St> for SessionToken
where
    CookiePolicy: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<SessionToken, AppError> {
        CookiePolicy::from_ref(state)
            .session_token(&parts.headers)
            .map(SessionToken)
            .ok_or(AppError::Unauthenticated)
    }
}

impl<St> OptionalFromRequestParts<St> for SessionToken
where
    CookiePolicy: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &St,
    ) -> Result<Option<SessionToken>, std::convert::Infallible> {
        Ok(CookiePolicy::from_ref(state).session_token(&parts.headers).map(SessionToken))
    }
}

/// A form posted in a session, its CSRF field checked against the session token.
///
/// Rejects with "not signed in" (303 to the login page) without a session cookie and with
/// [`AppError::form_expired`] (403) when the `csrf` field does not match. `F` need not declare the
/// `csrf` field.
#[derive(Debug)]
pub struct SessionForm<F> {
    /// The session token the form was posted with (still to be looked up).
    pub token: Token,
    /// The form's other fields.
    pub form: F,
}

impl<F, St> FromRequest<St> for SessionForm<F>
where
    F: DeserializeOwned,
    CookiePolicy: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &St) -> Result<SessionForm<F>, AppError> {
        let token = CookiePolicy::from_ref(state)
            .session_token(request.headers())
            .ok_or(AppError::Unauthenticated)?;
        let form = checked_form(request, state, &token).await?;
        Ok(SessionForm { token, form })
    }
}

/// A form posted before login (sign-up, login, forgot password), its CSRF field checked against the
/// pre-login CSRF cookie. Rejects with [`AppError::form_expired`] when the cookie is missing or the field
/// does not match.
#[derive(Debug)]
pub struct PreLoginForm<F>(pub F);

impl<F, St> FromRequest<St> for PreLoginForm<F>
where
    F: DeserializeOwned,
    CookiePolicy: FromRef<St>,
    St: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &St) -> Result<PreLoginForm<F>, AppError> {
        let secret = CookiePolicy::from_ref(state)
            .csrf_secret(request.headers())
            .ok_or_else(AppError::form_expired)?;
        Ok(PreLoginForm(checked_form(request, state, &secret).await?))
    }
}

#[derive(serde::Deserialize)]
struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// Reads an `application/x-www-form-urlencoded` body, checks its `csrf` field against `secret`, then
/// parses the whole form as `F`. The CSRF check comes first, so a forged request learns nothing
/// about validation.
async fn checked_form<F: DeserializeOwned, St: Send + Sync>(
    request: Request,
    state: &St,
    secret: &Token,
) -> Result<F, AppError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(AppError::bad_request("The request is not a submitted form."));
    }
    let body = Bytes::from_request(request, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::User {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: "The form is larger than Keyward accepts. Shorten what you typed and try again."
                    .into(),
            }
        } else {
            AppError::bad_request("The form could not be read. Go back, reload the page and try again.")
        }
    })?;
    let submitted: CsrfOnly = serde_urlencoded::from_bytes(&body).map_err(|_| AppError::form_expired())?;
    if !check_csrf(secret, &submitted.csrf) {
        return Err(AppError::form_expired());
    }
    check_fields(&body)?;
    serde_urlencoded::from_bytes(&body).map_err(|error| {
        // A form of ours always has its fields; this is an outdated page or a hand-made request.
        tracing::debug!(%error, "a form did not parse");
        AppError::bad_request("The form is incomplete. Go back, reload the page and try again.")
    })
}

/// The largest form body read (a larger one is answered 413 before it is parsed).
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// The most characters any one field may hold; each field's own rule (an e-mail address at most 254, a
/// disable policy at most 4,000) is checked where it is parsed.
pub const MAX_FIELD_CHARS: usize = 5000;

/// Refuses a form with a field longer than [`MAX_FIELD_CHARS`] or holding a control character other
/// than a line break or a tab (a NUL byte, an escape): nobody types those, and no database should see them.
fn check_fields(body: &[u8]) -> Result<(), AppError> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|_| {
        AppError::bad_request("The form could not be read. Go back, reload the page and try again.")
    })?;
    for (name, value) in &fields {
        let value_chars = value.chars().count();
        if name.len() > 64 || value_chars > MAX_FIELD_CHARS {
            return Err(AppError::unprocessable(format!(
                "A field holds {value_chars} characters, more than the {MAX_FIELD_CHARS} Keyward accepts. \
                 Shorten it and try again."
            )));
        }
        let control = |c: char| c.is_control() && !matches!(c, '\n' | '\r' | '\t');
        if name.chars().any(control) || value.chars().any(control) {
            return Err(AppError::unprocessable(
                "A field holds a control character (such as a NUL byte) that cannot be typed. Remove it and \
                 try again.",
            ));
        }
    }
    Ok(())
}

/// The CSRF token for a form shown before login, and the cookie to set when the browser had no
/// secret yet. Return it as a response part beside the page: `(csrf, page)`.
#[derive(Debug, Clone)]
pub struct PreLoginCsrf {
    /// The value of the form's hidden `csrf` field.
    pub form_token: String,
    set_cookie: Option<SetCookie>,
}

impl PreLoginCsrf {
    /// Reuses the secret the browser already holds (so several open tabs keep working), or makes a new
    /// one from `entropy`.
    pub fn for_request(policy: &CookiePolicy, headers: &HeaderMap, entropy: &dyn Entropy) -> PreLoginCsrf {
        match policy.csrf_secret(headers) {
            Some(secret) => PreLoginCsrf { form_token: csrf_token(&secret), set_cookie: None },
            None => {
                let secret = Token::generate(CSRF_SECRET_BYTES, &mut EntropyRng(entropy));
                PreLoginCsrf {
                    form_token: csrf_token(&secret),
                    set_cookie: Some(policy.set_csrf_secret(&secret)),
                }
            }
        }
    }

    /// The `Set-Cookie` this response must carry, if a new secret was made.
    pub fn set_cookie(&self) -> Option<&SetCookie> {
        self.set_cookie.as_ref()
    }
}

impl IntoResponseParts for PreLoginCsrf {
    type Error = AppError;

    fn into_response_parts(self, response: ResponseParts) -> Result<ResponseParts, AppError> {
        match self.set_cookie {
            Some(cookie) => cookie.into_response_parts(response),
            None => Ok(response),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{StatusCode, header};
    use axum::response::IntoResponse;

    use super::*;

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in cookies {
            map.append(header::COOKIE, HeaderValue::from_str(line).unwrap());
        }
        map
    }

    const PLAIN: CookiePolicy = CookiePolicy { secure: false };
    const SECURE: CookiePolicy = CookiePolicy { secure: true };

    #[test]
    fn https_urls_get_secure_prefixed_cookies() {
        for (url, secure) in [
            ("https://keyward.example.com", true),
            ("HTTPS://keyward.example.com/", true),
            ("http://localhost:8080", false),
            ("http://https.example.com", false),
            ("keyward.example.com", false),
            ("", false),
        ] {
            assert_eq!(CookiePolicy::for_public_url(url).is_secure(), secure, "{url}");
        }
        let token = Token::from_presented("abcDEF123-_");
        assert_eq!(
            SECURE.start_session(&token).as_str(),
            "__Host-keyward_session=abcDEF123-_; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200; Secure"
        );
        assert_eq!(
            PLAIN.start_session(&token).as_str(),
            "keyward_session=abcDEF123-_; Path=/; HttpOnly; SameSite=Lax; Max-Age=43200"
        );
        assert_eq!(
            SECURE.end_session().as_str(),
            "__Host-keyward_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Secure"
        );
        assert_eq!(
            PLAIN.set_csrf_secret(&token).as_str(),
            "keyward_csrf=abcDEF123-_; Path=/; HttpOnly; SameSite=Strict"
        );
        assert_eq!(
            SECURE.set_csrf_secret(&token).as_str(),
            "__Host-keyward_csrf=abcDEF123-_; Path=/; HttpOnly; SameSite=Strict; Secure"
        );
    }

    #[test]
    fn session_token_is_found_among_other_cookies() {
        let found = |policy: CookiePolicy, lines: &[&str]| {
            policy.session_token(&headers(lines)).map(|t| t.as_str().to_owned())
        };
        assert_eq!(
            found(PLAIN, &["theme=dark; keyward_session=AAAbbb_-9; lang=en"]),
            Some("AAAbbb_-9".into())
        );
        assert_eq!(found(PLAIN, &["keyward_session=first", "keyward_session=second"]), Some("first".into()));
        assert_eq!(found(PLAIN, &["a=1", "keyward_session=\"quoted\""]), Some("quoted".into()));
        assert_eq!(found(PLAIN, &["keyward_session = spaced ;x=y"]), Some("spaced".into()));
        assert_eq!(found(PLAIN, &["keyward_session=abc;def"]), Some("abc".into()));
        // The secure policy reads only the prefixed cookie: a plain one may have been planted by a
        // subdomain or over http.
        assert_eq!(found(SECURE, &["keyward_session=planted"]), None);
        assert_eq!(
            found(SECURE, &["keyward_session=planted; __Host-keyward_session=real"]),
            Some("real".into())
        );
        assert_eq!(found(PLAIN, &["__Host-keyward_session=x"]), None);
    }

    #[test]
    fn missing_empty_and_garbage_cookies_give_no_token() {
        for lines in [
            &[][..],
            &["theme=dark"],
            &["keyward_session="],
            &["keyward_session"],
            &[";;; = ;=;keyward_session"],
            &["keyward_sessionx=abc", "xkeyward_session=abc"],
            &["keyward_session=a b"],
            &["keyward_session=abc%00def"],
            &["keyward_session=<script>"],
        ] {
            assert!(PLAIN.session_token(&headers(lines)).is_none(), "{lines:?}");
        }
        let long = format!("keyward_session={}", "a".repeat(MAX_TOKEN_CHARS + 1));
        assert!(PLAIN.session_token(&headers(&[&long])).is_none(), "overlong");
        let mut map = HeaderMap::new();
        map.insert(header::COOKIE, HeaderValue::from_bytes(b"keyward_session=\xff\xfe").unwrap());
        assert!(PLAIN.session_token(&map).is_none(), "not UTF-8");
    }

    #[test]
    fn csrf_tokens_accept_their_secret_only() {
        let secret = Token::from_presented("session-token-1");
        let token = csrf_token(&secret);
        assert_eq!(token.len(), 43, "SHA-256 in unpadded base64url");
        // An independent computation of base64url(SHA-256("keyward-csrf\0" || secret)).
        let mut input = b"keyward-csrf\0".to_vec();
        input.extend_from_slice(b"session-token-1");
        assert_eq!(token, data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(&input)));
        assert!(check_csrf(&secret, &token));
        assert!(!check_csrf(&Token::from_presented("session-token-2"), &token));
        assert!(!check_csrf(&secret, ""));
        assert!(!check_csrf(&secret, &token[..42]));
        assert!(!check_csrf(&secret, &format!("{token}A")));
        assert!(!check_csrf(&secret, "session-token-1"), "the secret itself is not the token");
        let mut flipped = token.clone().into_bytes();
        flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
        assert!(!check_csrf(&secret, std::str::from_utf8(&flipped).unwrap()));
    }

    struct Sevens;
    impl Entropy for Sevens {
        fn fill(&self, buffer: &mut [u8]) {
            buffer.fill(7);
        }
    }

    #[test]
    fn pre_login_csrf_reuses_the_browsers_secret_or_makes_one() {
        let fresh = PreLoginCsrf::for_request(&PLAIN, &HeaderMap::new(), &Sevens);
        let cookie = fresh.set_cookie().expect("a new secret is set").as_str().to_owned();
        let secret = Token::generate(32, &mut EntropyRng(&Sevens));
        assert_eq!(cookie, format!("keyward_csrf={}; Path=/; HttpOnly; SameSite=Strict", secret.as_str()));
        assert!(check_csrf(&secret, &fresh.form_token));
        let again = PreLoginCsrf::for_request(
            &PLAIN,
            &headers(&[&format!("keyward_csrf={}", secret.as_str())]),
            &Sevens,
        );
        assert!(again.set_cookie().is_none(), "an existing secret is kept");
        assert_eq!(again.form_token, fresh.form_token);
    }

    #[derive(Debug, serde::Deserialize)]
    struct Login {
        email: String,
    }

    fn post(cookie: Option<&str>, content_type: &str, body: &str) -> Request {
        let mut builder = Request::post("/form").header(header::CONTENT_TYPE, content_type);
        if let Some(cookie) = cookie {
            builder = builder.header(header::COOKIE, cookie);
        }
        builder.body(Body::from(body.to_owned())).unwrap()
    }

    fn status_of(error: AppError) -> StatusCode {
        error.into_response().status()
    }

    const FORM: &str = "application/x-www-form-urlencoded";

    #[tokio::test]
    async fn session_forms_need_the_cookie_and_the_matching_field() {
        let token = Token::from_presented("SessionToken_1");
        let csrf = csrf_token(&token);
        let cookie = "keyward_session=SessionToken_1";
        let body = format!("email=ada%40example.com&csrf={csrf}");

        let ok: SessionForm<Login> =
            SessionForm::from_request(post(Some(cookie), FORM, &body), &PLAIN).await.unwrap();
        assert_eq!(ok.form.email, "ada@example.com");
        assert_eq!(ok.token.as_str(), "SessionToken_1");

        let charset = "application/x-www-form-urlencoded; charset=UTF-8";
        assert!(SessionForm::<Login>::from_request(post(Some(cookie), charset, &body), &PLAIN).await.is_ok());

        let no_session =
            SessionForm::<Login>::from_request(post(None, FORM, &body), &PLAIN).await.unwrap_err();
        assert!(matches!(no_session, AppError::Unauthenticated));

        let other_session = "keyward_session=SessionToken_2";
        let forged = SessionForm::<Login>::from_request(post(Some(other_session), FORM, &body), &PLAIN)
            .await
            .unwrap_err();
        assert_eq!(status_of(forged), StatusCode::FORBIDDEN);

        let without_field = post(Some(cookie), FORM, "email=ada%40example.com");
        let rejected = SessionForm::<Login>::from_request(without_field, &PLAIN).await.unwrap_err();
        assert_eq!(status_of(rejected), StatusCode::FORBIDDEN);

        let incomplete = post(Some(cookie), FORM, &format!("csrf={csrf}"));
        let rejected = SessionForm::<Login>::from_request(incomplete, &PLAIN).await.unwrap_err();
        assert_eq!(status_of(rejected), StatusCode::BAD_REQUEST);

        let json = post(Some(cookie), "application/json", &body);
        let rejected = SessionForm::<Login>::from_request(json, &PLAIN).await.unwrap_err();
        assert_eq!(status_of(rejected), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn pre_login_forms_need_the_double_submit_cookie() {
        let secret = Token::from_presented("PreLoginSecret");
        let body = format!("email=ada%40example.com&csrf={}", csrf_token(&secret));
        let cookie = "keyward_csrf=PreLoginSecret";

        let PreLoginForm(login) =
            PreLoginForm::<Login>::from_request(post(Some(cookie), FORM, &body), &PLAIN).await.unwrap();
        assert_eq!(login.email, "ada@example.com");

        for cookie in [None, Some("keyward_csrf=OtherSecret"), Some("keyward_session=PreLoginSecret")] {
            let rejected =
                PreLoginForm::<Login>::from_request(post(cookie, FORM, &body), &PLAIN).await.unwrap_err();
            assert_eq!(status_of(rejected), StatusCode::FORBIDDEN, "{cookie:?}");
        }
        // Over https only the prefixed cookie counts.
        let rejected =
            PreLoginForm::<Login>::from_request(post(Some(cookie), FORM, &body), &SECURE).await.unwrap_err();
        assert_eq!(status_of(rejected), StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn session_token_extractor() {
        let mut parts =
            Request::get("/").header(header::COOKIE, "keyward_session=abc").body(()).unwrap().into_parts().0;
        let token =
            <SessionToken as FromRequestParts<_>>::from_request_parts(&mut parts, &PLAIN).await.unwrap();
        assert_eq!(token.0.as_str(), "abc");
        assert_eq!(token.csrf_token(), csrf_token(&Token::from_presented("abc")));
        let mut parts = Request::get("/").body(()).unwrap().into_parts().0;
        let missing =
            <SessionToken as FromRequestParts<_>>::from_request_parts(&mut parts, &PLAIN).await.unwrap_err();
        assert!(matches!(missing, AppError::Unauthenticated));
        let optional = <SessionToken as OptionalFromRequestParts<_>>::from_request_parts(&mut parts, &PLAIN)
            .await
            .unwrap();
        assert!(optional.is_none());
    }

    #[tokio::test]
    async fn set_cookies_append_rather_than_replace() {
        let token = Token::from_presented("abc");
        let response = (PLAIN.start_session(&token), PLAIN.set_csrf_secret(&token), "ok").into_response();
        let cookies: Vec<_> = response.headers().get_all(header::SET_COOKIE).iter().collect();
        assert_eq!(cookies.len(), 2);
    }
}
