//! The account's people: the "Users & Security" overview, adding users, and passwords set or reset from
//! an e-mailed link (a reset never bypasses the second factor: it only changes the password).

use super::{Failure, Origin, Services, actor, mails};
use crate::UnixTime;
use crate::factor::SecurityKeyName;
use crate::invitation::{Invitation, Purpose};
use crate::mail::Mailer;
use crate::password::Password;
use crate::ports::PasswordHasher;
use crate::store::{FactorSummary, Store, StoreError, UsersPage};
use crate::throttle::{self, Admission, ThrottlePolicy};
use crate::token::Token;
use crate::user::{Email, Role, User};
use crate::yubico::PublicId;

/// A user's two-factor state as the admin sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TwoFactorStatus {
    NotInvited,
    /// An enrollment e-mail went out on this date and was not used yet; its link works until `expires`.
    Invited {
        at: UnixTime,
        expires: UnixTime,
    },
    Enrolled {
        totp: bool,
        yubikeys: Vec<PublicId>,
        /// The names of the user's security keys and passkeys.
        security_keys: Vec<SecurityKeyName>,
        /// Unused recovery codes.
        recovery_codes: usize,
    },
}

/// One row of "Users & Security".
#[derive(Debug, Clone)]
pub struct UserOverview {
    pub user: User,
    pub status: TwoFactorStatus,
}

/// An open password link and whose it is.
#[derive(Debug, Clone)]
pub struct PasswordLink {
    pub invitation: Invitation,
    pub user: User,
}

pub(crate) fn require_admin(user: &User) -> Result<(), Failure> {
    if user.role == Role::Admin { Ok(()) } else { Err(Failure::Forbidden) }
}

/// The admin's own account's users, each with their two-factor state.
pub async fn users_overview<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
) -> Result<Vec<UserOverview>, Failure> {
    require_admin(admin)?;
    account_users(services, admin.account_id).await
}

/// How many users Users & Security lists on a page.
pub const USERS_PER_PAGE: u32 = 100;

/// One page of Users & Security: the rows, the account's totals, and where the next page starts.
#[derive(Debug, Clone)]
pub struct UsersOverviewPage {
    pub rows: Vec<UserOverview>,
    pub total: u64,
    pub enrolled: u64,
    /// The address after which the next page starts, when there is one.
    pub next: Option<String>,
}

/// A page of the admin's account's users, by address after `after` ("" for the first), optionally only
/// those not enrolled, with the account's totals; the queries are the same few whatever the account's size.
pub async fn users_overview_page<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    after: &str,
    not_enrolled_only: bool,
) -> Result<UsersOverviewPage, Failure> {
    let (rows, next) = users_page(services, admin, after, not_enrolled_only).await?;
    // The one query that reads every user of the account (BENCHMARKS.md, "Admin pages").
    let (total, enrolled) = services.store.account_enrollment(admin.account_id).await?;
    Ok(UsersOverviewPage { rows, total, enrolled, next })
}

/// [`users_overview_page`] without the totals, for the pages that do not show them (the TOTP, YubiKey
/// and security keys tabs): the rows, and the address the next page starts after.
pub async fn users_page<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    after: &str,
    not_enrolled_only: bool,
) -> Result<(Vec<UserOverview>, Option<String>), Failure> {
    require_admin(admin)?;
    let page = UsersPage { after: after.trim().to_lowercase(), limit: USERS_PER_PAGE + 1, not_enrolled_only };
    let mut rows = services.store.account_factors_page(admin.account_id, services.now(), &page).await?;
    let next = if rows.len() > USERS_PER_PAGE as usize {
        rows.truncate(USERS_PER_PAGE as usize);
        rows.last().map(|(user, _)| user.email.to_string())
    } else {
        None
    };
    let rows =
        rows.into_iter().map(|(user, summary)| UserOverview { user, status: status_of(summary) }).collect();
    Ok((rows, next))
}

