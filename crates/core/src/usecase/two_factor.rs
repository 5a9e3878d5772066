//! "Configure two-factor authentication": methods and policy, enrollment e-mails, YubiKey registration,
//! activation and deactivation. Sensitive changes need a second factor proven in the last 5 minutes.

use super::people::{require_admin, send_link};
use super::{Failure, Origin, Services, YubikeyJudgement, actor, mails};
use crate::UnixTime;
use crate::account::{Account, Activation, DisablePolicy, Methods};
use crate::factor::Yubikey;
use crate::ids::{AccountId, UserId};
use crate::invitation::Purpose;
use crate::mail::Mailer;
use crate::ports::PasswordHasher;
use crate::session::Session;
use crate::store::Store;
use crate::token::TokenHash;
use crate::user::User;
use crate::yubico::{PublicId, YubikeyOtp};

pub(crate) async fn account_of<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<Account, Failure> {
    services.store.find_account(user.account_id).await?.ok_or(Failure::NotFound)
}

pub(crate) fn require_fresh_second_factor<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    session: &Session,
) -> Result<(), Failure> {
    if session.has_fresh_second_factor(services.now()) { Ok(()) } else { Err(Failure::StepUpRequired) }
}

/// A user of the admin's own account; anyone else is "not found".
pub(crate) async fn user_in_account<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account_id: AccountId,
    user_id: UserId,
) -> Result<User, Failure> {
    let user = services.store.find_user(user_id).await?;
    user.filter(|user| user.account_id == account_id).ok_or(Failure::NotFound)
}

/// "Save changes": the methods and the disable policy. Once 2FA is active, changing them needs a fresh
/// second factor.
pub async fn configure_two_factor<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    session: &Session,
    methods: Methods,
    policy: &str,
    origin: &Origin,
) -> Result<Account, Failure> {
    services
        .store
        .atomically(async {
            require_admin(admin)?;
            if !methods.totp && !methods.yubikey && !methods.webauthn {
                return Err(Failure::Refused(
                    "Choose at least one method: TOTP apps, YubiKey, security keys and passkeys.".into(),
                ));
            }
            let policy = DisablePolicy::parse(policy)?;
            let account = account_of(services, admin).await?;
            let changed = account.methods != methods || account.disable_policy.as_ref() != Some(&policy);
            if account.activation.is_some() && changed {
                require_fresh_second_factor(services, session)?;
            }
            services.store.update_two_factor_settings(account.id, methods, &policy).await?;
            let detail =
                format!("totp={} yubikey={} webauthn={}", methods.totp, methods.yubikey, methods.webauthn);
            services
                .audit(
                    account.id,
                    &actor(admin),
                    format!("account:{}", account.id),
                    "two_factor.configured",
                    origin,
                    detail,
                )
                .await?;
            account_of(services, admin).await
        })
        .await
}

/// Whom to send enrollment e-mails to.
#[derive(Debug, Clone, Copy)]
pub enum Recipients {
    One(UserId),
    /// Every user of the account who has no factor yet.
    NotEnrolled,
}

/// E-mails enrollment links (a new link voids the user's earlier one); returns how many went out.
pub async fn send_enrollment<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    recipients: Recipients,
    origin: &Origin,
) -> Result<usize, Failure> {
    require_admin(admin)?;
    send_enrollment_as(services, admin.account_id, &actor(admin), recipients, origin).await
}

/// [`send_enrollment`] in the account `account_id`, recorded as done by `by`.
pub(crate) async fn send_enrollment_as<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account_id: AccountId,
    by: &str,
    recipients: Recipients,
    origin: &Origin,
) -> Result<usize, Failure> {
    services
        .store
        .atomically(async {
            let account = services.store.find_account(account_id).await?.ok_or(Failure::NotFound)?;
            if !account.methods.enroll_by_link() {
                return Err(Failure::Refused(
                    "Turn on \"TOTP apps on your smartphone\" or \"Security keys and passkeys\" first."
                        .into(),
                ));
            }
            let users = match recipients {
                Recipients::One(id) => vec![user_in_account(services, account_id, id).await?],
                Recipients::NotEnrolled => without_factor(services, account.id).await?,
            };
            for user in &users {
                email_enrollment(services, &account, user).await?;
                services
                    .audit(
                        account.id,
                        by,
                        format!("user:{}:{}", user.id, user.email),
                        "totp.enrollment_sent",
                        origin,
                        String::new(),
                    )
                    .await?;
            }
            Ok(users.len())
        })
        .await
}

