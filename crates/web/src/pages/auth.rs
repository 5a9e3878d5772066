//! Sign-up, login (password, then one-time password), step-up, logout, and passwords from e-mailed links.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use keyward_core::mail::Mailer;
use keyward_core::session::Stage;
use keyward_core::store::Store;
use keyward_core::token::Token;
use keyward_core::usecase::{self, Door, Failure};
use keyward_core::user::Role;
use keyward_core::verdict::{FactorKind, Verdict};
use serde::Deserialize;

use super::{
    ClientOrigin, Member, SharedState, Visitor, after_answer, notice_or_error, safe_next, see_other,
};
use crate::errors::{AppError, AppResult};
use crate::guard::SUPPORT_LOGIN_PATH;
use crate::layout::{Layout, MY_SECURITY_PATH, Notice, SUPPORT_PATH};
use crate::metrics::{LoginResult, ThrottleBudget};
use crate::session::{PreLoginCsrf, PreLoginForm, SessionForm, SessionToken};

#[derive(Template, WebTemplate)]
#[template(path = "pages/signup.html")]
struct SignUpPage {
    layout: Layout,
    csrf: String,
    account_name: String,
    email: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    email: String,
    /// Where the form posts: `/login`, or the support console's login.
    action: &'static str,
    heading: &'static str,
}

