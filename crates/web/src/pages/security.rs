//! "My security" for every account member (recovery codes left, new codes after a step-up), and the
//! admin's audit log and "Reset 2FA" for another user.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::ids::UserId;
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::usecase::{self, AuditFilter, Failure, TwoFactorStatus};
use serde::Deserialize;

use super::account::UserRow;
use super::enroll::{QrStep, RecoveryCodes};
use super::support::EventRow;
use super::{ClientOrigin, Member, SharedState, Visitor, notice_or_error, step_up};
use crate::errors::AppResult;
use crate::layout::{AUDIT_LOG_PATH, MY_SECURITY_PATH, Notice, USERS_AND_SECURITY_PATH};
use crate::session::SessionForm;

#[derive(Template, WebTemplate)]
#[template(path = "pages/security.html")]
pub(crate) struct SecurityPage {
    layout: crate::layout::Layout,
    csrf: String,
    email: String,
    status: String,
    codes_left: usize,
    /// The person has a working factor (replacing it needs a step-up).
    has_factor: bool,
    /// The account uses authenticator apps.
    apps: bool,
    /// The account uses YubiKeys.
    yubikeys: bool,
    /// The account uses security keys and passkeys.
    security_key: bool,
    register_action: &'static str,
    register_options: &'static str,
    /// (name, added, last used, the id of a security key to remove) of each factor.
    factors: Vec<(String, String, String, Option<i64>)>,
    /// (when, address, how) of the latest sign-ins.
    sign_ins: Vec<(String, String, &'static str)>,
    /// The account allows "Remember this browser".
    remembering: bool,
}

/// "My security": the person's factors and how many recovery codes are left.
pub async fn my_security<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
) -> AppResult<Response> {
    Ok(render(&state, &visitor, None).await?.into_response())
}

pub(crate) async fn render<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    notice: Option<Notice>,
) -> AppResult<SecurityPage> {
    let mine = usecase::my_security(&state.services, &visitor.user).await?;
    let has_factor = matches!(mine.status, TwoFactorStatus::Enrolled { .. });
    let overview = usecase::UserOverview { user: visitor.user.clone(), status: mine.status.clone() };
    let status = if has_factor { UserRow::from_overview(&overview).status } else { "none yet".into() };
    let mut layout = visitor.layout("My security", MY_SECURITY_PATH);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    Ok(SecurityPage {
        layout,
        csrf: visitor.csrf(),
        email: visitor.user.email.to_string(),
        status,
        codes_left: mine.recovery_codes_left,
        has_factor,
        apps: mine.methods.totp,
        yubikeys: mine.methods.yubikey,
        security_key: mine.methods.webauthn,
        register_action: super::security_keys::MINE_PATH,
        register_options: super::security_keys::MINE_OPTIONS_PATH,
        factors: mine
            .factors
            .iter()
            .map(|factor| {
                let added = factor.added.map_or_else(String::new, |at| at.date());
                let used = factor.last_used.map_or_else(|| "never".to_owned(), |at| at.date_time());
                (factor.name.clone(), added, used, factor.security_key.map(|id| id.0))
            })
            .collect(),
        sign_ins: mine
            .sign_ins
            .iter()
            .map(|sign_in| {
                (sign_in.at.date_time(), sign_in.ip.clone().unwrap_or_default(), how(&sign_in.factor))
            })
            .collect(),
        remembering: mine.remembering,
    })
}

/// The QR code of a person's new app, "Verify" posting to `verify`; `nav` marks the navigation.
pub(crate) fn own_app_qr(
    visitor: &Visitor,
    secret: &usecase::EnrollmentSecret,
    notice: Option<Notice>,
    verify: &str,
    nav: &str,
) -> AppResult<QrStep> {
    let qr_svg = crate::qr::qr_svg(&secret.uri.to_string()).map_err(crate::errors::AppError::internal)?;
    let mut layout = visitor.layout("Set up two-factor authentication", nav);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    Ok(QrStep {
        layout,
        csrf: visitor.csrf(),
        action: verify.into(),
        qr_svg,
        secret: secret.grouped.clone(),
        yubikey_action: None,
        security_key: false,
        register_action: String::new(),
        register_options: String::new(),
    })
}

const MY_APP_VERIFY: &str = "/account/security/app/verify";

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

/// "Set up an authenticator app" on My security (a replacement needs a step-up first): the QR code.
pub async fn my_app<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<PasswordForm>,
) -> AppResult<Response> {
    match usecase::begin_own_app(&state.services, &visitor.user, &visitor.session, &form.password).await {
        Ok(secret) => {
            Ok(own_app_qr(&visitor, &secret, None, MY_APP_VERIFY, MY_SECURITY_PATH)?.into_response())
        }
        Err(Failure::StepUpRequired) => Ok(step_up(MY_SECURITY_PATH)),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&state, &visitor, Some(notice)).await?)
                .into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct CodeForm {
    otp: String,
}

