//! The enrollment page reached from the e-mailed link: password (unless logged in as that user), the QR
//! code and the secret, "Verify", then the recovery codes.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::token::Token;
use keyward_core::usecase::{self, EnrollmentPage};
use serde::Deserialize;

use super::{ClientOrigin, SharedState, notice_or_error};
use crate::errors::{AppError, AppResult};
use crate::layout::{Layout, Notice};
use crate::session::{PreLoginCsrf, PreLoginForm, SessionForm, SessionToken, csrf_token};

#[derive(Template, WebTemplate)]
#[template(path = "pages/enroll_password.html")]
struct PasswordStep {
    layout: Layout,
    csrf: String,
    email: String,
    account_name: String,
    token: String,
    /// Ask for a one-time password of the factor the user already has.
    owes_factor: bool,
}

/// The QR code and the secret of a new app, and "Verify" (posting to `action`).
#[derive(Template, WebTemplate)]
#[template(path = "pages/enroll_qr.html")]
pub(crate) struct QrStep {
    pub layout: Layout,
    pub csrf: String,
    pub action: String,
    pub qr_svg: String,
    pub secret: String,
    /// Where a YubiKey touch may be posted instead (an operator's first set-up), if anywhere.
    pub yubikey_action: Option<&'static str>,
    /// A security key may be registered instead (the enrollment link, where the account allows it):
    /// the form posts to `register_action` after webauthn.js fetched `register_options`.
    pub security_key: bool,
    pub register_action: String,
    pub register_options: String,
}

/// New recovery codes, shown once, and where to continue.
#[derive(Template, WebTemplate)]
#[template(path = "pages/recovery_codes.html")]
pub(crate) struct RecoveryCodes {
    pub layout: Layout,
    pub codes: Vec<String>,
    pub next: &'static str,
}

impl RecoveryCodes {
    /// The codes as a text file, for "Download": a `data:` link, so nothing is stored to serve it.
    pub fn download_href(&self) -> String {
        let text = format!("Keyward recovery codes (each works once)\r\n\r\n{}\r\n", self.codes.join("\r\n"));
        let encoded: String = text
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect();
        format!("data:text/plain;charset=utf-8,{encoded}")
    }
}

const TITLE: &str = "Set up two-factor authentication";

/// The page after the password: the app's QR code where the account uses apps, the security key's
/// registration where it uses those.
pub(crate) async fn qr_step<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    page: &EnrollmentPage,
    session_token: &Token,
    link: &str,
    notice: Option<Notice>,
) -> AppResult<QrStep> {
    let (qr_svg, secret) = if page.account.methods.totp {
        let secret = usecase::begin_enrollment(&state.services, page).await?;
        (crate::qr::qr_svg(&secret.uri.to_string()).map_err(AppError::internal)?, secret.grouped)
    } else {
        (String::new(), String::new())
    };
    let mut layout = Layout::public(TITLE);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    Ok(QrStep {
        layout,
        csrf: csrf_token(session_token),
        action: format!("/enroll/{link}/verify"),
        qr_svg,
        secret,
        yubikey_action: None,
        security_key: page.account.methods.webauthn,
        register_action: format!("/enroll/{link}/security-key"),
        register_options: format!("/enroll/{link}/security-key/options"),
    })
}

fn password_step<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    headers: &HeaderMap,
    page: &EnrollmentPage,
    link: String,
    notice: Option<Notice>,
) -> Response {
    let csrf = PreLoginCsrf::for_request(&state.cookies, headers, &*state.services.entropy);
    let mut layout = Layout::public(TITLE);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    let step = PasswordStep {
        layout,
        csrf: csrf.form_token.clone(),
        email: page.user.email.to_string(),
        account_name: page.account.name.as_str().to_owned(),
        token: link,
        owes_factor: page.has_factor,
    };
    (csrf, step).into_response()
}

/// The session behind the cookie, if it may bind a factor for the link's user: theirs, and with their
/// current factor freshly proven when they have one.
pub(crate) async fn session_of_user<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    token: Option<SessionToken>,
    page: &EnrollmentPage,
) -> AppResult<Option<(keyward_core::session::Session, Token)>> {
    let Some(SessionToken(token)) = token else { return Ok(None) };
    let current = usecase::current_session(&state.services, &token).await?;
    Ok(current
        .filter(|current| usecase::may_bind(&state.services, page, &current.session))
        .map(|current| (current.session, token)))
}

pub async fn enroll_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
    token: Option<SessionToken>,
    Path(link): Path<String>,
) -> AppResult<Response> {
    let page = usecase::open_enrollment(&state.services, &Token::from_presented(&link)).await?;
    match session_of_user(&state, token, &page).await? {
        Some((_, session_token)) => {
            Ok(qr_step(&state, &page, &session_token, &link, None).await?.into_response())
        }
        None => Ok(password_step(&state, &headers, &page, link, None)),
    }
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
    #[serde(default)]
    otp: String,
}

pub async fn enroll_password<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
    ClientOrigin(origin): ClientOrigin,
    Path(link): Path<String>,
    PreLoginForm(form): PreLoginForm<PasswordForm>,
) -> AppResult<Response> {
    let page = usecase::open_enrollment(&state.services, &Token::from_presented(&link)).await?;
    match usecase::confirm_enrollment_password(&state.services, &page, &form.password, &form.otp, &origin)
        .await
    {
        Ok(session_token) => {
            let step = qr_step(&state, &page, &session_token, &link, None).await?;
            Ok((state.cookies.start_session(&session_token), step).into_response())
        }
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, password_step(&state, &headers, &page, link, Some(notice)))
                .into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct VerifyForm {
    otp: String,
}

pub async fn enroll_verify<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Path(link): Path<String>,
    SessionForm { token, form }: SessionForm<VerifyForm>,
) -> AppResult<Response> {
    let page = usecase::open_enrollment(&state.services, &Token::from_presented(&link)).await?;
    let (session, session_token) =
        session_of_user(&state, Some(SessionToken(token)), &page).await?.ok_or(AppError::Forbidden)?;
    match usecase::finish_enrollment(&state.services, &page, &session, &form.otp, &origin).await {
        Ok(enrolled) => {
            let codes = RecoveryCodes {
                layout: Layout::public("Your recovery codes"),
                codes: enrolled.recovery_codes,
                next: "/",
            };
            Ok((state.cookies.start_session(&enrolled.token), codes).into_response())
        }
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            let step = qr_step(&state, &page, &session_token, &link, Some(notice)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, step).into_response())
        }
    }
}
