//! A person's own security (recovery codes left, new codes after a step-up) and what an account's admins
//! do for the others: read the account's audit log, reset another user's factors after their own step-up
//! (never their own: that is what support's console is for).

use super::enrollment::{accept_first_code, bind_totp, new_pending_totp, recovery_codes, secret_of};
use super::people::require_admin;
use super::support::reset_factors_of;
use super::two_factor::{account_of, register_yubikey_as, require_fresh_second_factor, user_in_account};
use super::{Enrolled, EnrollmentSecret, Failure, Origin, Services, TwoFactorStatus, actor, mails};
use crate::UnixTime;
use crate::account::Methods;
use crate::audit::AuditEvent;
use crate::factor::{TotpFactor, totp_seal_context};
use crate::ids::UserId;
use crate::mail::Mailer;
use crate::otp::Secret;
use crate::password::Password;
use crate::ports::PasswordHasher;
use crate::session::{Session, SignIn};
use crate::store::{AuditQuery, Store};
use crate::throttle::{self, ThrottlePolicy};
use crate::token::Token;
use crate::user::{Email, User};

/// A person setting up an authenticator app for themselves while logged in (an admin before activating,
/// anyone re-enrolling from My security): their password again, and, while they have a working factor, a
/// second factor proven in the last five minutes. Returns the new app's QR secret.
pub async fn begin_own_app<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
    password: &str,
) -> Result<EnrollmentSecret, Failure> {
    let account = services.store.find_account(user.account_id).await?.ok_or(Failure::NotFound)?;
    if !account.methods.totp {
        return Err(Failure::Refused(
            "This account does not use authenticator apps: register a YubiKey on the YubiKey tab.".into(),
        ));
    }
    if services.has_working_factor(user).await? {
        require_fresh_second_factor(services, session)?;
    }
    // Guessing the password here spends from the same budget as guessing it at the login.
    let key = throttle::key("password:user", &[user.email.as_str()]);
    let budgets = [(key.as_str(), ThrottlePolicy::PASSWORD_USER)];
    if let Err(wait) = throttle::admit_all(&services.store, &budgets, services.now()).await? {
        return Err(Failure::Throttled(wait));
    }
    let right = match Password::parse(password) {
        Ok(password) => services.hasher.verify(user.password_hash.clone(), password).await,
        Err(_) => false,
    };
    if !right {
        return Err(Failure::Refused("That password is not right.".into()));
    }
    throttle::refund_all(&services.store, &budgets).await?;
    new_pending_totp(services, user).await
}

/// "Verify" after [`begin_own_app`]: the first code confirms the app made in this session, which replaces
/// any other app; the session proves a fresh second factor from now on, other sessions end, and the
/// person gets new recovery codes, once.
pub async fn finish_own_app<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
    typed: &str,
    origin: &Origin,
) -> Result<Enrolled, Failure> {
    services
        .store
        .atomically(async {
            if services.has_working_factor(user).await? {
                require_fresh_second_factor(services, session)?;
            }
            let factor = own_pending_app(services, user, session).await?.ok_or_else(|| {
                Failure::Refused("Start again: type your password to get a QR code.".into())
            })?;
            accept_first_code(services, user, &factor, typed).await?;
            let token = super::auth::complete_session(services, session).await?;
            let recovery_codes =
                bind_totp(services, user, &factor, &actor(user), origin, Some(&token.hash())).await?;
            Ok(Enrolled { recovery_codes, token })
        })
        .await
}

/// "Register a YubiKey" on My security: a touch of the person's own key (one whose secret was imported,
/// or that YubiCloud can check), where the account allows YubiKeys; while they have a working factor,
/// after a step-up. The touch proves the key, so the session counts it as a fresh second factor.
pub async fn register_own_yubikey<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
    otp: &str,
    origin: &Origin,
) -> Result<(crate::factor::Yubikey, Token), Failure> {
    if services.has_working_factor(user).await? {
        require_fresh_second_factor(services, session)?;
    }
    let key = register_yubikey_as(
        services,
        user.account_id,
        &actor(user),
        user.id,
        otp,
        origin,
        Some(&session.id_hash),
    )
    .await?;
    let token = super::auth::complete_session(services, session).await?;
    Ok((key, token))
}

