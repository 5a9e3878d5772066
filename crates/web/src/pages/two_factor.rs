//! "Configure two-factor authentication": the "Settings" tab (methods, policy, activation), the "TOTP" tab
//! (enrollment e-mails) and the "YubiKey" tab (registering keys).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::account::{Account, Methods};
use keyward_core::ids::UserId;
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::usecase::{self, Failure, Recipients};
use serde::Deserialize;

use super::account::UserRow;
use super::enroll::RecoveryCodes;
use super::security::own_app_qr;
use super::{ClientOrigin, Member, SharedState, Visitor, notice_or_error, see_other, step_up};
use crate::errors::{AppError, AppResult};
use crate::layout::{Layout, Notice};
use crate::session::SessionForm;

const SETTINGS: &str = "/account/two-factor";
const TOTP: &str = "/account/two-factor/totp";
const YUBIKEY: &str = "/account/two-factor/yubikey";
/// The "Security keys" tab.
pub const SECURITY_KEYS: &str = "/account/two-factor/security-keys";
const ACTIVATE: &str = "/account/two-factor/activate";
const DEACTIVATE: &str = "/account/two-factor/deactivate";

#[derive(Template, WebTemplate)]
#[template(path = "pages/settings.html")]
struct SettingsPage {
    layout: Layout,
    csrf: String,
    tab: &'static str,
    methods: Methods,
    policy: String,
    active: bool,
    configured: bool,
    /// While active with a grace deadline: its last day.
    enroll_by: Option<String>,
    /// "Remember this browser" for this many days (0: off).
    remember_days: u8,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/totp.html")]
struct TotpPage {
    layout: Layout,
    csrf: String,
    /// "totp" or "security-keys": the two tabs that send enrollment e-mails.
    tab: &'static str,
    /// Where "Send enrollment e-mail" posts (the tab itself).
    action: &'static str,
    methods: Methods,
    rows: Vec<UserRow>,
    /// The link to the next page of users, when there is one.
    next: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/yubikey.html")]
struct YubikeyPage {
    layout: Layout,
    csrf: String,
    tab: &'static str,
    methods: Methods,
    rows: Vec<UserRow>,
    next: Option<String>,
}

/// A tab's page of users: those whose address comes after `after`.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    #[serde(default)]
    after: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/confirm.html")]
struct ConfirmPage {
    layout: Layout,
    csrf: String,
    heading: &'static str,
    paragraphs: Vec<String>,
    users: Vec<String>,
    action: &'static str,
    /// "Users must enroll by" (activation only).
    enroll_by_field: bool,
}

async fn account<S: Store, M: Mailer>(state: &SharedState<S, M>, visitor: &Visitor) -> AppResult<Account> {
    if visitor.user.role != keyward_core::user::Role::Admin {
        return Err(AppError::Forbidden);
    }
    state.services.store.find_account(visitor.user.account_id).await?.ok_or(AppError::NotFound)
}

fn with_notice(layout: Layout, notice: Option<Notice>) -> Layout {
    match notice {
        Some(notice) => layout.with_notice(notice),
        None => layout,
    }
}

async fn settings_page<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    notice: Option<Notice>,
    typed: Option<(Methods, String)>,
) -> AppResult<SettingsPage> {
    let account = account(state, visitor).await?;
    let saved_policy = account.disable_policy.as_ref().map(|p| p.as_str().to_owned()).unwrap_or_default();
    // A refused form is shown as it was typed, methods and policy alike.
    let (methods, policy) = typed.unwrap_or((account.methods, saved_policy));
    Ok(SettingsPage {
        layout: with_notice(visitor.layout("Configure two-factor authentication", SETTINGS), notice),
        csrf: visitor.csrf(),
        tab: "settings",
        methods,
        policy,
        active: account.activation.is_some(),
        configured: account.disable_policy.is_some(),
        enroll_by: account.enroll_by.map(usecase::last_day),
        remember_days: account.remember_days,
    })
}

pub async fn settings<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
) -> AppResult<Response> {
    Ok(settings_page(&state, &visitor, None, None).await?.into_response())
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    totp: Option<String>,
    #[serde(default)]
    yubikey: Option<String>,
    #[serde(default)]
    webauthn: Option<String>,
    policy: String,
}

