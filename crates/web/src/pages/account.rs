//! "Account" > "Users & Security": the account's users with their two-factor state, and adding users.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::usecase::{self, TwoFactorStatus, UserOverview};
use keyward_core::user::Role;
use serde::Deserialize;

use super::{ClientOrigin, Member, SharedState, Visitor, notice_or_error};
use crate::errors::{AppError, AppResult};
use crate::layout::{Notice, USERS_AND_SECURITY_PATH};
use crate::session::SessionForm;

/// A user as the tables show them.
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub role: &'static str,
    pub status: String,
    pub yubikeys: Vec<String>,
}

impl UserRow {
    pub fn from_overview(overview: &UserOverview) -> UserRow {
        let status = match &overview.status {
            TwoFactorStatus::NotInvited => "not invited".to_owned(),
            TwoFactorStatus::Invited { at } => format!("invited on {}", at.date()),
            TwoFactorStatus::Enrolled { totp, yubikeys } => {
                let mut factors = Vec::new();
                if *totp {
                    factors.push("TOTP app".to_owned());
                }
                match yubikeys.len() {
                    0 => {}
                    1 => factors.push("YubiKey".to_owned()),
                    n => factors.push(format!("{n} YubiKeys")),
                }
                format!("enrolled: {}", factors.join(", "))
            }
        };
        let yubikeys = match &overview.status {
            TwoFactorStatus::Enrolled { yubikeys, .. } => {
                yubikeys.iter().map(|k| k.as_str().to_owned()).collect()
            }
            _ => Vec::new(),
        };
        let role = match overview.user.role {
            Role::Admin => "admin",
            Role::User => "user",
            Role::Operator => "operator",
        };
        UserRow { id: overview.user.id.0, email: overview.user.email.to_string(), role, status, yubikeys }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pages/users.html")]
struct UsersPage {
    layout: crate::layout::Layout,
    csrf: String,
    account_name: String,
    active: bool,
    rows: Vec<UserRow>,
    /// The admin's own id: "Reset 2FA" is for the others.
    own_id: i64,
}

async fn render<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    notice: Option<Notice>,
) -> AppResult<UsersPage> {
    let overview = usecase::users_overview(&state.services, &visitor.user).await?;
    let account =
        state.services.store.find_account(visitor.user.account_id).await?.ok_or(AppError::NotFound)?;
    let mut layout = visitor.layout("Users & Security", USERS_AND_SECURITY_PATH);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    Ok(UsersPage {
        layout,
        csrf: visitor.csrf(),
        account_name: account.name.as_str().to_owned(),
        active: account.activation.is_some(),
        rows: overview.iter().map(UserRow::from_overview).collect(),
        own_id: visitor.user.id.0,
    })
}

pub async fn users_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
) -> AppResult<Response> {
    Ok(render(&state, &visitor, None).await?.into_response())
}

#[derive(Deserialize)]
pub struct AddUserForm {
    email: String,
}

pub async fn add_user<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<AddUserForm>,
) -> AppResult<Response> {
    let (status, notice) = match usecase::add_user(&state.services, &visitor.user, &form.email, &origin).await
    {
        Ok(email) => (StatusCode::OK, Notice::success(format!("We sent an e-mail to {email}."))),
        Err(failure) => (StatusCode::UNPROCESSABLE_ENTITY, notice_or_error(failure)?),
    };
    Ok((status, render(&state, &visitor, Some(notice)).await?).into_response())
}

/// Users & Security with a notice (after "Reset 2FA"): 200 for news, 422 for a refusal.
pub(crate) async fn users_page_with<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    notice: Notice,
) -> AppResult<Response> {
    let status = if notice.kind == crate::layout::NoticeKind::Error {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok((status, render(state, visitor, Some(notice)).await?).into_response())
}
