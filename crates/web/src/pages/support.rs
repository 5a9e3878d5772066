//! The support console (operators only, through the [`Operator`] guard): find an account, read its
//! disable policy, open, approve and deny lost-device requests. Also the two pages of the login's second
//! step that lead here: an operator's first set-up of an app, and "Lost your device?" for account members.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::audit::AuditEvent;
use keyward_core::ids::{AccountId, DisableRequestId, UserId};
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::usecase::{self, Approved, Evidence, RequestFile};
use keyward_core::user::Role;
use serde::Deserialize;

use super::account::UserRow;
use super::auth::MessagePage;
use super::enroll::{QrStep, RecoveryCodes};
use super::{ClientOrigin, Operator, SecondStep, SharedState, Visitor, notice_or_error, see_other};
use crate::errors::{AppError, AppResult};
use crate::layout::{Layout, Notice, SUPPORT_PATH};
use crate::session::{SessionForm, csrf_token};

/// Where an operator without a factor sets one up at their first login.
pub const SETUP_PATH: &str = "/support/setup";
/// Where an operator registers a YubiKey instead at their first login.
pub const SETUP_YUBIKEY_PATH: &str = "/support/setup/yubikey";
/// Where an account member asks support for help from the login's second step.
pub const LOST_PATH: &str = "/login/lost";

/// A request as the console's tables show it.
pub struct RequestRow {
    pub id: i64,
    pub user: String,
    pub admin: bool,
    pub account: String,
    pub opened: String,
    pub state: &'static str,
}

impl RequestRow {
    fn of(file: &RequestFile) -> RequestRow {
        RequestRow {
            id: file.request.id.0,
            user: file.user.email.to_string(),
            admin: file.user.role == Role::Admin,
            account: file.account.name.as_str().to_owned(),
            opened: file.request.created_at.date_time(),
            state: file.state,
        }
    }
}

/// An audit event as the tables show it.
pub struct EventRow {
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub ip: String,
    pub detail: String,
}

impl EventRow {
    pub fn of(event: &AuditEvent) -> EventRow {
        EventRow {
            at: event.at.date_time(),
            actor: event.actor.clone(),
            action: event.action.clone(),
            target: event.target.clone(),
            ip: event.ip.clone().unwrap_or_default(),
            detail: event.detail.clone(),
        }
    }
}

