//! A person's own security (recovery codes left, new codes after a step-up) and what an account's admins
//! do for the others: read the account's audit log, reset another user's factors after their own step-up
//! (never their own: that is what support's console is for).

use super::enrollment::recovery_codes;
use super::people::require_admin;
use super::support::reset_factors_of;
use super::two_factor::{account_of, require_fresh_second_factor, user_in_account};
use super::{Failure, Origin, Services, actor, mails};
use crate::UnixTime;
use crate::audit::AuditEvent;
use crate::ids::UserId;
use crate::mail::Mailer;
use crate::ports::PasswordHasher;
use crate::session::Session;
use crate::store::{AuditQuery, Store};
use crate::user::User;

/// Events on one page of the audit log.
pub const AUDIT_PAGE: u32 = 50;

/// How many of the user's recovery codes are still unused.
pub async fn recovery_codes_left<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<usize, Failure> {
    Ok(services.store.recovery_codes(user.id).await?.iter().filter(|code| code.used_at.is_none()).count())
}

/// "Generate new codes": after a step-up, ten new recovery codes (returned, to show once) replace the old.
pub async fn regenerate_recovery_codes<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
    origin: &Origin,
) -> Result<Vec<String>, Failure> {
    require_fresh_second_factor(services, session)?;
    if !services.has_working_factor(user).await? {
        return Err(Failure::Refused("Set up an authenticator app or a YubiKey first.".into()));
    }
    let (codes, hashes) = recovery_codes(services);
    services.store.replace_recovery_codes(user.id, &hashes).await?;
    services.mailer.send_later(mails::recovery_codes_replaced(&user.email)).await?;
    let target = format!("user:{}", user.id);
    services
        .audit(user.account_id, &actor(user), target, "recovery_codes.regenerated", origin, String::new())
        .await?;
    Ok(codes)
}

/// The audit log's filters as typed on the page; empty means "any".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A user of the account, by id.
    pub user: Option<UserId>,
    /// The start of an action ("totp", "disable_request.approved").
    pub action: String,
    /// From this date (`YYYY-MM-DD`, UTC), inclusive.
    pub from: String,
    /// To this date, inclusive.
    pub to: String,
    /// The page: events numbered below this.
    pub before: Option<u64>,
}

/// One page of an account's audit log, newest first, and where the next page starts.
#[derive(Debug, Clone)]
pub struct AuditPage {
    pub events: Vec<AuditEvent>,
    /// The `before` of the next (older) page, when there is one.
    pub next: Option<u64>,
}

/// The admin's own account's audit log: filtered by user, action and dates, [`AUDIT_PAGE`] events a page.
pub async fn account_audit_log<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    filter: &AuditFilter,
) -> Result<AuditPage, Failure> {
    require_admin(admin)?;
    let date = |text: &str| -> Result<Option<UnixTime>, Failure> {
        if text.trim().is_empty() { Ok(None) } else { Ok(Some(UnixTime::from_date(text)?)) }
    };
    let from = date(&filter.from)?;
    // "To" includes that whole day.
    let until = date(&filter.to)?.map(|day| UnixTime(day.seconds() + 86_400));
    if let (Some(from), Some(until)) = (from, until)
        && from >= until
    {
        return Err(Failure::Refused("The \"from\" date must not be after the \"to\" date.".into()));
    }
    let action = filter.action.trim();
    let query = AuditQuery {
        user: filter.user,
        action: (!action.is_empty()).then(|| action.chars().take(100).collect()),
        from,
        until,
        before: filter.before,
        // One more than a page tells whether another page follows.
        limit: AUDIT_PAGE + 1,
    };
    let mut events = services.store.account_audit(admin.account_id, &query).await?;
    let next = if events.len() > AUDIT_PAGE as usize {
        events.truncate(AUDIT_PAGE as usize);
        events.last().map(|event| event.seq)
    } else {
        None
    };
    Ok(AuditPage { events, next })
}

/// "Reset 2FA" for another user of the admin's account, after the admin's own step-up: their factors and
/// codes go, their sessions end, and a fresh enrollment e-mail follows where the account uses apps.
pub async fn reset_user_factors<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    session: &Session,
    user_id: UserId,
    origin: &Origin,
) -> Result<User, Failure> {
    require_admin(admin)?;
    let user = user_in_account(services, admin.account_id, user_id).await?;
    if user.id == admin.id {
        return Err(Failure::Refused(
            "You cannot reset your own two-factor authentication. If you lost your device, use \"Lost your \
             device?\" when you log in: support will follow your account's policy."
                .into(),
        ));
    }
    require_fresh_second_factor(services, session)?;
    let account = account_of(services, admin).await?;
    reset_factors_of(services, &account, &user, &actor(admin), origin).await?;
    Ok(user)
}
