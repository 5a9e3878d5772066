//! The pages, one module per part of the story. Handlers extract the request, call one use case and
//! render a template; what a refusal looks like is decided here, in one place.

pub mod account;
pub mod auth;
pub mod enroll;
pub mod two_factor;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::mail::Mailer;
use keyward_core::session::{Session, Stage};
use keyward_core::store::Store;
use keyward_core::token::Token;
use keyward_core::usecase::{self, Failure, Origin};
use keyward_core::user::User;

use crate::AppState;
use crate::errors::{AppError, AppResult};
use crate::layout::{Layout, Notice, SignedIn};
use crate::session::csrf_token;

/// The client's address, for throttles and the audit log. Only the socket's peer address is used:
/// a forwarded-for header is not trusted unless a proxy is configured to set it (not yet supported).
pub struct ClientOrigin(pub Origin);

impl<St: Send + Sync> FromRequestParts<St> for ClientOrigin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &St) -> Result<ClientOrigin, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(address)| address.ip().to_string());
        Ok(ClientOrigin(Origin { ip }))
    }
}

/// A fully logged-in person, with what their pages need.
pub struct Visitor {
    pub session: Session,
    pub user: User,
    pub token: Token,
}

impl Visitor {
    /// The layout of a page of theirs.
    pub fn layout(&self, title: &str, path: &str) -> Layout {
        Layout::signed_in(
            title,
            SignedIn::account_member(self.user.email.as_str(), csrf_token(&self.token), path),
        )
    }

    pub fn csrf(&self) -> String {
        csrf_token(&self.token)
    }
}

/// Loads the session behind `token`. Sessions still owing their second factor only reach the second step.
pub async fn visitor<S: Store, M: Mailer>(state: &AppState<S, M>, token: Token) -> AppResult<Visitor> {
    let (session, user) =
        usecase::current_session(&state.services, &token).await?.ok_or(AppError::Unauthenticated)?;
    if session.stage != Stage::Complete {
        return Err(AppError::Unauthenticated);
    }
    Ok(Visitor { session, user, token })
}

/// How a use case's refusal reaches the person.
impl From<Failure> for AppError {
    fn from(failure: Failure) -> AppError {
        match failure {
            Failure::Refused(message) => AppError::unprocessable(message),
            Failure::Invalid(error) => AppError::unprocessable(error.to_string()),
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
        Failure::Invalid(error) => Ok(Notice::error(error.to_string())),
        other => Err(other.into()),
    }
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
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') { next } else { "/" }
}

pub type SharedState<S, M> = Arc<AppState<S, M>>;
