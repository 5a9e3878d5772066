//! Where errors become HTTP: one type for every page handler, separating the person's mistake (shown, in
//! words they can act on) from the unexpected (logged with its cause chain, never shown).

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::mail::MailError;
use keyward_core::store::StoreError;

use crate::layout::Layout;

/// Where an unauthenticated request is sent.
pub const LOGIN_PATH: &str = "/login";
/// The login's second step, for sessions that owe their second factor.
const SECOND_STEP_PATH: &str = "/login/otp";

/// Why a page request did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The person's mistake, with a message to show them (400, 409, 422, or 403 for an expired form).
    #[error("{message}")]
    User { status: StatusCode, message: String },
    /// Nothing here, or nothing this person may know exists (404).
    #[error("not found")]
    NotFound,
    /// Signed in, but not allowed to do this (403).
    #[error("forbidden")]
    Forbidden,
    /// Too many attempts: try again after this many seconds (429 with `Retry-After`).
    #[error("throttled for {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    /// Not signed in, or the session ended: off to the login page (303).
    #[error("not signed in")]
    Unauthenticated,
    /// The password was given, the second factor is still owed: off to the login's second step (303).
    #[error("second factor owed")]
    SecondFactorOwed,
    /// Anything unexpected (500). The cause is logged, never sent.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The request took longer than the server allows (503); its work was dropped.
    #[error("the request took longer than {0:?}")]
    TimedOut(std::time::Duration),
}