impl LoginPage {
    fn at(door: Door, csrf: String, email: String, notice: Option<Notice>) -> LoginPage {
        let (action, heading) = match door {
            Door::Account => ("/login", "Log in"),
            Door::Support => (SUPPORT_LOGIN_PATH, "Support console"),
        };
        let mut layout = Layout::public(heading);
        if let Some(notice) = notice {
            layout = layout.with_notice(notice);
        }
        LoginPage { layout, csrf, email, action, heading }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/otp.html")]
struct OtpPage {
    layout: Layout,
    csrf: String,
    heading: &'static str,
    explanation: &'static str,
    action: &'static str,
    button: &'static str,
    next: String,
    /// The login's second step of an account member: "Lost your device?" and "Cancel".
    lost: bool,
    /// "Remember this browser for N days" (0: not offered).
    remember_days: u8,
    /// The person has a security key: "Use your security key" beside the code field.
    security_key: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/message.html")]
pub(crate) struct MessagePage {
    pub layout: Layout,
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub link: Option<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/forgot.html")]
struct ForgotPage {
    layout: Layout,
    csrf: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/password.html")]
struct PasswordPage {
    layout: Layout,
    csrf: String,
    email: String,
    token: String,
}

fn pre_login_csrf<S: Store, M: Mailer>(state: &SharedState<S, M>, headers: &HeaderMap) -> PreLoginCsrf {
    PreLoginCsrf::for_request(&state.cookies, headers, &*state.services.entropy)
}

/// `/`: the signed-in person's start page, or the login page. Operators belong in the console.
pub async fn home<S: Store + 'static, M: Mailer + 'static>(
    _: State<SharedState<S, M>>,
    member: Result<Member, AppError>,
) -> AppResult<Response> {
    let visitor = match member {
        Ok(Member(visitor)) => visitor,
        Err(AppError::Forbidden) => return Ok(see_other(SUPPORT_PATH)),
        Err(AppError::Unauthenticated) => return Ok(see_other("/login")),
        Err(error) => return Err(error),
    };
    if visitor.user.role == Role::Admin {
        return Ok(see_other(crate::layout::USERS_AND_SECURITY_PATH));
    }
    Ok(MessagePage {
        layout: visitor.layout("Welcome", "/"),
        heading: "You are logged in".into(),
        paragraphs: vec![format!("You are logged in as {}.", visitor.user.email)],
        link: Some((MY_SECURITY_PATH.into(), "My security".into())),
    }
    .into_response())
}

pub async fn sign_up_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
) -> Response {
    let csrf = pre_login_csrf(&state, &headers);
    let page = SignUpPage {
        layout: Layout::public("Sign up"),
        csrf: csrf.form_token.clone(),
        account_name: String::new(),
        email: String::new(),
    };
    (csrf, page).into_response()
}

#[derive(Deserialize)]
pub struct SignUpForm {
    account_name: String,
    email: String,
    password: String,
}

/// "Sign up": the same answer for every address, after the same work (the form checked, the password
/// hashed); the e-mail that says what happens next goes out after the answer.
pub async fn sign_up<S: Store + 'static, M: Mailer + 'static>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
    PreLoginForm(form): PreLoginForm<SignUpForm>,
) -> AppResult<Response> {
    let pending = match usecase::request_sign_up(
        &state.services,
        &form.account_name,
        &form.email,
        &form.password,
    )
    .await
    {
        Ok(pending) => pending,
        Err(failure) => return Ok(sign_up_again(&state, &headers, form, notice_or_error(failure)?)),
    };
    let background = Arc::clone(&state);
    after_answer("a sign-up e-mail", async move {
        usecase::send_sign_up_mail(&background.services, pending).await
    });
    Ok(MessagePage {
        layout: Layout::public("Check your e-mail"),
        heading: "Check your e-mail".into(),
        paragraphs: vec![
            format!(
                "We sent a message to {}. Open the link in it within 24 hours to create your account.",
                form.email.trim()
            ),
            "Nothing arrived? Check the address and your spam folder, then sign up again.".into(),
        ],
        link: None,
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/signup_confirm.html")]
struct SignUpConfirmPage {
    layout: Layout,
    csrf: String,
    account_name: String,
    email: String,
    token: String,
}

/// The sign-up link: what it creates, and "Create account" (a link opened by a mail scanner creates nothing).
pub async fn sign_up_link<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let link = usecase::open_sign_up(&state.services, &token)?;
    let csrf = pre_login_csrf(&state, &headers);
    let page = SignUpConfirmPage {
        layout: Layout::public("Create your account"),
        csrf: csrf.form_token.clone(),
        account_name: link.account_name.as_str().to_owned(),
        email: link.email.to_string(),
        token,
    };
    Ok((csrf, page).into_response())
}

#[derive(Deserialize)]
pub struct Nothing {}

/// "Create account": the account exists from now on, and its admin is logged in.
pub async fn confirm_sign_up<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Path(token): Path<String>,
    PreLoginForm(_): PreLoginForm<Nothing>,
) -> AppResult<Response> {
    let outcome = usecase::confirm_sign_up(&state.services, &token, &origin).await?;
    let mark = usecase::known_browser_mark(&state.services, &outcome.user)?;
    Ok((
        state.cookies.start_session(&outcome.token),
        state.cookies.mark_browser(&mark),
        see_other(crate::layout::USERS_AND_SECURITY_PATH),
    )
        .into_response())
}

fn sign_up_again<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    headers: &HeaderMap,
    form: SignUpForm,
    notice: Notice,
) -> Response {
    let csrf = pre_login_csrf(state, headers);
    let page = SignUpPage {
        layout: Layout::public("Sign up").with_notice(notice),
        csrf: csrf.form_token.clone(),
        account_name: form.account_name,
        email: form.email,
    };
    (StatusCode::UNPROCESSABLE_ENTITY, csrf, page).into_response()
}

pub async fn login_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
) -> Response {
    login_form(&state, &headers, Door::Account)
}

/// The support console's login: operators only, with the same two steps.
pub async fn support_login_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
) -> Response {
    login_form(&state, &headers, Door::Support)
}

fn login_form<S: Store, M: Mailer>(state: &SharedState<S, M>, headers: &HeaderMap, door: Door) -> Response {
    let csrf = pre_login_csrf(state, headers);
    let page = LoginPage::at(door, csrf.form_token.clone(), String::new(), None);
    (csrf, page).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
}

pub async fn log_in<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
    ClientOrigin(origin): ClientOrigin,
    PreLoginForm(form): PreLoginForm<LoginForm>,
) -> AppResult<Response> {
    password_step(&state, &headers, origin, form, Door::Account).await
}

pub async fn support_log_in<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
    ClientOrigin(origin): ClientOrigin,
    PreLoginForm(form): PreLoginForm<LoginForm>,
) -> AppResult<Response> {
    password_step(&state, &headers, origin, form, Door::Support).await
}

async fn password_step<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    headers: &HeaderMap,
    origin: keyward_core::usecase::Origin,
    form: LoginForm,
    door: Door,
) -> AppResult<Response> {
    match usecase::log_in(&state.services, door, &form.email, &form.password, &origin).await {
        Ok(outcome) => {
            let complete = outcome.stage == Stage::Complete;
            state.metrics.record_login(if complete {
                LoginResult::Success
            } else {
                LoginResult::SecondFactorRequired
            });
            let next = if complete { "/" } else { "/login/otp" };
            let session = state.cookies.start_session(&outcome.token);
            if complete {
                let mark = usecase::known_browser_mark(&state.services, &outcome.user)?;
                Ok((session, state.cookies.mark_browser(&mark), see_other(next)).into_response())
            } else {
                Ok((session, see_other(next)).into_response())
            }
        }
        Err(failure) => {
            let throttled = matches!(failure, Failure::Throttled(_));
            state.metrics.record_login(if throttled { LoginResult::Throttled } else { LoginResult::Failed });
            if throttled {
                state.metrics.record_throttled(ThrottleBudget::Password);
            }
            let notice = notice_or_error(failure)?;
            let csrf = pre_login_csrf(state, headers);
            let page = LoginPage::at(door, csrf.form_token.clone(), form.email, Some(notice));
            Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf, page).into_response())
        }
    }
}