pub(crate) async fn email_enrollment<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account: &Account,
    user: &User,
) -> Result<(), Failure> {
    let lifetime = services.settings.enrollment_link_secs;
    let link = send_link(services, user, Purpose::Enrollment, lifetime).await?;
    services
        .queue_mail(mails::enrollment(
            &user.email,
            account.name.as_str(),
            &link,
            lifetime / 3600,
            user.role == crate::user::Role::Admin,
            account.methods,
        ))
        .await?;
    Ok(())
}

/// "Register": binds the key that typed `otp` to the user, after checking the OTP.
pub async fn register_yubikey<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    session: &Session,
    user_id: UserId,
    otp: &str,
    origin: &Origin,
) -> Result<Yubikey, Failure> {
    require_admin(admin)?;
    let keep = (user_id == admin.id).then_some(&session.id_hash);
    register_yubikey_as(services, admin.account_id, &actor(admin), user_id, otp, origin, keep).await
}

/// [`register_yubikey`] in the account `account_id`, recorded as done by `by`; the user's sessions but
/// `keep` end.
pub(crate) async fn register_yubikey_as<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account_id: AccountId,
    by: &str,
    user_id: UserId,
    otp: &str,
    origin: &Origin,
    keep: Option<&TokenHash>,
) -> Result<Yubikey, Failure> {
    let account = services.store.find_account(account_id).await?.ok_or(Failure::NotFound)?;
    if !account.methods.yubikey {
        return Err(Failure::Refused("Turn on \"YubiKey\" first.".into()));
    }
    let user = user_in_account(services, account_id, user_id).await?;
    let otp = YubikeyOtp::parse(otp)?;
    match services.judge_yubikey_otp(&otp).await? {
        YubikeyJudgement::Accepted => {}
        YubikeyJudgement::Uncheckable => {
            return Err(Failure::Refused(
                "This YubiKey cannot be checked: its secret has not been imported (keyward yubikey import) \
                 and YubiCloud validation is not configured (KEYWARD_YUBICLOUD_CLIENT_ID)."
                    .into(),
            ));
        }
        YubikeyJudgement::Replayed => {
            return Err(Failure::Refused("That OTP was already used: touch the key again.".into()));
        }
        YubikeyJudgement::Invalid => {
            return Err(Failure::Refused("That OTP is not valid for this key.".into()));
        }
    }
    let key = services.store.register_yubikey(otp.public_id(), user.id, services.now()).await?;
    services.store.delete_sessions_of(user.id, keep).await?;
    services.store.forget_browsers(user.id).await?;
    let change = format!("The YubiKey {} was registered to your login.", key.public_id.as_str());
    services.queue_mail(mails::factor_changed(&user.email, &change)).await?;
    let target = format!("user:{}:{}", user.id, user.email);
    services
        .audit(account_id, by, target, "yubikey.registered", origin, key.public_id.as_str().to_owned())
        .await?;
    Ok(key)
}

/// Removes a key from its user; needs a fresh second factor, and ends the user's other sessions.
pub async fn remove_yubikey<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    session: &Session,
    public_id: &str,
    origin: &Origin,
) -> Result<(), Failure> {
    services
        .store
        .atomically(async {
            require_admin(admin)?;
            require_fresh_second_factor(services, session)?;
            let public_id = PublicId::parse(public_id)?;
            let key = services.store.find_yubikey(&public_id).await?.ok_or(Failure::NotFound)?;
            let owner =
                user_in_account(services, admin.account_id, key.user_id.ok_or(Failure::NotFound)?).await?;
            services.store.unregister_yubikey(key.id).await?;
            let keep = (owner.id == admin.id).then_some(&session.id_hash);
            services.store.delete_sessions_of(owner.id, keep).await?;
            services.store.forget_browsers(owner.id).await?;
            let change =
                format!("Your administrator removed the YubiKey {} from your login.", public_id.as_str());
            services.queue_mail(mails::factor_changed(&owner.email, &change)).await?;
            let target = format!("user:{}:{}", owner.id, owner.email);
            services
                .audit(
                    admin.account_id,
                    &actor(admin),
                    target,
                    "yubikey.removed",
                    origin,
                    public_id.as_str().to_owned(),
                )
                .await?;
            Ok(())
        })
        .await
}