/// Shorthand for handler results.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A malformed request (400), with a message for the person.
    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::User { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// A well-formed request whose content is not acceptable (422): a too-short password, a wrong OTP.
    pub fn unprocessable(message: impl Into<String>) -> AppError {
        AppError::User { status: StatusCode::UNPROCESSABLE_ENTITY, message: message.into() }
    }

    /// Something that clashes with what exists (409): an e-mail address already in use.
    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::User { status: StatusCode::CONFLICT, message: message.into() }
    }

    /// The form's CSRF token is missing or wrong (403). Usually an old tab or an expired session,
    /// rarely an attack; either way reloading the form is the fix.
    pub fn form_expired() -> AppError {
        AppError::User {
            status: StatusCode::FORBIDDEN,
            message: "This form has expired. Go back, reload the page and try again.".into(),
        }
    }

    /// An unexpected failure (500).
    pub fn internal(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> AppError {
        AppError::Internal(error.into())
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::User { status, .. } => *status,
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::Forbidden => StatusCode::FORBIDDEN,
            AppError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unauthenticated | AppError::SecondFactorOwed => StatusCode::SEE_OTHER,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::TimedOut(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The heading and message of the error page.
    fn page_text(&self) -> (&'static str, String) {
        match self {
            AppError::User { message, .. } => ("That did not work", message.clone()),
            AppError::NotFound => ("Page not found", "There is nothing at this address.".into()),
            AppError::Forbidden => ("Not allowed", "You do not have permission to do this.".into()),
            AppError::Throttled { retry_after_secs } => (
                "Too many attempts",
                format!("Too many attempts. Try again in {}.", human_wait(*retry_after_secs)),
            ),
            // Redirected before a page is rendered; kept for completeness.
            AppError::Unauthenticated | AppError::SecondFactorOwed => {
                ("Please log in", "Please log in to continue.".into())
            }
            AppError::Internal(_) => (
                "Something went wrong",
                "Something went wrong on our side. Please try again in a moment.".into(),
            ),
            AppError::TimedOut(_) => {
                ("This took too long", "We could not answer in time. Please try again in a moment.".into())
            }
        }
    }
}

/// "45 seconds", "1 minute", "15 minutes": rounded up, so the person never retries too early.
fn human_wait(seconds: u64) -> String {
    match seconds {
        0 | 1 => "1 second".into(),
        2..=119 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

pub use keyward_core::error::cause_chain;

/// `templates/error.html`.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub heading: String,
    pub message: String,
    pub back_href: String,
    pub back_label: String,
    /// For failures on our side: the request id to quote to support, as it appears in the log.
    pub reference: Option<String>,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut reference = None;
        match &self {
            AppError::Unauthenticated => return Redirect::to(LOGIN_PATH).into_response(),
            AppError::SecondFactorOwed => return Redirect::to(SECOND_STEP_PATH).into_response(),
            AppError::Internal(_) | AppError::TimedOut(_) => {
                // Logged once, here, inside the request's span (which carries the same id).
                let id = crate::request_id::current();
                tracing::error!(error = %cause_chain(&self), reference = id.as_deref(), "request failed");
                reference = id.map(|id| id.to_string());
            }
            _ => {}
        }
        let status = self.status();
        let (heading, message) = self.page_text();
        let page = ErrorPage {
            layout: Layout::public(heading),
            heading: heading.into(),
            message,
            back_href: "/".into(),
            back_label: "Back to the start page".into(),
            reference,
        };
        let mut response = match page.render() {
            Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
            Err(error) => {
                tracing::error!(error = %cause_chain(&error), "the error page did not render");
                (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], page.message).into_response()
            }
        };
        if let AppError::Throttled { retry_after_secs } = self {
            // RFC 9110 §10.2.3: delay-seconds. At least 1, so a client never retries immediately.
            let value = HeaderValue::from(retry_after_secs.max(1));
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// A handler panicked (a bug): `CatchPanicLayer` hands us its payload, and the person gets the 500 page.
#[derive(Debug, thiserror::Error)]
#[error("a handler panicked: {0}")]
struct Panicked(String);

/// The answer to a caught panic, logged like any internal failure.
pub fn panic_response(payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = payload
        .downcast_ref::<&str>()
        .map(|text| (*text).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into());
    AppError::internal(Panicked(message)).into_response()
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> AppError {
        match error {
            StoreError::Duplicate(what) => {
                AppError::conflict(format!("{} is already taken.", capitalized(what)))
            }
            StoreError::Missing(_) => AppError::NotFound,
            other => AppError::internal(other),
        }
    }
}

impl From<MailError> for AppError {
    fn from(error: MailError) -> AppError {
        AppError::internal(error)
    }
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn render(error: AppError) -> (StatusCode, axum::http::HeaderMap, String) {
        let response = error.into_response();
        let (status, headers) = (response.status(), response.headers().clone());
        let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[derive(Debug, thiserror::Error)]
    #[error("connection refused by db.internal:5432 (password=hunter2)")]
    struct Secretive;

    #[tokio::test]
    async fn internal_errors_show_nothing_of_their_cause() {
        let store_error = StoreError::Backend(Box::new(Secretive));
        let (status, headers, body) = render(store_error.into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        assert!(body.contains("Something went wrong"), "{body}");
        for detail in ["db.internal", "hunter2", "database", "refused"] {
            assert!(!body.contains(detail), "{detail} leaked: {body}");
        }
        let (status, _, body) = render(MailError(Box::new(Secretive)).into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.contains("hunter2") && !body.contains("e-mail"), "{body}");
    }

    #[test]
    fn the_cause_chain_reaches_the_root() {
        let error = AppError::from(StoreError::Backend(Box::new(Secretive)));
        assert_eq!(
            cause_chain(&error),
            "internal error: the database failed: connection refused by db.internal:5432 (password=hunter2)"
        );
    }

    #[tokio::test]
    async fn user_mistakes_are_shown_escaped_with_their_status() {
        let (status, _, body) = render(AppError::unprocessable("The code <b>123</b> is wrong.")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("The code &#60;b&#62;123&#60;/b&#62; is wrong."), "{body}");
        assert!(body.contains("<html lang=\"en\">"), "rendered in the layout");
        assert_eq!(render(AppError::bad_request("x")).await.0, StatusCode::BAD_REQUEST);
        assert_eq!(render(AppError::form_expired()).await.0, StatusCode::FORBIDDEN);
    }

    #[tokio::test]
    async fn store_duplicates_are_conflicts_and_missing_rows_are_not_found() {
        let (status, _, body) = render(StoreError::Duplicate("that YubiKey").into()).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(body.contains("That YubiKey is already taken."), "{body}");
        assert_eq!(render(StoreError::Missing("the user").into()).await.0, StatusCode::NOT_FOUND);
        let corrupt = StoreError::Corrupt(keyward_core::Error::CorruptRecord("x".into()));
        assert_eq!(render(corrupt.into()).await.0, StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[tokio::test]
    async fn throttling_says_when_to_retry() {
        let (status, headers, body) = render(AppError::Throttled { retry_after_secs: 840 }).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "840");
        assert!(body.contains("Try again in 14 minutes."), "{body}");
        let (_, headers, body) = render(AppError::Throttled { retry_after_secs: 0 }).await;
        assert_eq!(headers[header::RETRY_AFTER], "1", "never an immediate retry");
        assert!(body.contains("Try again in 1 second."), "{body}");
        assert_eq!(human_wait(61), "61 seconds");
        assert_eq!(human_wait(121), "3 minutes");
    }

    #[tokio::test]
    async fn unauthenticated_goes_to_the_login_page_and_the_rest_have_their_codes() {
        let (status, headers, _) = render(AppError::Unauthenticated).await;
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], "/login");
        assert_eq!(render(AppError::NotFound).await.0, StatusCode::NOT_FOUND);
        let (status, _, body) = render(AppError::Forbidden).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("You do not have permission to do this."));
    }
}