/// An account's users, each with their two-factor state.
pub(crate) async fn account_users<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account_id: crate::ids::AccountId,
) -> Result<Vec<UserOverview>, Failure> {
    let rows = services.store.account_factors(account_id, services.now()).await?;
    Ok(rows.into_iter().map(|(user, summary)| UserOverview { user, status: status_of(summary) }).collect())
}

/// A user's two-factor state from what the store summarised.
fn status_of(summary: FactorSummary) -> TwoFactorStatus {
    if summary.has_factor() {
        return TwoFactorStatus::Enrolled {
            totp: summary.app,
            yubikeys: summary.yubikeys,
            security_keys: summary.security_keys,
            recovery_codes: summary.recovery_codes,
        };
    }
    match summary.invitation {
        Some((at, expires)) => TwoFactorStatus::Invited { at, expires },
        None => TwoFactorStatus::NotInvited,
    }
}

/// Sends a link of `purpose` to `user`, voiding the user's earlier link of the same purpose.
pub(crate) async fn send_link<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    purpose: Purpose,
    lifetime_secs: u64,
) -> Result<String, Failure> {
    let now = services.now();
    let token = Token::generate(32, &mut services.rng());
    let expires = UnixTime(now.seconds().saturating_add(lifetime_secs));
    services.store.insert_invitation(user.id, purpose, &token.hash(), now, expires).await?;
    let path = match purpose {
        Purpose::Enrollment => "enroll",
        Purpose::SetPassword | Purpose::ResetPassword => "password",
    };
    Ok(format!("{}/{path}/{}", services.settings.public_url, token.as_str()))
}

/// Adds a user to the admin's account and e-mails them a link to choose their password; returns the
/// address written to.
///
/// One address is one login in one account (a login is an address and a password, with no account to
/// pick). An address that already has a login in another account is not added: its owner is told by
/// e-mail, and the admin gets the same answer as for a new user, so no account learns of another's users.
pub async fn add_user<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    email: &str,
    origin: &Origin,
) -> Result<Email, Failure> {
    require_admin(admin)?;
    add_user_as(services, admin.account_id, &actor(admin), email, origin).await
}

/// [`add_user`] for the account `account_id`, recorded in the audit log as done by `by`.
pub(crate) async fn add_user_as<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account_id: crate::ids::AccountId,
    by: &str,
    email: &str,
    origin: &Origin,
) -> Result<Email, Failure> {
    services
        .store
        .atomically(async {
            let email = Email::parse(email)?;
            let account = services.store.find_account(account_id).await?.ok_or(Failure::NotFound)?;
            let inserted =
                services.store.insert_user(account_id, &email, Role::User, None, services.now()).await;
            let user = match inserted {
                Ok(user) => user,
                Err(StoreError::Duplicate(_)) => {
                    let existing =
                        services.store.find_user_by_email(&email).await?.ok_or(Failure::NotFound)?;
                    if existing.account_id == account_id {
                        return Err(Failure::Refused(format!("{email} is already a user of this account.")));
                    }
                    services.queue_mail(mails::already_elsewhere(&email, account.name.as_str())).await?;
                    return Ok(email);
                }
                Err(error) => return Err(error.into()),
            };
            let link =
                send_link(services, &user, Purpose::SetPassword, services.settings.enrollment_link_secs)
                    .await?;
            services.queue_mail(mails::set_password(&user.email, account.name.as_str(), &link)).await?;
            services
                .audit(
                    account_id,
                    by,
                    format!("user:{}:{}", user.id, user.email),
                    "user.added",
                    origin,
                    String::new(),
                )
                .await?;
            Ok(user.email)
        })
        .await
}