/// The users who have no factor yet: "Activate" lists them on its "Confirm" page.
pub async fn activation_preview<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
) -> Result<Vec<User>, Failure> {
    require_admin(admin)?;
    without_factor(services, admin.account_id).await
}

/// The account's users who cannot prove a second factor yet.
async fn without_factor<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account_id: AccountId,
) -> Result<Vec<User>, Failure> {
    let users = services.store.account_factors(account_id, services.now()).await?;
    Ok(users.into_iter().filter(|(_, summary)| !summary.has_factor()).map(|(user, _)| user).collect())
}

/// Why "Activate" waits for the admin's own factor.
pub const OWN_FACTOR_FIRST: &str = "Set up your own second factor first: once two-factor authentication is \
     active, you need it to log in, and to turn it off again.";

/// "Confirm" after "Activate": from now on every login of the account asks for a one-time password. Users
/// without a factor get a fresh enrollment e-mail (when TOTP is on) and cannot finish a login until enrolled.
/// `enroll_by`, when not empty, is the grace deadline (`YYYY-MM-DD`, the last day included): until then
/// users without a factor still finish a login with their password.
pub async fn activate<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    enroll_by: &str,
    origin: &Origin,
) -> Result<Vec<User>, Failure> {
    services
        .store
        .atomically(async {
            let account = account_of(services, admin).await?;
            require_admin(admin)?;
            if account.disable_policy.is_none() {
                return Err(Failure::Refused(
                    "Configure two-factor authentication first: choose a method and write the policy.".into(),
                ));
            }
            if !services.has_working_factor(admin).await? {
                return Err(Failure::Refused(OWN_FACTOR_FIRST.into()));
            }
            let deadline = deadline(services, enroll_by)?;
            let without = activation_preview(services, admin).await?;
            services
                .store
                .set_activation(account.id, Some(Activation { by: admin.id, at: services.now() }))
                .await?;
            services.store.set_enroll_by(account.id, deadline).await?;
            if account.methods.enroll_by_link() {
                for user in &without {
                    email_enrollment(services, &account, user).await?;
                }
            }
            tell_admins(services, &account, |to| {
                mails::two_factor_switched(to, account.name.as_str(), &admin.email, true)
            })
            .await?;
            let mut detail = format!("{} users without a factor", without.len());
            if let Some(deadline) = deadline {
                detail.push_str(&format!(", who must enroll by {}", last_day(deadline)));
            }
            services
                .audit(
                    account.id,
                    &actor(admin),
                    format!("account:{}", account.id),
                    "two_factor.activated",
                    origin,
                    detail,
                )
                .await?;
            Ok(without)
        })
        .await
}

/// "Confirm" after "Deactivate": needs a fresh second factor; ends every other session of the account.
pub async fn deactivate<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    session: &Session,
    origin: &Origin,
) -> Result<(), Failure> {
    services
        .store
        .atomically(async {
            require_admin(admin)?;
            require_fresh_second_factor(services, session)?;
            let account = account_of(services, admin).await?;
            services.store.set_activation(account.id, None).await?;
            services.store.set_enroll_by(account.id, None).await?;
            for user in services.store.list_users(account.id).await? {
                let keep = (user.id == admin.id).then_some(&session.id_hash);
                services.store.delete_sessions_of(user.id, keep).await?;
            }
            tell_admins(services, &account, |to| {
                mails::two_factor_switched(to, account.name.as_str(), &admin.email, false)
            })
            .await?;
            services
                .audit(
                    account.id,
                    &actor(admin),
                    format!("account:{}", account.id),
                    "two_factor.deactivated",
                    origin,
                    String::new(),
                )
                .await?;
            Ok(())
        })
        .await
}

