//! "Account" > "Users & Security": the account's users with their two-factor state, and adding users.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use keyward_core::mail::Mailer;
use keyward_core::store::Store;
use keyward_core::usecase::{self, TwoFactorStatus, UserOverview};
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
    /// Their state in plain words ("no password yet", "not enrolled", "enrollment link sent on …",
    /// "enrolled: app, YubiKey · 8 recovery codes left").
    pub status: String,
    pub enrolled: bool,
    pub yubikeys: Vec<String>,
}

impl UserRow {
    pub fn from_overview(overview: &UserOverview) -> UserRow {
        let status = match &overview.status {
            TwoFactorStatus::NotInvited if overview.user.password_hash.is_none() => {
                "no password yet".to_owned()
            }
            TwoFactorStatus::NotInvited => "not enrolled".to_owned(),
            TwoFactorStatus::Invited { at, expires } => {
                format!("enrollment link sent on {}, expires {}", at.date(), expires.date())
            }
            TwoFactorStatus::Enrolled { totp, yubikeys, security_keys, recovery_codes } => {
                let mut factors = Vec::new();
                if *totp {
                    factors.push("app".to_owned());
                }
                match yubikeys.len() {
                    0 => {}
                    1 => factors.push("YubiKey".to_owned()),
                    n => factors.push(format!("{n} YubiKeys")),
                }
                let names = security_keys.iter().map(|name| format!("\u{201c}{}\u{201d}", name.as_str()));
                match security_keys.len() {
                    0 => {}
                    1 => factors.push(format!("security key {}", names.collect::<String>())),
                    _ => factors.push(format!("security keys {}", names.collect::<Vec<_>>().join(", "))),
                }
                let codes = match recovery_codes {
                    1 => "1 recovery code left".to_owned(),
                    n => format!("{n} recovery codes left"),
                };
                format!("enrolled: {} · {codes}", factors.join(", "))
            }
        };
        let (enrolled, yubikeys) = match &overview.status {
            TwoFactorStatus::Enrolled { yubikeys, .. } => {
                (true, yubikeys.iter().map(|k| k.as_str().to_owned()).collect())
            }
            _ => (false, Vec::new()),
        };
        UserRow {
            id: overview.user.id.0,
            email: overview.user.email.to_string(),
            role: overview.user.role.as_str(),
            status,
            enrolled,
            yubikeys,
        }
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
    enrolled: u64,
    total: u64,
    /// Only the users not enrolled are listed.
    not_enrolled_only: bool,
    /// The link to the next page of users, when there is one.
    next: Option<String>,
    /// E-mails to the account's users given up on: (to, subject, queued on, last error).
    undelivered: Vec<(String, String, String, String)>,
}

async fn render<S: Store, M: Mailer>(
    state: &SharedState<S, M>,
    visitor: &Visitor,
    notice: Option<Notice>,
    query: &UsersQuery,
) -> AppResult<UsersPage> {
    let not_enrolled_only = query.show == "not-enrolled";
    let page =
        usecase::users_overview_page(&state.services, &visitor.user, &query.after, not_enrolled_only).await?;
    let account =
        state.services.store.find_account(visitor.user.account_id).await?.ok_or(AppError::NotFound)?;
    let mut layout = visitor.layout("Users & Security", USERS_AND_SECURITY_PATH);
    if let Some(notice) = notice {
        layout = layout.with_notice(notice);
    }
    let next = page.next.map(|after| {
        let show = if not_enrolled_only { "not-enrolled" } else { "" };
        let query =
            serde_urlencoded::to_string([("show", show), ("after", after.as_str())]).unwrap_or_default();
        format!("{USERS_AND_SECURITY_PATH}?{query}")
    });
    Ok(UsersPage {
        layout,
        csrf: visitor.csrf(),
        account_name: account.name.as_str().to_owned(),
        active: account.activation.is_some(),
        own_id: visitor.user.id.0,
        enrolled: page.enrolled,
        total: page.total,
        rows: page.rows.iter().map(UserRow::from_overview).collect(),
        not_enrolled_only,
        next,
        undelivered: usecase::undelivered_mail(&state.services, &visitor.user)
            .await?
            .into_iter()
            .map(|mail| {
                let error = mail.last_error.unwrap_or_default();
                (mail.message.to.to_string(), mail.message.subject, mail.created_at.date(), error)
            })
            .collect(),
    })
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    #[serde(default)]
    show: String,
    /// The page: users whose address comes after this.
    #[serde(default)]
    after: String,
}

/// Users & Security, a page at a time; `?show=not-enrolled` lists only those still without a factor.
pub async fn users_page<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
    Query(query): Query<UsersQuery>,
) -> AppResult<Response> {
    Ok(render(&state, &visitor, None, &query).await?.into_response())
}

/// The users and their state as CSV (e-mail address, role, state), for a spreadsheet.
pub async fn users_csv<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    Member(visitor): Member,
) -> AppResult<Response> {
    let overview = usecase::users_overview(&state.services, &visitor.user).await?;
    let mut csv = String::from("email,role,enrolled,state\r\n");
    for row in overview.iter().map(UserRow::from_overview) {
        let enrolled = if row.enrolled { "yes" } else { "no" };
        csv.push_str(
            &[csv_cell(&row.email), csv_cell(row.role), enrolled.into(), csv_cell(&row.status)].join(","),
        );
        csv.push_str("\r\n");
    }
    let headers = [
        (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
        (axum::http::header::CONTENT_DISPOSITION, "attachment; filename=\"users.csv\""),
    ];
    Ok((headers, csv).into_response())
}

/// One RFC 4180 field: quoted when it holds a comma, a quote or a line break; a leading `=`, `+`, `-` or
/// `@` is prefixed with `'` so that a spreadsheet never runs it as a formula.
fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@']) { format!("'{text}") } else { text.to_owned() };
    if text.contains([',', '"', '\r', '\n']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text }
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
    Ok((status, render(&state, &visitor, Some(notice), &UsersQuery::default()).await?).into_response())
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
    Ok((status, render(state, visitor, Some(notice), &UsersQuery::default()).await?).into_response())
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_when_needed_and_never_formulas() {
        assert_eq!(csv_cell("alice@acme.example"), "alice@acme.example");
        assert_eq!(csv_cell("enrolled: app, YubiKey"), "\"enrolled: app, YubiKey\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_cell("@SUM(1)"), "'@SUM(1)");
        assert_eq!(csv_cell("-2+3,x"), "\"'-2+3,x\"");
    }
}

#[derive(Deserialize)]
pub struct ResendForm {
    user_id: String,
}

/// "Re-send password link" for a user who has not chosen a password yet.
pub async fn resend_password_link<S: Store, M: Mailer>(
    State(state): State<SharedState<S, M>>,
    ClientOrigin(origin): ClientOrigin,
    Member(visitor): Member,
    SessionForm { form, .. }: SessionForm<ResendForm>,
) -> AppResult<Response> {
    let user_id = keyward_core::ids::UserId(form.user_id.trim().parse().map_err(|_| AppError::NotFound)?);
    let notice = match usecase::resend_password_link(&state.services, &visitor.user, user_id, &origin).await {
        Ok(email) => Notice::success(format!("We sent {email} a new link to choose their password.")),
        Err(failure) => notice_or_error(failure)?,
    };
    users_page_with(&state, &visitor, notice).await
}