pub async fn save_settings<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<SettingsForm>,
) -> AppResult<Response> {
    let methods = Methods {
        totp: form.totp.is_some(),
        yubikey: form.yubikey.is_some(),
        webauthn: form.webauthn.is_some(),
    };
    let saved = usecase::configure_two_factor(
        &state.services,
        &visitor.user,
        &visitor.session,
        methods,
        &form.policy,
        &origin,
    )
    .await;
    match saved {
        Ok(_) => Ok(settings_page(&state, &visitor, Some(Notice::success("Changes saved.")), None)
            .await?
            .into_response()),
        Err(Failure::StepUpRequired) => Ok(step_up(SETTINGS)),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            let page = settings_page(&state, &visitor, Some(notice), Some((methods, form.policy))).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

/// A page of the account's users for the tab at `path`, as Users & Security pages them, and the link to the
/// next page.
async fn rows<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    path: &str,
    after: &str,
) -> AppResult<(Vec<UserRow>, Option<String>)> {
    let (rows, next) = usecase::users_page(&state.services, &visitor.user, after, false).await?;
    let next = next.map(|after| {
        format!("{path}?{}", serde_urlencoded::to_string([("after", after.as_str())]).unwrap_or_default())
    });
    Ok((rows.iter().map(UserRow::from_overview).collect(), next))
}

/// The "TOTP" tab, or with `security_keys` the "Security keys" tab: enrollment e-mails either way.
async fn totp_page<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    notice: Option<Notice>,
    security_keys: bool,
    after: &str,
) -> AppResult<Response> {
    let account = account(state, visitor).await?;
    let (shown, title, tab, action) = if security_keys {
        (account.methods.webauthn, "Security keys", "security-keys", SECURITY_KEYS)
    } else {
        (account.methods.totp, "TOTP", "totp", TOTP)
    };
    if !shown {
        return Ok(see_other(SETTINGS));
    }
    let (rows, next) = rows(state, visitor, action, after).await?;
    Ok(TotpPage {
        layout: with_notice(visitor.layout(title, action), notice),
        csrf: visitor.csrf(),
        tab,
        action,
        methods: account.methods,
        rows,
        next,
    }
    .into_response())
}

pub async fn totp<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
    Query(query): Query<PageQuery>,
) -> AppResult<Response> {
    totp_page(&state, &visitor, None, false, &query.after).await
}

/// The "Security keys" tab: who registered which keys, and enrollment e-mails.
pub async fn security_keys<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
    Query(query): Query<PageQuery>,
) -> AppResult<Response> {
    totp_page(&state, &visitor, None, true, &query.after).await
}

/// "Send enrollment e-mail" on the "Security keys" tab.
pub async fn send_enrollment_for_keys<S: Store, M: Mailer>(
    state: State<SharedState<S, M>>,
    origin: ClientOrigin,
    member: Member,
    form: SessionForm<SendForm>,
) -> AppResult<Response> {
    send_enrollment_from(state, origin, member, form, true).await
}

#[derive(Deserialize)]
pub struct SendForm {
    user: String,
}

pub async fn send_enrollment<S: Store, M: Mailer>(
    state: State<SharedState<S, M>>,
    origin: ClientOrigin,
    member: Member,
    form: SessionForm<SendForm>,
) -> AppResult<Response> {
    send_enrollment_from(state, origin, member, form, false).await
}

async fn send_enrollment_from<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<SendForm>,
    security_keys: bool,
) -> AppResult<Response> {
    let recipients = match form.user.as_str() {
        "all" => Recipients::NotEnrolled,
        id => Recipients::One(UserId(id.parse().map_err(|_| AppError::bad_request("Choose a user."))?)),
    };
    let notice = match usecase::send_enrollment(&state.services, &visitor.user, recipients, &origin).await {
        Ok(0) => Notice::info("Everyone is enrolled already: no e-mail was sent."),
        Ok(1) => Notice::success("The enrollment e-mail was sent."),
        Ok(count) => Notice::success(format!("{count} enrollment e-mails were sent.")),
        Err(failure) => notice_or_error(failure)?,
    };
    totp_page(&state, &visitor, Some(notice), security_keys, "").await
}

async fn yubikey_page<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    notice: Option<Notice>,
    status: StatusCode,
    after: &str,
) -> AppResult<Response> {
    let account = account(state, visitor).await?;
    if !account.methods.yubikey {
        return Ok(see_other(SETTINGS));
    }
    let (rows, next) = rows(state, visitor, YUBIKEY, after).await?;
    let page = YubikeyPage {
        layout: with_notice(visitor.layout("YubiKey", YUBIKEY), notice),
        csrf: visitor.csrf(),
        tab: "yubikey",
        methods: account.methods,
        rows,
        next,
    };
    Ok((status, page).into_response())
}

pub async fn yubikey<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
    Query(query): Query<PageQuery>,
) -> AppResult<Response> {
    yubikey_page(&state, &visitor, None, StatusCode::OK, &query.after).await
}