/// Sends each admin of `account` the notice `message` makes for them, after the answer.
pub(crate) async fn tell_admins<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account: &Account,
    message: impl Fn(&crate::user::Email) -> crate::mail::Message,
) -> Result<(), Failure> {
    for admin in services.store.list_users(account.id).await? {
        if admin.role == crate::user::Role::Admin {
            services.queue_mail(message(&admin.email)).await?;
        }
    }
    Ok(())
}

/// The longest grace period an admin may give: a year.
const MAX_GRACE_DAYS: u64 = 365;

/// The grace deadline typed as the last day to enroll (`YYYY-MM-DD`, UTC): the end of that day. Empty is
/// none; a day before tomorrow or more than a year ahead is refused.
fn deadline<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    typed: &str,
) -> Result<Option<UnixTime>, Failure> {
    if typed.trim().is_empty() {
        return Ok(None);
    }
    let end = UnixTime(UnixTime::from_date(typed)?.seconds() + 86_400);
    let now = services.now().seconds();
    if end.seconds() <= now + 86_400 {
        return Err(Failure::Refused("Choose a day after today for the enrollment deadline.".into()));
    }
    if end.seconds() > now + MAX_GRACE_DAYS * 86_400 {
        return Err(Failure::Refused("Choose an enrollment deadline within a year.".into()));
    }
    Ok(Some(end))
}

/// The last day of a grace period that ends at `deadline` (the end of that day).
pub fn last_day(deadline: UnixTime) -> String {
    UnixTime(deadline.seconds().saturating_sub(1)).date()
}

/// Moves (or, when `enroll_by` is empty, ends) the grace deadline of an active account; its reminders
/// start over.
pub async fn move_enroll_by<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    enroll_by: &str,
    origin: &Origin,
) -> Result<Option<UnixTime>, Failure> {
    services
        .store
        .atomically(async {
            require_admin(admin)?;
            let account = account_of(services, admin).await?;
            if account.activation.is_none() {
                return Err(Failure::Refused("Activate two-factor authentication first.".into()));
            }
            let deadline = deadline(services, enroll_by)?;
            services.store.set_enroll_by(account.id, deadline).await?;
            let detail = deadline.map_or("none: a second factor is required now".to_owned(), last_day);
            let target = format!("account:{}", account.id);
            services
                .audit(account.id, &actor(admin), target, "two_factor.deadline_moved", origin, detail)
                .await?;
            Ok(deadline)
        })
        .await
}

/// The reminders before grace deadlines: a week before and a day before, to every user still without a
/// factor (with a fresh enrollment link where the account uses apps). Each reminder of each account is
/// claimed with one conditional update, so several nodes running this send it once. Returns how many
/// e-mails went out.
pub async fn send_enrollment_reminders<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
) -> Result<usize, Failure> {
    let now = services.now().seconds();
    let mut sent = 0;
    for account in services.store.accounts_with_deadline().await? {
        let Some(deadline) = account.enroll_by else { continue };
        let left = deadline.seconds().saturating_sub(now);
        if left == 0 {
            continue;
        }
        let (from, to) = match account.reminders_sent {
            0 | 7 if left <= 86_400 => (account.reminders_sent, 1),
            0 if left <= 7 * 86_400 => (0, 7),
            _ => continue,
        };
        // The claim, the links and the e-mails of one account: one unit of work.
        sent += services
            .store
            .atomically(async {
                if !services.store.claim_reminder(account.id, deadline, from, to).await? {
                    return Ok::<_, Failure>(0);
                }
                let mut sent = 0;
                for user in services.store.list_users(account.id).await? {
                    if services.has_working_factor(&user).await? {
                        continue;
                    }
                    let link = if account.methods.enroll_by_link() {
                        let lifetime = services.settings.enrollment_link_secs;
                        Some(send_link(services, &user, Purpose::Enrollment, lifetime).await?)
                    } else {
                        None
                    };
                    let days = left.div_ceil(86_400);
                    let message = mails::enrollment_reminder(
                        &user.email,
                        account.name.as_str(),
                        days,
                        &last_day(deadline),
                        link,
                    );
                    services.queue_mail(message).await?;
                    sent += 1;
                }
                Ok(sent)
            })
            .await?;
    }
    Ok(sent)
}