/// A number from the path; anything else is a page that does not exist.
fn id_in_path(text: &str) -> AppResult<i64> {
    text.parse().map_err(|_| AppError::NotFound)
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/support_home.html")]
struct HomePage {
    layout: Layout,
    query: String,
    accounts: Vec<(i64, String)>,
    requests: Vec<RequestRow>,
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `/support`: find an account; the open requests of every account.
pub async fn home<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Operator(operator): Operator,
    Query(query): Query<SearchQuery>,
) -> AppResult<Response> {
    let accounts = usecase::find_accounts(&state.services, &operator.user, &query.q).await?;
    let requests = usecase::open_requests(&state.services, &operator.user).await?;
    Ok(HomePage {
        layout: operator.layout("Support console", SUPPORT_PATH),
        query: query.q.trim().to_owned(),
        accounts: accounts.iter().map(|a| (a.id.0, a.name.as_str().to_owned())).collect(),
        requests: requests.iter().map(RequestRow::of).collect(),
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/support_account.html")]
struct AccountPage {
    layout: Layout,
    csrf: String,
    account_id: i64,
    account_name: String,
    policy: Option<String>,
    active: bool,
    rows: Vec<UserRow>,
    requests: Vec<RequestRow>,
    events: Vec<EventRow>,
}

async fn render_account<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    operator: &Visitor,
    id: AccountId,
    notice: Option<Notice>,
) -> AppResult<AccountPage> {
    let file = usecase::account_file(&state.services, &operator.user, id).await?;
    let mut layout = operator.layout(file.account.name.as_str(), SUPPORT_PATH);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    Ok(AccountPage {
        layout,
        csrf: operator.csrf(),
        account_id: file.account.id.0,
        account_name: file.account.name.as_str().to_owned(),
        policy: file.account.disable_policy.as_ref().map(|p| p.as_str().to_owned()),
        active: file.account.activation.is_some(),
        rows: file.users.iter().map(UserRow::from_overview).collect(),
        requests: file.requests.iter().map(RequestRow::of).collect(),
        events: file.events.iter().map(EventRow::of).collect(),
    })
}

/// An account: its policy first, then its 2FA state, users, requests and audit trail.
pub async fn account<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = AccountId(id_in_path(&id)?);
    Ok(render_account(&state, &operator, id, None).await?.into_response())
}

#[derive(Deserialize)]
pub struct OpenForm {
    user_id: String,
    reason: String,
    contact: String,
}

/// An operator taking a call opens a request for a user of the account.
pub async fn open_request<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Operator(operator): Operator,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    SessionForm { form, .. }: SessionForm<OpenForm>,
) -> AppResult<Response> {
    let account_id = AccountId(id_in_path(&id)?);
    let user_id = UserId(form.user_id.trim().parse().map_err(|_| AppError::NotFound)?);
    let opened = usecase::open_request_for(
        &state.services,
        &operator.user,
        account_id,
        user_id,
        &form.reason,
        &form.contact,
        &origin,
    )
    .await;
    match opened {
        Ok(request) => Ok(see_other(&format!("/support/requests/{}", request.id))),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            let page = render_account(&state, &operator, account_id, Some(notice)).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/support_request.html")]
struct RequestPage {
    layout: Layout,
    csrf: String,
    id: i64,
    user: String,
    role: &'static str,
    account_id: i64,
    account_name: String,
    policy: Option<String>,
    opened: String,
    opened_by: String,
    reason: String,
    contact: String,
    state: &'static str,
    decision: Option<String>,
    approvals: Vec<String>,
    needed: usize,
    open: bool,
}

async fn render_request<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    operator: &Visitor,
    id: DisableRequestId,
    notice: Option<Notice>,
) -> AppResult<RequestPage> {
    let file = usecase::disable_request(&state.services, &operator.user, id).await?;
    let mut layout = operator.layout(&format!("Request {id}"), SUPPORT_PATH);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    let decision = match &file.request.decision {
        keyward_core::disable::Decision::Open => None,
        keyward_core::disable::Decision::Approved { how, at, .. }
        | keyward_core::disable::Decision::Denied { how, at, .. } => {
            Some(format!("{how} ({})", at.date_time()))
        }
    };
    Ok(RequestPage {
        layout,
        csrf: operator.csrf(),
        id: file.request.id.0,
        user: file.user.email.to_string(),
        role: file.user.role.as_str(),
        account_id: file.account.id.0,
        account_name: file.account.name.as_str().to_owned(),
        policy: file.account.disable_policy.as_ref().map(|p| p.as_str().to_owned()),
        opened: file.request.created_at.date_time(),
        opened_by: file.opened_by.to_string(),
        reason: file.request.reason.clone(),
        contact: file.request.contact.clone(),
        state: file.state,
        decision,
        approvals: file
            .approvals
            .iter()
            .map(|(approval, by)| format!("{by}, {}: {}", approval.at.date_time(), approval.summary()))
            .collect(),
        needed: file.approvals_needed,
        open: file.state == "open",
    })
}

/// A request: the account's policy again, the request, the approvals so far, and the decision forms.
pub async fn request<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Operator(operator): Operator,
    Path(id): Path<String>,
) -> AppResult<Response> {
    let id = DisableRequestId(id_in_path(&id)?);
    Ok(render_request(&state, &operator, id, None).await?.into_response())
}

#[derive(Deserialize)]
pub struct ApproveForm {
    contacted: String,
    channel: String,
    confirmed: String,
}

/// "Approve", with the record of how the policy was followed.
pub async fn approve<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Operator(operator): Operator,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    SessionForm { form, .. }: SessionForm<ApproveForm>,
) -> AppResult<Response> {
    let id = DisableRequestId(id_in_path(&id)?);
    let evidence = Evidence { contacted: form.contacted, channel: form.channel, confirmed: form.confirmed };
    let (status, notice) =
        match usecase::approve_request(&state.services, &operator.user, id, &evidence, &origin).await {
            Ok(Approved::Decided) => (
                StatusCode::OK,
                Notice::success(
                    "Approved. The user's factors were removed, a new enrollment e-mail is on its way, and \
                     the account's admins were told.",
                ),
            ),
            Ok(Approved::AwaitingSecond) => (
                StatusCode::OK,
                Notice::info(
                    "Your approval is recorded. This user is an admin: a second operator must approve too.",
                ),
            ),
            Err(failure) => (StatusCode::UNPROCESSABLE_ENTITY, notice_or_error(failure)?),
        };
    Ok((status, render_request(&state, &operator, id, Some(notice)).await?).into_response())
}

#[derive(Deserialize)]
pub struct DenyForm {
    why: String,
}