/// The app [`begin_own_app`] made in this session and not confirmed yet, to show its QR code again after
/// a mistyped code.
pub async fn pending_own_app<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
) -> Result<Option<EnrollmentSecret>, Failure> {
    let Some(factor) = own_pending_app(services, user, session).await? else { return Ok(None) };
    let secret = services.keys.open(&factor.secret, &totp_seal_context(user.id))?;
    Ok(Some(secret_of(services, user, Secret::from_bytes(&secret)?)?))
}

/// The newest app made in this session and not confirmed yet.
pub(crate) async fn own_pending_app<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
) -> Result<Option<TotpFactor>, Failure> {
    let factors = services.store.totp_factors(user.id).await?;
    Ok(factors
        .into_iter()
        .filter(|f| f.confirmed_at.is_none() && f.created_at >= session.created_at)
        .max_by_key(|f| (f.created_at, f.id)))
}

/// One of a person's factors as "My security" lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorLine {
    /// "Authenticator app", "YubiKey vv…" or "Security key "Blue YubiKey"".
    pub name: String,
    pub added: Option<UnixTime>,
    pub last_used: Option<UnixTime>,
    /// A security key's id, which the person may remove it by.
    pub security_key: Option<crate::ids::FactorId>,
}

/// What "My security" shows: the factors, unused recovery codes, and the latest sign-ins.
#[derive(Debug, Clone)]
pub struct MySecurity {
    /// The person's state as Users & Security words it (enrolled with what, codes left), when enrolled.
    pub status: TwoFactorStatus,
    pub factors: Vec<FactorLine>,
    pub recovery_codes_left: usize,
    pub sign_ins: Vec<SignIn>,
    /// The account's methods: which factors the person may set up here.
    pub methods: Methods,
    /// The account allows "Remember this browser".
    pub remembering: bool,
}

/// How many sign-ins "My security" lists.
const RECENT_SIGN_INS: u32 = 10;

pub async fn my_security<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<MySecurity, Failure> {
    let sign_ins = services.store.recent_sign_ins(user.id, 50).await?;
    let mut factors = Vec::new();
    for factor in services.store.totp_factors(user.id).await? {
        let Some(confirmed) = factor.confirmed_at else { continue };
        let last_used = factor.last_step.map(|step| {
            UnixTime(factor.params.t0().seconds().saturating_add(step.saturating_mul(factor.params.period())))
        });
        factors.push(FactorLine {
            name: "Authenticator app".into(),
            added: Some(confirmed),
            last_used,
            security_key: None,
        });
    }
    let app = !factors.is_empty();
    let yubikeys = services.store.yubikeys_of(user.id).await?;
    for key in &yubikeys {
        let id = key.public_id.as_str();
        let last_used = sign_ins.iter().find(|s| s.factor == "yubikey" && s.detail == id).map(|s| s.at);
        factors.push(FactorLine {
            name: format!("YubiKey {id}"),
            added: key.registered_at,
            last_used,
            security_key: None,
        });
    }
    let security_keys = services.store.security_keys_of(user.id).await?;
    for key in &security_keys {
        factors.push(FactorLine {
            name: format!("Security key \"{}\"", key.name.as_str()),
            added: Some(key.created_at),
            last_used: key.last_used_at,
            security_key: Some(key.id),
        });
    }
    let recovery_codes_left = recovery_codes_left(services, user).await?;
    let status = if factors.is_empty() {
        TwoFactorStatus::NotInvited
    } else {
        TwoFactorStatus::Enrolled {
            totp: app,
            yubikeys: yubikeys.into_iter().map(|key| key.public_id).collect(),
            security_keys: security_keys.into_iter().map(|key| key.name).collect(),
            recovery_codes: recovery_codes_left,
        }
    };
    let account = services.store.find_account(user.account_id).await?.ok_or(Failure::NotFound)?;
    Ok(MySecurity {
        status,
        factors,
        recovery_codes_left,
        sign_ins: sign_ins.into_iter().take(RECENT_SIGN_INS as usize).collect(),
        methods: account.methods,
        remembering: account.remember_days > 0,
    })
}