#[derive(Deserialize)]
pub struct RegisterForm {
    user: i64,
    otp: String,
}

pub async fn register_yubikey<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<RegisterForm>,
) -> AppResult<Response> {
    let registered = usecase::register_yubikey(
        &state.services,
        &visitor.user,
        &visitor.session,
        UserId(form.user),
        &form.otp,
        &origin,
    )
    .await;
    let (notice, status) = match registered {
        Ok(key) => (
            Notice::success(format!("The YubiKey {} is registered.", key.public_id.as_str())),
            StatusCode::OK,
        ),
        Err(Failure::Store(keyward_core::store::StoreError::Duplicate(_))) => {
            (Notice::error("That YubiKey is already registered to someone."), StatusCode::CONFLICT)
        }
        Err(failure) => (notice_or_error(failure)?, StatusCode::UNPROCESSABLE_ENTITY),
    };
    yubikey_page(&state, &visitor, Some(notice), status, "").await
}

#[derive(Deserialize)]
pub struct RemoveForm {
    public_id: String,
}

pub async fn remove_yubikey<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<RemoveForm>,
) -> AppResult<Response> {
    match usecase::remove_yubikey(&state.services, &visitor.user, &visitor.session, &form.public_id, &origin)
        .await
    {
        Ok(()) => {
            let notice = Notice::success(format!("The YubiKey {} was removed.", form.public_id));
            yubikey_page(&state, &visitor, Some(notice), StatusCode::OK, "").await
        }
        Err(Failure::StepUpRequired) => Ok(step_up(YUBIKEY)),
        Err(failure) => Err(failure.into()),
    }
}

pub async fn activate_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
) -> AppResult<Response> {
    let without = usecase::activation_preview(&state.services, &visitor.user).await?;
    if without.iter().any(|user| user.id == visitor.user.id) {
        return Ok(own_factor_first(&state, &visitor, None).await?.into_response());
    }
    let mut paragraphs = vec![
        "From now on every login of the account's users asks for a one-time password after the password."
            .into(),
    ];
    if !without.is_empty() {
        paragraphs.push(
            "These users have no second factor yet. They get a fresh enrollment e-mail and cannot finish a login \
             until they are enrolled:"
                .into(),
        );
    }
    Ok(ConfirmPage {
        layout: visitor.layout("Activate two-factor authentication", ACTIVATE),
        csrf: visitor.csrf(),
        heading: "Activate two-factor authentication",
        paragraphs,
        users: without.iter().map(|user| user.email.to_string()).collect(),
        action: ACTIVATE,
        enroll_by_field: true,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/activate_self.html")]
struct OwnFactorFirst {
    layout: Layout,
    csrf: String,
    totp: bool,
    yubikey: bool,
}

/// "Activate" for an admin without a factor of her own: she sets one up right here first.
async fn own_factor_first<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    notice: Option<Notice>,
) -> AppResult<OwnFactorFirst> {
    let account = account(state, visitor).await?;
    let mut layout = visitor.layout("Activate two-factor authentication", ACTIVATE);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    Ok(OwnFactorFirst {
        layout,
        csrf: visitor.csrf(),
        totp: account.methods.totp,
        yubikey: account.methods.yubikey,
    })
}

#[derive(Deserialize)]
pub struct ConfirmForm {}

#[derive(Deserialize)]
pub struct ActivateForm {
    #[serde(default)]
    enroll_by: String,
}

pub async fn activate<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<ActivateForm>,
) -> AppResult<Response> {
    let notice = match usecase::activate(&state.services, &visitor.user, &form.enroll_by, &origin).await {
        Ok(_) => Notice::success("Two-factor authentication is active."),
        Err(Failure::Refused(message)) if message == usecase::OWN_FACTOR_FIRST => {
            let page = own_factor_first(&state, &visitor, Some(Notice::error(message))).await?;
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
        }
        Err(failure) => notice_or_error(failure)?,
    };
    Ok(settings_page(&state, &visitor, Some(notice), None).await?.into_response())
}

#[derive(Deserialize)]
pub struct OwnAppForm {
    password: String,
}

const OWN_APP_VERIFY: &str = "/account/two-factor/activate/verify";

/// "Continue" with her password: the QR code of her new app.
pub async fn own_app<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<OwnAppForm>,
) -> AppResult<Response> {
    match usecase::begin_own_app(&state.services, &visitor.user, &visitor.session, &form.password).await {
        Ok(secret) => Ok(own_app_qr(&visitor, &secret, None, OWN_APP_VERIFY, ACTIVATE)?.into_response()),
        Err(Failure::StepUpRequired) => Ok(step_up(ACTIVATE)),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            let page = own_factor_first(&state, &visitor, Some(notice)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct OwnAppCode {
    otp: String,
}

/// "Verify": her app is set up; back to Activate after her recovery codes.
pub async fn own_app_verify<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<OwnAppCode>,
) -> AppResult<Response> {
    match usecase::finish_own_app(&state.services, &visitor.user, &visitor.session, &form.otp, &origin).await
    {
        Ok(enrolled) => {
            let codes = RecoveryCodes {
                layout: visitor.layout("Your recovery codes", ACTIVATE),
                codes: enrolled.recovery_codes,
                next: ACTIVATE,
            };
            Ok((state.cookies.start_session(&enrolled.token), codes).into_response())
        }
        Err(Failure::StepUpRequired) => Ok(step_up(ACTIVATE)),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            match usecase::pending_own_app(&state.services, &visitor.user, &visitor.session).await? {
                Some(secret) => Ok((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    own_app_qr(&visitor, &secret, Some(notice), OWN_APP_VERIFY, ACTIVATE)?,
                )
                    .into_response()),
                None => Ok((
                    StatusCode::UNPROCESSABLE_ENTITY,
                    own_factor_first(&state, &visitor, Some(notice)).await?,
                )
                    .into_response()),
            }
        }
    }
}

pub async fn deactivate_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
) -> AppResult<Response> {
    account(&state, &visitor).await?;
    if !visitor.session.has_fresh_second_factor(state.services.clock.now()) {
        return Ok(step_up(DEACTIVATE));
    }
    Ok(ConfirmPage {
        layout: visitor.layout("Deactivate two-factor authentication", DEACTIVATE),
        csrf: visitor.csrf(),
        heading: "Deactivate two-factor authentication",
        paragraphs: vec![
            "Logins will ask only for the password again. Everyone else in the account is logged out.".into(),
        ],
        users: Vec::new(),
        action: DEACTIVATE,
        enroll_by_field: false,
    }
    .into_response())
}