fn otp_page(
    layout: Layout,
    csrf: String,
    step_up: bool,
    next: String,
    operator: bool,
    remember_days: u8,
    security_key: bool,
) -> OtpPage {
    if step_up {
        OtpPage {
            layout,
            csrf,
            heading: "Confirm it is you",
            explanation: "This change needs your second factor again.",
            action: "/step-up",
            button: "Continue",
            next,
            lost: false,
            remember_days: 0,
            security_key,
        }
    } else {
        OtpPage {
            layout,
            csrf,
            heading: "One-time password",
            explanation: "Start your authenticator app and type the code it shows, or touch your YubiKey.",
            action: "/login/otp",
            button: "Log in",
            next,
            lost: !operator,
            remember_days,
            security_key,
        }
    }
}

/// The second step of the login.
pub async fn otp_page_get<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    SessionToken(token): SessionToken,
) -> AppResult<Response> {
    let usecase::CurrentSession { session, user, .. } =
        usecase::current_session(&state.services, &token).await?.ok_or(AppError::Unauthenticated)?;
    if session.stage == Stage::Complete {
        return Ok(see_other("/"));
    }
    if usecase::needs_operator_setup(&state.services, &session, &user).await? {
        return Ok(see_other(super::support::SETUP_PATH));
    }
    let csrf = crate::session::csrf_token(&token);
    let operator = user.role == Role::Operator;
    let days = usecase::remember_days_offered(&state.services, &user).await?;
    let key = usecase::has_security_key(&state.services, &user).await?;
    Ok(otp_page(Layout::public("One-time password"), csrf, false, String::new(), operator, days, key)
        .into_response())
}

#[derive(Deserialize)]
pub struct OtpForm {
    #[serde(default)]
    otp: String,
    /// With "Use your security key": the ceremony's handle and the browser's assertion (JSON).
    #[serde(default)]
    handle: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    next: String,
    /// "Remember this browser" ticked.
    #[serde(default)]
    remember: Option<String>,
}

pub async fn otp_submit<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    form: SessionForm<OtpForm>,
) -> AppResult<Response> {
    prove(state, origin, form, false).await
}

/// The step-up page before a sensitive change.
pub async fn step_up_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
    Query(query): Query<NextQuery>,
) -> AppResult<Response> {
    let key = usecase::has_security_key(&state.services, &visitor.user).await?;
    let layout = visitor.layout("Confirm it is you", "/step-up");
    let next = safe_next(&query.next).to_owned();
    Ok(otp_page(layout, visitor.csrf(), true, next, false, 0, key).into_response())
}

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

pub async fn step_up_submit<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    form: SessionForm<OtpForm>,
) -> AppResult<Response> {
    prove(state, origin, form, true).await
}