/// "Deny", with the reason the requester and the admins are told.
pub async fn deny<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Operator(operator): Operator,
    ClientOrigin(origin): ClientOrigin,
    Path(id): Path<String>,
    SessionForm { form, .. }: SessionForm<DenyForm>,
) -> AppResult<Response> {
    let id = DisableRequestId(id_in_path(&id)?);
    let (status, notice) =
        match usecase::deny_request(&state.services, &operator.user, id, &form.why, &origin).await {
            Ok(()) => {
                (StatusCode::OK, Notice::success("Denied. The user and the account's admins were told why."))
            }
            Err(failure) => (StatusCode::UNPROCESSABLE_ENTITY, notice_or_error(failure)?),
        };
    Ok((status, render_request(&state, &operator, id, Some(notice)).await?).into_response())
}

async fn setup_step<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    step: &SecondStep,
    notice: Option<Notice>,
) -> AppResult<QrStep> {
    let secret = usecase::begin_operator_setup(&state.services, &step.session, &step.user).await?;
    let qr_svg = crate::qr::qr_svg(&secret.uri.to_string()).map_err(AppError::internal)?;
    let mut layout = Layout::public("Set up two-factor authentication");
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    Ok(QrStep {
        layout,
        csrf: csrf_token(&step.token),
        action: SETUP_PATH.into(),
        qr_svg,
        secret: secret.grouped,
        yubikey_action: Some(SETUP_YUBIKEY_PATH),
        security_key: false,
        register_action: String::new(),
        register_options: String::new(),
    })
}

/// An operator's first login: the QR code of a new app, before the console opens.
pub async fn setup_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    step: SecondStep,
) -> AppResult<Response> {
    Ok(setup_step(&state, &step, None).await?.into_response())
}

#[derive(Deserialize)]
pub struct VerifyForm {
    otp: String,
}

/// "Verify" on the operator's set-up: the app is theirs, the console opens after the recovery codes.
pub async fn setup_verify<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    step: SecondStep,
    SessionForm { form, .. }: SessionForm<VerifyForm>,
) -> AppResult<Response> {
    let enrolled =
        usecase::finish_operator_setup(&state.services, &step.session, &step.user, &form.otp, &origin).await;
    set_up(&state, &step, enrolled).await
}

/// "Register" on the operator's set-up: a YubiKey instead of an app.
pub async fn setup_yubikey<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    step: SecondStep,
    SessionForm { form, .. }: SessionForm<VerifyForm>,
) -> AppResult<Response> {
    let enrolled = usecase::finish_operator_setup_with_yubikey(
        &state.services,
        &step.session,
        &step.user,
        &form.otp,
        &origin,
    )
    .await;
    set_up(&state, &step, enrolled).await
}

async fn set_up<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    step: &SecondStep,
    enrolled: Result<usecase::Enrolled, usecase::Failure>,
) -> AppResult<Response> {
    match enrolled {
        Ok(enrolled) => {
            let codes = RecoveryCodes {
                layout: Layout::public("Your recovery codes"),
                codes: enrolled.recovery_codes,
                next: SUPPORT_PATH,
            };
            Ok((state.cookies.start_session(&enrolled.token), codes).into_response())
        }
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, setup_step(state, step, Some(notice)).await?)
                .into_response())
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/lost.html")]
struct LostPage {
    layout: Layout,
    csrf: String,
    reason: String,
    contact: String,
}

/// "Lost your device?": reached only from the login's second step, after a correct password.
pub async fn lost_page<S: Store, M: Mailer>(step: SecondStep) -> AppResult<Response> {
    if step.user.role == Role::Operator {
        return Err(AppError::NotFound);
    }
    let page = LostPage {
        layout: Layout::public("Lost your device?"),
        csrf: csrf_token(&step.token),
        reason: String::new(),
        contact: String::new(),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct LostForm {
    reason: String,
    contact: String,
}

/// "Send request": support gets it; the person is told what happens next, and this login ends.
pub async fn lost<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    step: SecondStep,
    SessionForm { form, .. }: SessionForm<LostForm>,
) -> AppResult<Response> {
    let requested = usecase::request_disable(
        &state.services,
        &step.session,
        &step.user,
        &form.reason,
        &form.contact,
        &origin,
    )
    .await;
    match requested {
        Ok(_) => Ok((
            state.cookies.end_session(),
            MessagePage {
                layout: Layout::public("Request sent"),
                heading: "Support has your request".into(),
                paragraphs: vec![
                    "Support will follow your company's policy before removing your second factor: expect \
                     them to contact you or your administrator."
                        .into(),
                    "Once they approve, you get an e-mail to set up your new device.".into(),
                ],
                link: Some(("/login".into(), "Back to login".into())),
            },
        )
            .into_response()),
        Err(failure) => {
            let notice = notice_or_error(failure)?;
            let page = LostPage {
                layout: Layout::public("Lost your device?").with_notice(notice),
                csrf: csrf_token(&step.token),
                reason: form.reason,
                contact: form.contact,
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
    }
}
