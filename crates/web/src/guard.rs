//! Who may reach a page, decided before its handler runs: one extractor per role. A handler names the role
//! it serves in its signature ([`Member`] for an account's pages, [`Operator`] for the support console,
//! [`SecondStep`] for the login's second step), and every other visitor is turned away by the extractor:
//! no handler has to remember a check.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use keyward_core::mail::Mailer;
use keyward_core::session::{Session, Stage};
use keyward_core::store::Store;
use keyward_core::token::Token;
use keyward_core::usecase::{self, CurrentSession};
use keyward_core::user::{Role, User};

use crate::errors::AppError;
use crate::layout::{Layout, SignedIn};
use crate::pages::SharedState;
use crate::session::csrf_token;

/// Where operators log in; the console's pages send visitors without a session there.
pub const SUPPORT_LOGIN_PATH: &str = "/support/login";

/// A fully logged-in person, with what their pages need.
pub struct Visitor {
    pub session: Session,
    pub user: User,
    pub token: Token,
    /// In the account's grace period without a factor: the days left to enroll (the layout's banner).
    pub grace_days_left: Option<u64>,
}

impl Visitor {
    /// The layout of a page of theirs.
    pub fn layout(&self, title: &str, path: &str) -> Layout {
        let csrf = self.csrf();
        let signed_in = match self.user.role {
            Role::Operator => SignedIn::operator(self.user.email.as_str(), csrf, path),
            Role::Admin | Role::User => {
                SignedIn::account_member(self.user.email.as_str(), csrf, path, self.user.role == Role::Admin)
            }
        };
        let mut layout = Layout::signed_in(title, signed_in);
        layout.grace_days_left = self.grace_days_left;
        layout
    }

    pub fn csrf(&self) -> String {
        csrf_token(&self.token)
    }
}

/// The session behind the request's cookie, if there is one and it has not ended.
async fn session_of<S: Store, M: Mailer>(
    parts: &Parts,
    state: &SharedState<S, M>,
) -> Result<Option<(CurrentSession, Token)>, AppError> {
    let Some(token) = state.cookies.session_token(&parts.headers) else { return Ok(None) };
    let found = usecase::current_session(&state.services, &token).await?;
    Ok(found.map(|current| (current, token)))
}

impl Visitor {
    fn of(current: CurrentSession, token: Token) -> Visitor {
        let CurrentSession { session, user, grace_days_left } = current;
        Visitor { session, user, token, grace_days_left }
    }
}

/// A user or an admin of a customer account, fully logged in. Operators are refused (403): they reach no
/// account's pages. A session still owing its second factor goes to the second step; without a session,
/// off to the login page.
pub struct Member(pub Visitor);

impl<S: Store + 'static, M: Mailer + 'static> FromRequestParts<SharedState<S, M>> for Member {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState<S, M>) -> Result<Member, AppError> {
        match session_of(parts, state).await? {
            Some((current, token)) if current.session.stage == Stage::Complete => match current.user.role {
                Role::Admin | Role::User => Ok(Member(Visitor::of(current, token))),
                Role::Operator => Err(AppError::Forbidden),
            },
            Some((current, _)) if current.user.role != Role::Operator => Err(AppError::SecondFactorOwed),
            _ => Err(AppError::Unauthenticated),
        }
    }
}

/// An operator in the support console, fully logged in (operators always prove a second factor, so a
/// complete session means one was proven). Account users and admins are refused (403); without a complete
/// session, off to the support login.
pub struct Operator(pub Visitor);

impl<S: Store + 'static, M: Mailer + 'static> FromRequestParts<SharedState<S, M>> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState<S, M>) -> Result<Operator, Response> {
        match session_of(parts, state).await.map_err(IntoResponse::into_response)? {
            Some((current, token)) if current.session.stage == Stage::Complete => match current.user.role {
                Role::Operator => Ok(Operator(Visitor::of(current, token))),
                Role::Admin | Role::User => Err(AppError::Forbidden.into_response()),
            },
            _ => Err(Redirect::to(SUPPORT_LOGIN_PATH).into_response()),
        }
    }
}

/// A session whose password was right and whose second factor is still owed: the login's second step,
/// "Lost your device?" and an operator's first set-up. Anyone else goes to the login page.
pub struct SecondStep {
    pub session: Session,
    pub user: User,
    pub token: Token,
}

impl<S: Store + 'static, M: Mailer + 'static> FromRequestParts<SharedState<S, M>> for SecondStep {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &SharedState<S, M>,
    ) -> Result<SecondStep, AppError> {
        match session_of(parts, state).await? {
            Some((CurrentSession { session, user, .. }, token)) if session.stage == Stage::PasswordOnly => {
                Ok(SecondStep { session, user, token })
            }
            _ => Err(AppError::Unauthenticated),
        }
    }
}