pub async fn deactivate<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    _: SessionForm<ConfirmForm>,
) -> AppResult<Response> {
    match usecase::deactivate(&state.services, &visitor.user, &visitor.session, &origin).await {
        Ok(()) => Ok(settings_page(
            &state,
            &visitor,
            Some(Notice::success("Two-factor authentication is off.")),
            None,
        )
        .await?
        .into_response()),
        Err(Failure::StepUpRequired) => Ok(step_up(DEACTIVATE)),
        Err(failure) => Err(failure.into()),
    }
}

#[derive(Deserialize)]
pub struct DeadlineForm {
    #[serde(default)]
    enroll_by: String,
}

/// "Save deadline": moves the grace deadline, or ends it when empty.
pub async fn move_deadline<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<DeadlineForm>,
) -> AppResult<Response> {
    let (status, notice) =
        match usecase::move_enroll_by(&state.services, &visitor.user, &form.enroll_by, &origin).await {
            Ok(Some(deadline)) => (
                StatusCode::OK,
                Notice::success(format!("Users must enroll by {}.", usecase::last_day(deadline))),
            ),
            Ok(None) => {
                (StatusCode::OK, Notice::success("No more grace: every login now needs a second factor."))
            }
            Err(failure) => (StatusCode::UNPROCESSABLE_ENTITY, notice_or_error(failure)?),
        };
    Ok((status, settings_page(&state, &visitor, Some(notice), None).await?).into_response())
}

#[derive(Deserialize)]
pub struct RememberForm {
    #[serde(default)]
    days: String,
}

/// "Remember this browser": for how many days a browser may skip the second factor (after a step-up).
pub async fn remember_days<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<RememberForm>,
) -> AppResult<Response> {
    let set =
        usecase::set_remember_days(&state.services, &visitor.user, &visitor.session, &form.days, &origin)
            .await;
    let (status, notice) = match set {
        Ok(0) => (
            StatusCode::OK,
            Notice::success("Browsers are not remembered: every login asks for the second factor."),
        ),
        Ok(days) => (StatusCode::OK, Notice::success(format!("Browsers may be remembered for {days} days."))),
        Err(Failure::StepUpRequired) => return Ok(step_up(SETTINGS)),
        Err(failure) => (StatusCode::UNPROCESSABLE_ENTITY, notice_or_error(failure)?),
    };
    Ok((status, settings_page(&state, &visitor, Some(notice), None).await?).into_response())
}