/// "Re-send password link" on Users & Security, for a user who has not chosen a password yet: a new link
/// (the old one stops working) in a new e-mail.
pub async fn resend_password_link<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    user_id: crate::ids::UserId,
    origin: &Origin,
) -> Result<Email, Failure> {
    services.store.atomically(async {
    require_admin(admin)?;
    let user = super::two_factor::user_in_account(services, admin.account_id, user_id).await?;
    if user.password_hash.is_some() {
        return Err(Failure::Refused(format!(
            "{} has chosen a password already; if it is forgotten, \"Forgot your password?\" on the login page sends a new one.",
            user.email
        )));
    }
    let account = services.store.find_account(admin.account_id).await?.ok_or(Failure::NotFound)?;
    let link =
        send_link(services, &user, Purpose::SetPassword, services.settings.enrollment_link_secs).await?;
    services.queue_mail(mails::set_password(&user.email, account.name.as_str(), &link)).await?;
    let target = format!("user:{}:{}", user.id, user.email);
    services.audit(account.id, &actor(admin), target, "password_link.sent", origin, String::new()).await?;
    Ok(user.email)
    })
    .await
}

/// "Forgot password": e-mails a reset link when the address is known, and answers the same either way.
pub async fn forgot_password<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    email: &str,
) -> Result<(), Failure> {
    let Ok(email) = Email::parse(email) else { return Ok(()) };
    // Throttled like password guesses, so the form cannot be used to flood someone's mailbox.
    let key = throttle::key("reset:email", &[email.as_str()]);
    if let Admission::Wait(seconds) =
        throttle::admit(&services.store, &key, ThrottlePolicy::RESET_EMAIL, services.now()).await?
    {
        return Err(Failure::Throttled(seconds));
    }
    if let Some(user) = services.store.find_user_by_email(&email).await? {
        let link =
            send_link(services, &user, Purpose::ResetPassword, services.settings.password_link_secs).await?;
        services.queue_mail(mails::reset_password(&user.email, &link)).await?;
    }
    Ok(())
}

/// Resolves a password link (a new user's first password, or a reset).
pub async fn open_password_link<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    token: &Token,
) -> Result<PasswordLink, Failure> {
    let invitation = services.store.find_open_invitation(&token.hash(), services.now()).await?;
    let invitation = invitation
        .filter(|i| matches!(i.purpose, Purpose::SetPassword | Purpose::ResetPassword))
        .ok_or_else(|| Failure::Refused("This link has expired or was already used.".into()))?;
    let user = services.store.find_user(invitation.user_id).await?.ok_or(Failure::NotFound)?;
    Ok(PasswordLink { invitation, user })
}

/// Sets the password from a link, once. Every session of the user ends; the next login asks for the
/// second factor as before.
pub async fn set_password<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    token: &Token,
    password: &str,
    origin: &Origin,
) -> Result<User, Failure> {
    let link = open_password_link(services, token).await?;
    let password = Password::parse(password)?;
    let hash = services.hasher.hash(password).await?;
    // The slow hash first, outside the transaction; then every write at once.
    services
        .store
        .atomically(async move {
            if !services.store.close_invitation(link.invitation.id, services.now()).await? {
                return Err(Failure::Refused("This link has expired or was already used.".into()));
            }
            services.store.set_password(link.user.id, &hash).await?;
            services.store.delete_sessions_of(link.user.id, None).await?;
            services.store.forget_browsers(link.user.id).await?;
            let reset = link.invitation.purpose == Purpose::ResetPassword;
            if reset {
                // Whoever reset it may only hold the mailbox: no link sent before (a first-password link, an
                // enrollment link) works after a reset, and the owner hears of it.
                services.store.void_open_invitations(link.user.id, services.now()).await?;
                services.queue_mail(mails::password_changed(&link.user.email)).await?;
            }
            let action = if reset { "password.reset" } else { "password.set" };
            services
                .audit(
                    link.user.account_id,
                    &actor(&link.user),
                    format!("user:{}", link.user.id),
                    action,
                    origin,
                    String::new(),
                )
                .await?;
            Ok(link.user)
        })
        .await
}