async fn prove<S: Store, M: Mailer>(
    state: SharedState<S, M>,
    origin: keyward_core::usecase::Origin,
    SessionForm { token, form }: SessionForm<OtpForm>,
    step_up: bool,
) -> AppResult<Response> {
    let usecase::CurrentSession { session, user, .. } =
        usecase::current_session(&state.services, &token).await?.ok_or(AppError::Unauthenticated)?;
    if step_up && session.stage != Stage::Complete {
        return Err(AppError::Unauthenticated);
    }
    let operator = user.role == Role::Operator;
    let proof = if form.credential.is_empty() {
        usecase::Proof::Typed(&form.otp)
    } else {
        usecase::Proof::SecurityKey { handle: &form.handle, response: &form.credential }
    };
    let proven = usecase::prove_second_factor(&state.services, &session, &user, proof, &origin).await?;
    state.metrics.record_otp(proven.checked.factor, proven.checked.verdict);
    if proven.checked.verdict == Verdict::Throttled {
        state.metrics.record_throttled(ThrottleBudget::Otp);
    }
    let refusal = proven.checked.refusal();
    match (proven.token, refusal) {
        (Some(token), _) => {
            let next = if step_up { safe_next(&form.next).to_owned() } else { "/".to_owned() };
            let mark = usecase::known_browser_mark(&state.services, &user)?;
            let remembered = match (step_up, &form.remember) {
                (false, Some(_)) => usecase::remember_this_browser(&state.services, &user).await?,
                _ => None,
            };
            let cookies = (
                state.cookies.start_session(&token),
                state.cookies.mark_browser(&mark),
                remembered.map(|(token, max_age)| state.cookies.remember_browser(&token, max_age)),
            );
            if proven.checked.factor != FactorKind::RecoveryCode {
                return Ok((cookies, see_other(&next)).into_response());
            }
            // A recovery code: say how many are left, and where to make new ones.
            let left = usecase::recovery_codes_left(&state.services, &user).await?;
            let visitor = Visitor { session, user, token, grace_days_left: None };
            let page = MessagePage {
                layout: visitor.layout("Recovery code used", "/"),
                heading: "You used a recovery code".into(),
                paragraphs: vec![
                    format!("You have {left} recovery codes left. Each works once."),
                    "If you lost your device, make new codes on My security, and ask your administrator \
                     to set up your factor again."
                        .into(),
                ],
                link: Some((next, "Continue".into())),
            };
            Ok((cookies, page).into_response())
        }
        (None, refusal) => {
            let failure = refusal.unwrap_or_else(|| Failure::Refused("Try again.".into()));
            let notice = notice_or_error(failure)?;
            let csrf = crate::session::csrf_token(&token);
            let days =
                if step_up { 0 } else { usecase::remember_days_offered(&state.services, &user).await? };
            let key = usecase::has_security_key(&state.services, &user).await?;
            let layout = if step_up {
                Visitor { session, user, token, grace_days_left: None }
                    .layout("Confirm it is you", "/step-up")
            } else {
                Layout::public("One-time password")
            }
            .with_notice(notice);
            let next = safe_next(&form.next).to_owned();
            let page = otp_page(layout, csrf, step_up, next, operator, days, key);
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Deserialize)]
pub struct EmptyForm {}

pub async fn log_out<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    SessionForm { token, .. }: SessionForm<EmptyForm>,
) -> AppResult<Response> {
    usecase::log_out(&state.services, &token).await?;
    Ok((state.cookies.end_session(), see_other("/login")).into_response())
}

pub async fn forgot_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
) -> Response {
    let csrf = pre_login_csrf(&state, &headers);
    let page = ForgotPage { layout: Layout::public("Forgot your password?"), csrf: csrf.form_token.clone() };
    (csrf, page).into_response()
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// "Forgot password": the work (finding the address, making and mailing a link) runs on a task of its
/// own after the answer, so every address gets the same answer in the same time, whatever the mailer does.
pub async fn forgot<S: Store + 'static, M: Mailer + 'static>(
    State(state): State<SharedState<S, M>>,
    PreLoginForm(form): PreLoginForm<ForgotForm>,
) -> AppResult<Response> {
    let background = Arc::clone(&state);
    after_answer("a password reset", async move {
        usecase::forgot_password(&background.services, &form.email).await
    });
    Ok(MessagePage {
        layout: Layout::public("Check your e-mail"),
        heading: "Check your e-mail".into(),
        paragraphs: vec![
            "If that address belongs to an account, we have sent it a link to choose a new password. \
             The link works once and for one hour."
                .into(),
        ],
        link: Some(("/login".into(), "Back to login".into())),
    }
    .into_response())
}

pub async fn password_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> AppResult<Response> {
    let link = usecase::open_password_link(&state.services, &Token::from_presented(&token)).await?;
    let csrf = pre_login_csrf(&state, &headers);
    let page = PasswordPage {
        layout: Layout::public("Choose your password"),
        csrf: csrf.form_token.clone(),
        email: link.user.email.to_string(),
        token,
    };
    Ok((csrf, page).into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    password: String,
}

pub async fn set_password<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    headers: HeaderMap,
    ClientOrigin(origin): ClientOrigin,
    Path(token): Path<String>,
    PreLoginForm(form): PreLoginForm<PasswordForm>,
) -> AppResult<Response> {
    let presented = Token::from_presented(&token);
    match usecase::set_password(&state.services, &presented, &form.password, &origin).await {
        Ok(_) => Ok(MessagePage {
            layout: Layout::public("Password saved"),
            heading: "Your password is saved".into(),
            paragraphs: vec!["Log in with your e-mail address and the new password.".into()],
            link: Some(("/login".into(), "Log in".into())),
        }
        .into_response()),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            let link = usecase::open_password_link(&state.services, &presented).await?;
            let csrf = pre_login_csrf(&state, &headers);
            let page = PasswordPage {
                layout: Layout::public("Choose your password").with_notice(notice),
                csrf: csrf.form_token.clone(),
                email: link.user.email.to_string(),
                token,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, csrf, page).into_response())
        }
    }
}
