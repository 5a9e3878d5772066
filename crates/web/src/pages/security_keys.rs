//! Security keys and passkeys in the browser: the options webauthn.js asks for (JSON), and the forms it
//! posts with the browser's answer — registration from the enrollment link and on My security, removal
//! on My security. Proving a key at the second step and at step-up posts the same forms as a code
//! (`auth::prove`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::ids::FactorId;
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::token::Token;
use keyward_core::usecase::{self, CeremonyStarted, Failure, RegistrationAnswer};
use serde::Deserialize;

use super::enroll::{RecoveryCodes, qr_step, session_of_user};
use super::security::Nothing;
use super::{ClientOrigin, Member, SharedState, Visitor, notice_or_error, step_up};
use crate::errors::{AppError, AppResult};
use crate::layout::{Layout, MY_SECURITY_PATH, Notice};
use crate::session::{SessionForm, SessionToken};

/// Where webauthn.js asks for the options of "Use your security key" (second step and step-up).
pub const LOGIN_OPTIONS_PATH: &str = "/login/security-key/options";
/// "Register security key" on My security, and its options.
pub const MINE_PATH: &str = "/account/security/security-key";
pub const MINE_OPTIONS_PATH: &str = "/account/security/security-key/options";
pub const MINE_REMOVE_PATH: &str = "/account/security/security-key/remove";

/// What webauthn.js posts after `navigator.credentials.create()`.
#[derive(Deserialize)]
pub struct KeyForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    handle: String,
    #[serde(default)]
    credential: String,
}

impl KeyForm {
    fn answer(&self) -> RegistrationAnswer<'_> {
        RegistrationAnswer { handle: &self.handle, response: &self.credential, name: &self.name }
    }
}

/// A ceremony's options for webauthn.js: `{"handle", "options"}`; a refusal as `{"error"}` (422) it shows
/// beside the button, or `{"redirect"}` to the step-up page first.
fn options_answer(started: Result<CeremonyStarted, Failure>) -> AppResult<Response> {
    match started {
        Ok(started) => {
            let options: serde_json::Value =
                serde_json::from_str(&started.options).map_err(AppError::internal)?;
            Ok(Json(serde_json::json!({ "handle": started.handle, "options": options })).into_response())
        }
        Err(Failure::StepUpRequired) => {
            let redirect = format!("/step-up?next={MY_SECURITY_PATH}");
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({ "redirect": redirect })))
                .into_response())
        }
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(serde_json::json!({ "error": notice.text })))
                .into_response())
        }
    }
}

/// Options for "Use your security key": the session's person, at the second step or logged in.
pub async fn login_options<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    SessionForm { token, .. }: SessionForm<Nothing>,
) -> AppResult<Response> {
    let current =
        usecase::current_session(&state.services, &token).await?.ok_or(AppError::Unauthenticated)?;
    options_answer(usecase::begin_security_key_check(&state.services, &current.user).await)
}

/// Options to register a key from the enrollment link, in the session its password step started.
pub async fn enroll_options<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Path(link): Path<String>,
    SessionForm { token, .. }: SessionForm<Nothing>,
) -> AppResult<Response> {
    let page = usecase::open_enrollment(&state.services, &Token::from_presented(&link)).await?;
    let (session, _) =
        session_of_user(&state, Some(SessionToken(token)), &page).await?.ok_or(AppError::Forbidden)?;
    options_answer(usecase::begin_security_key_enrollment(&state.services, &page, &session).await)
}

/// "Register security key" from the enrollment link: the key is the person's factor, the link is used
/// up, and the recovery codes follow, once.
pub async fn enroll<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Path(link): Path<String>,
    SessionForm { token, form }: SessionForm<KeyForm>,
) -> AppResult<Response> {
    let page = usecase::open_enrollment(&state.services, &Token::from_presented(&link)).await?;
    let (session, session_token) =
        session_of_user(&state, Some(SessionToken(token)), &page).await?.ok_or(AppError::Forbidden)?;
    match usecase::finish_security_key_enrollment(&state.services, &page, &session, &form.answer(), &origin)
        .await
    {
        Ok(registered) => {
            let codes = RecoveryCodes {
                layout: Layout::public("Your recovery codes"),
                codes: registered.recovery_codes.unwrap_or_default(),
                next: "/",
            };
            Ok((state.cookies.start_session(&registered.token), codes).into_response())
        }
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            let step = qr_step(&state, &page, &session_token, &link, Some(notice)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, step).into_response())
        }
    }
}

/// Options to register a key on My security (a step-up first while the person has a factor).
pub async fn mine_options<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
    _: SessionForm<Nothing>,
) -> AppResult<Response> {
    options_answer(usecase::begin_own_security_key(&state.services, &visitor.user, &visitor.session).await)
}

/// "Register security key" on My security.
pub async fn register_mine<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<KeyForm>,
) -> AppResult<Response> {
    let registered = usecase::finish_own_security_key(
        &state.services,
        &visitor.user,
        &visitor.session,
        &form.answer(),
        &origin,
    )
    .await;
    match registered {
        Ok(registered) => {
            let cookie = state.cookies.start_session(&registered.token);
            let visitor = Visitor { token: registered.token.clone(), ..visitor };
            if let Some(codes) = registered.recovery_codes {
                let layout = visitor.layout("Your recovery codes", MY_SECURITY_PATH);
                return Ok((cookie, RecoveryCodes { layout, codes, next: MY_SECURITY_PATH }).into_response());
            }
            let notice = Notice::success(format!(
                "The security key \u{201c}{}\u{201d} is registered.",
                registered.key.name.as_str()
            ));
            Ok((cookie, super::security::render(&state, &visitor, Some(notice)).await?).into_response())
        }
        Err(failure) => mine_refused(&state, &visitor, failure).await,
    }
}

#[derive(Deserialize)]
pub struct RemoveForm {
    key: i64,
}

/// "Remove" beside one of the person's security keys, after a step-up.
pub async fn remove_mine<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<RemoveForm>,
) -> AppResult<Response> {
    let removed = usecase::remove_own_security_key(
        &state.services,
        &visitor.user,
        &visitor.session,
        FactorId(form.key),
        &origin,
    )
    .await;
    match removed {
        Ok(()) => {
            let notice = Notice::success("The security key is removed.");
            Ok(super::security::render(&state, &visitor, Some(notice)).await?.into_response())
        }
        Err(failure) => mine_refused(&state, &visitor, failure).await,
    }
}

async fn mine_refused<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    failure: Failure,
) -> AppResult<Response> {
    if let Failure::StepUpRequired = failure {
        return Ok(step_up(MY_SECURITY_PATH));
    }
    let notice = notice_or_error(failure)?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, super::security::render(state, visitor, Some(notice)).await?)
        .into_response())
}