/// "Verify": the new app is set up (replacing any other), then the new recovery codes.
pub async fn my_app_verify<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<CodeForm>,
) -> AppResult<Response> {
    match usecase::finish_own_app(&state.services, &visitor.user, &visitor.session, &form.otp, &origin).await
    {
        Ok(enrolled) => {
            let codes = RecoveryCodes {
                layout: visitor.layout("Your recovery codes", MY_SECURITY_PATH),
                codes: enrolled.recovery_codes,
                next: MY_SECURITY_PATH,
            };
            Ok((state.cookies.start_session(&enrolled.token), codes).into_response())
        }
        Err(Failure::StepUpRequired) => Ok(step_up(MY_SECURITY_PATH)),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            let page = match usecase::pending_own_app(&state.services, &visitor.user, &visitor.session)
                .await?
            {
                Some(secret) => own_app_qr(&visitor, &secret, Some(notice), MY_APP_VERIFY, MY_SECURITY_PATH)?
                    .into_response(),
                None => render(&state, &visitor, Some(notice)).await?.into_response(),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct YubikeyForm {
    otp: String,
}

/// "Register" on My security: the person's own YubiKey, by a touch.
pub async fn my_yubikey<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<YubikeyForm>,
) -> AppResult<Response> {
    let registered =
        usecase::register_own_yubikey(&state.services, &visitor.user, &visitor.session, &form.otp, &origin)
            .await;
    match registered {
        Ok((key, token)) => {
            let visitor = Visitor { token: token.clone(), ..visitor };
            let notice = Notice::success(format!("The YubiKey {} is registered.", key.public_id.as_str()));
            Ok((state.cookies.start_session(&token), render(&state, &visitor, Some(notice)).await?)
                .into_response())
        }
        Err(Failure::StepUpRequired) => Ok(step_up(MY_SECURITY_PATH)),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&state, &visitor, Some(notice)).await?)
                .into_response())
        }
    }
}

/// How a sign-in was completed, in words.
fn how(factor: &str) -> &'static str {
    match factor {
        "password" => "password only",
        "totp" => "password and app",
        "yubikey" => "password and YubiKey",
        "recovery_code" => "password and recovery code",
        "security_key" => "password and security key",
        "remembered_browser" => "password, remembered browser",
        _ => "password and second factor",
    }
}

/// "Forget all browsers": the next login in each asks for the second factor again.
pub async fn forget_browsers<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    _: SessionForm<Nothing>,
) -> AppResult<Response> {
    let forgotten = usecase::forget_browsers(&state.services, &visitor.user, &origin).await?;
    let notice = Notice::success(match forgotten {
        0 => "No browser was remembered.".to_owned(),
        1 => "1 browser was forgotten: it asks for your second factor at its next login.".to_owned(),
        n => format!("{n} browsers were forgotten: each asks for your second factor at its next login."),
    });
    Ok((state.cookies.forget_browser(), render(&state, &visitor, Some(notice)).await?).into_response())
}

#[derive(Deserialize)]
pub struct Nothing {}

/// "Generate new codes": after a step-up, ten new codes replace the old, shown once.
pub async fn new_recovery_codes<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    _: SessionForm<Nothing>,
) -> AppResult<Response> {
    match usecase::regenerate_recovery_codes(&state.services, &visitor.user, &visitor.session, &origin).await
    {
        Ok(codes) => Ok(RecoveryCodes {
            layout: visitor.layout("Your recovery codes", MY_SECURITY_PATH),
            codes,
            next: MY_SECURITY_PATH,
        }
        .into_response()),
        Err(Failure::StepUpRequired) => Ok(step_up(MY_SECURITY_PATH)),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, render(&state, &visitor, Some(notice)).await?)
                .into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/audit.html")]
struct AuditPage {
    layout: crate::layout::Layout,
    /// The user filter as typed: an address (or an id).
    user: String,
    action: String,
    from: String,
    to: String,
    events: Vec<EventRow>,
    /// The link to the next (older) page.
    next: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct AuditParams {
    #[serde(default)]
    user: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

/// The account's audit log, for its admins: filtered by user, action and dates, a page at a time.
pub async fn audit_log<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
    Query(params): Query<AuditParams>,
) -> AppResult<Response> {
    let filter = AuditFilter {
        user: params.user.clone(),
        action: params.action.clone(),
        from: params.from.clone(),
        to: params.to.clone(),
        before: params.before.trim().parse().ok(),
    };
    let (status, page, notice) =
        match usecase::account_audit_log(&state.services, &visitor.user, &filter).await {
            Ok(page) => (StatusCode::OK, page, None),
            Err(failure) => {
                let notice = notice_or_error(failure)?;
                (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    usecase::AuditPage { events: Vec::new(), next: None },
                    Some(notice),
                )
            }
        };
    let next = page.next.map(|before| {
        let query = serde_urlencoded::to_string([
            ("user", params.user.as_str()),
            ("action", params.action.as_str()),
            ("from", params.from.as_str()),
            ("to", params.to.as_str()),
            ("before", before.to_string().as_str()),
        ])
        .unwrap_or_default();
        format!("{AUDIT_LOG_PATH}?{query}")
    });
    let mut layout = visitor.layout("Audit log", AUDIT_LOG_PATH);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    let page = AuditPage {
        layout,
        user: params.user,
        action: params.action,
        from: params.from,
        to: params.to,
        events: page.events.iter().map(EventRow::of).collect(),
        next,
    };
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
pub struct ResetForm {
    user_id: String,
}

/// "Reset 2FA" for another user of the account, after the admin's own step-up.
pub async fn reset_factors<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<ResetForm>,
) -> AppResult<Response> {
    let user_id = UserId(form.user_id.trim().parse().map_err(|_| crate::errors::AppError::NotFound)?);
    let notice =
        match usecase::reset_user_factors(&state.services, &visitor.user, &visitor.session, user_id, &origin)
            .await
        {
            Ok(user) => Notice::success(format!(
                "The second factors of {} were removed; they were logged out and e-mailed.",
                user.email
            )),
            Err(Failure::StepUpRequired) => return Ok(step_up(USERS_AND_SECURITY_PATH)),
            Err(failure) => notice_or_error(failure)?,
        };
    super::account::users_page_with(&state, &visitor, notice).await
}