/// "Forget all browsers": every remembered browser of the person asks for the second factor again.
pub async fn forget_browsers<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    origin: &Origin,
) -> Result<u64, Failure> {
    services
        .store
        .atomically(async {
            let forgotten = services.store.forget_browsers(user.id).await?;
            let target = format!("user:{}", user.id);
            services
                .audit(
                    user.account_id,
                    &actor(user),
                    target,
                    "browsers.forgotten",
                    origin,
                    format!("{forgotten} browsers"),
                )
                .await?;
            Ok(forgotten)
        })
        .await
}

/// The longest an admin may let a browser skip the second factor.
pub const MAX_REMEMBER_DAYS: u8 = 30;

/// The account's "Remember this browser" setting: 1 to 30 days, or 0 for off (which also stops every
/// browser remembered before). A sensitive change: after a step-up.
pub async fn set_remember_days<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    session: &Session,
    typed: &str,
    origin: &Origin,
) -> Result<u8, Failure> {
    services
        .store
        .atomically(async {
            require_admin(admin)?;
            let days = typed.trim();
            let days: u8 = if days.is_empty() { 0 } else { days.parse().unwrap_or(u8::MAX) };
            if days > MAX_REMEMBER_DAYS {
                return Err(Failure::Refused(format!(
                    "Remember browsers for 1 to {MAX_REMEMBER_DAYS} days, or 0 to turn it off."
                )));
            }
            let account = account_of(services, admin).await?;
            if account.remember_days == days {
                return Ok(days);
            }
            require_fresh_second_factor(services, session)?;
            services.store.set_remember_days(account.id, days).await?;
            let target = format!("account:{}", account.id);
            services
                .audit(
                    account.id,
                    &actor(admin),
                    target,
                    "two_factor.remember_days",
                    origin,
                    format!("{days} days"),
                )
                .await?;
            Ok(days)
        })
        .await
}

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
    services
        .store
        .atomically(async {
            require_fresh_second_factor(services, session)?;
            if !services.has_working_factor(user).await? {
                return Err(Failure::Refused("Set up an authenticator app or a YubiKey first.".into()));
            }
            let (codes, hashes) = recovery_codes(services);
            services.store.replace_recovery_codes(user.id, &hashes).await?;
            services.queue_mail(mails::recovery_codes_replaced(&user.email)).await?;
            let target = format!("user:{}", user.id);
            services
                .audit(
                    user.account_id,
                    &actor(user),
                    target,
                    "recovery_codes.regenerated",
                    origin,
                    String::new(),
                )
                .await?;
            Ok(codes)
        })
        .await
}

/// The audit log's filters as typed on the page; empty means "any".
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// A user of the account: their e-mail address, or their id (as older links carry it); empty for anyone.
    pub user: String,
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
    let user = match filter.user.trim() {
        "" => None,
        typed => match typed.parse::<i64>() {
            Ok(id) => Some(UserId(id)),
            Err(_) => {
                let unknown =
                    || Failure::Refused(format!("No user of this account has the address {typed:?}."));
                let email = Email::parse(typed).map_err(|_| unknown())?;
                match services.store.find_user_by_email(&email).await? {
                    Some(found) if found.account_id == admin.account_id => Some(found.id),
                    _ => return Err(unknown()),
                }
            }
        },
    };
    let action = filter.action.trim();
    let query = AuditQuery {
        user,
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
    services
        .store
        .atomically(async {
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
        })
        .await
}
