//! The pages, one module per part of the story. Handlers extract the request, call one use case and
//! render a template; what a refusal looks like is decided here, in one place.

pub mod account;
pub mod api_clients;
pub mod auth;
pub mod enroll;
pub mod security;
pub mod security_keys;
pub mod support;
pub mod two_factor;
pub mod wsapi;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::usecase::{Failure, Origin};

use crate::AppState;
use crate::errors::AppError;
pub use crate::guard::{Member, Operator, SecondStep, Visitor};
use crate::layout::Notice;
use crate::proxies::TrustedProxies;
use crate::session::CookiePolicy;

/// Where a request comes from, for throttles and the audit log: the client's address (the socket's
/// peer, or what trusted proxies say it is, see [`TrustedProxies`]) and the browser's known-browser mark.
pub struct ClientOrigin(pub Origin);

impl<St: Send + Sync> FromRequestParts<St> for ClientOrigin
where
    CookiePolicy: FromRef<St>,
    TrustedProxies: FromRef<St>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<ClientOrigin, Self::Rejection> {
        let proxies = TrustedProxies::from_ref(state);
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| proxies.client_address(address.ip(), &parts.headers).to_string());
        let cookies = CookiePolicy::from_ref(state);
        let browser = cookies.browser_mark(&parts.headers).map(str::to_owned);
        let remembered = cookies.remembered_browser(&parts.headers).map(str::to_owned);
        Ok(ClientOrigin(Origin { ip, browser, remembered }))
    }
}

impl<S, M> FromRef<Arc<AppState<S, M>>> for TrustedProxies {
    fn from_ref(state: &Arc<AppState<S, M>>) -> TrustedProxies {
        state.trusted_proxies.clone()
    }
}

/// Runs `work` on a task of its own, after the answer: for work whose timing would tell known addresses
/// from unknown ones. A throttled attempt is noted; any other failure is logged with its cause.
pub(crate) fn after_answer(
    what: &'static str,
    work: impl std::future::Future<Output = Result<(), Failure>> + Send + 'static,
) {
    tokio::spawn(async move {
        match work.await {
            Ok(()) => {}
            Err(Failure::Throttled(seconds)) => {
                tracing::info!(seconds, "{what}: asked again too soon, nothing sent")
            }
            Err(failure) => {
                let cause = crate::errors::cause_chain(&failure);
                tracing::error!(%cause, "{what} could not be sent");
            }
        }
    });
}

/// How a use case's refusal reaches the person.
impl From<Failure> for AppError {
    fn from(failure: Failure) -> AppError {
        match failure {
            Failure::Refused(message) => AppError::unprocessable(message),
            Failure::Invalid(error) => AppError::unprocessable(sentence(&error.to_string())),
            Failure::NotFound => AppError::NotFound,
            Failure::Forbidden => AppError::Forbidden,
            Failure::StepUpRequired => AppError::unprocessable("Confirm with your second factor first."),
            Failure::Throttled(seconds) => AppError::Throttled { retry_after_secs: seconds },
            Failure::Store(error) => error.into(),
            Failure::Mail(error) => error.into(),
            Failure::Internal(error) => AppError::internal(error),
        }
    }
}

/// A refusal shown on the form it came from (a wrong password, a wrong code), or any other failure as an
/// error page.
pub fn notice_or_error(failure: Failure) -> Result<Notice, AppError> {
    match failure {
        Failure::Refused(message) => Ok(Notice::error(message)),
        Failure::Invalid(error) => Ok(Notice::error(sentence(&error.to_string()))),
        other => Err(other.into()),
    }
}

/// The core's error messages as a person reads them: starting with a capital letter, ending with a stop.
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    let Some(first) = chars.next() else { return String::new() };
    let mut text: String = first.to_uppercase().chain(chars).collect();
    if !text.ends_with(['.', '!', '?']) {
        text.push('.');
    }
    text
}

/// A 303 to `path`: the answer to a successful form.
pub fn see_other(path: &str) -> Response {
    Redirect::to(path).into_response()
}

/// The step-up page, returning to `next` once a second factor is proven.
pub fn step_up(next: &str) -> Response {
    let next: String = url_encode(next);
    see_other(&format!("/step-up?next={next}"))
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Only local paths are followed after a step-up, so the parameter cannot send anyone elsewhere.
pub fn safe_next(next: &str) -> &str {
    let lower = next.to_ascii_lowercase();
    let plain = next.starts_with('/')
        && !next.starts_with("//")
        && next.len() <= 2048
        && !next.chars().any(|c| c == '\\' || c.is_control() || c.is_whitespace())
        // Encoded tab, line feed, carriage return, backslash and `//` are refused too.
        && !["%09", "%0a", "%0d", "%5c", "%2f%2f"].iter().any(|bad| lower.contains(bad));
    if plain { next } else { "/" }
}

pub type SharedState<S, M> = Arc<AppState<S, M>>;

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn messages_read_as_sentences() {
        assert_eq!(super::sentence("a one-time code is 6 to 8 digits"), "A one-time code is 6 to 8 digits.");
        assert_eq!(super::sentence("\"x\" is not an e-mail address"), "\"x\" is not an e-mail address.");
        assert_eq!(super::sentence("Already fine."), "Already fine.");
        assert_eq!(super::sentence(""), "");
    }

    #[test]
    fn next_is_only_a_plain_path_of_our_own() {
        for ok in ["/", "/account/users", "/account/two-factor?tab=totp", "/enroll/abc-DEF_1"] {
            assert_eq!(safe_next(ok), ok);
        }
        for bad in [
            "//evil.example/",
            "/\t/evil.example/",
            "/%09/evil.example/",
            "/\\evil.example",
            "/%5cevil.example",
            "/a\r\nSet-Cookie: x=1",
            "/%0d%0aLocation: //evil",
            "https://evil.example/",
            "evil",
            "/%2F%2Fevil.example",
            "/ /evil",
            "",
        ] {
            assert_eq!(safe_next(bad), "/", "{bad:?}");
        }
        assert_eq!(safe_next(&format!("/{}", "a".repeat(3000))), "/", "absurdly long");
    }
}
