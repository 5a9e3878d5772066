//! Checking a one-time password — a TOTP code, a YubiKey OTP or a recovery code — for a user: the one
//! check behind the login's second step, step-up, and (through [`check_otp`]) the JSON API and the
//! Validation Protocol. It spends from the user's budgets, uses up what it accepts with one conditional
//! update, and answers a [`Verdict`].

use super::auth::{Budgets, address, is_known_browser};
use super::{Failure, Origin, Services, YubikeyJudgement, actor, mails};
use crate::factor::{TotpFactor, Yubikey, totp_seal_context};
use crate::mail::Mailer;
use crate::otp::{Code, Secret, Totp};
use crate::ports::PasswordHasher;
use crate::session::{Session, Stage};
use crate::store::Store;
use crate::throttle::{self, Admission, ThrottlePolicy};
use crate::token::Token;
use crate::user::User;
use crate::validate::{Rejection, check_known_yubikey_otp};
use crate::verdict::{FactorKind, Verdict};
use crate::yubico::YubikeyOtp;

const WRONG_CODE: &str =
    "That one-time password is not right. Type the current code from your app, or touch your YubiKey.";
/// After this many wrong one-time passwords following a correct password, the user is told by e-mail.
const ALERT_AFTER_WRONG_CODES: u32 = 5;

/// What one check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checked {
    /// The kind of factor the typed value was taken for.
    pub factor: FactorKind,
    pub verdict: Verdict,
    /// With [`Verdict::Throttled`]: how long to wait before the next attempt, in seconds.
    pub retry_after_secs: u64,
}

impl Checked {
    /// What to tell the person when the check did not pass; `None` for [`Verdict::Ok`].
    pub fn refusal(&self) -> Option<Failure> {
        let message = match (self.verdict, self.factor) {
            (Verdict::Ok, _) => return None,
            (Verdict::Throttled, _) => return Some(Failure::Throttled(self.retry_after_secs)),
            (Verdict::Invalid, FactorKind::SecurityKey) => {
                "Your security key's answer was not accepted. Use a key you registered for this site."
            }
            (Verdict::Replayed, FactorKind::SecurityKey) => {
                "That took longer than 5 minutes, or the page was sent twice. Use your security key again."
            }
            (Verdict::NotEnrolled, FactorKind::SecurityKey) => {
                "You have no security key registered. Type a one-time password instead."
            }
            (Verdict::Invalid, _) => WRONG_CODE,
            (Verdict::Replayed, _) => {
                "That one-time password was already used. Wait for the next code, or touch \
                                  your YubiKey again."
            }
            (Verdict::NotEnrolled, _) => {
                "You have no second factor yet. Set one up from the enrollment e-mail your \
                                     administrator sends you."
            }
        };
        Some(Failure::Refused(message.to_owned()))
    }
}

/// A second-step or step-up attempt: the check, and the session's new token when it passed.
#[derive(Debug)]
pub struct SecondFactorOutcome {
    pub checked: Checked,
    pub token: Option<Token>,
}

/// What a person offers as their second factor.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A TOTP code, a YubiKey OTP or a recovery code, as typed.
    Typed(&'a str),
    /// A security key's answer to the ceremony named by `handle` (see `begin_security_key_check`).
    SecurityKey { handle: &'a str, response: &'a str },
}

impl Proof<'_> {
    fn factor(&self) -> FactorKind {
        match self {
            Proof::Typed(typed) => FactorKind::of_typed(typed),
            Proof::SecurityKey { .. } => FactorKind::SecurityKey,
        }
    }
}

/// Checks what `user` typed against their factors, spending from their budgets (see [`Budgets`]):
/// a browser known for this user spends its own; any other the user's at its address and the user's
/// shared one. A success gives its attempt back. `after_password`: the attempt follows a correct password
/// in this request's session, so five wrong ones in a row tell the user by e-mail.
pub async fn check_otp<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    typed: &str,
    origin: &Origin,
    after_password: bool,
) -> Result<Checked, Failure> {
    Ok(check_proof(services, user, Proof::Typed(typed), origin, after_password).await?.0)
}

/// [`check_otp`] for any [`Proof`], a security key's included: the same budgets, notices and audit. With
/// a success, a detail for the sign-in record (a YubiKey's public id, a security key's name).
///
/// The check holds the user's other checks back ([`UnitOfWork::checking_user`]): it reads the budgets,
/// refuses when one says wait, checks, and then writes only what changed — a success uses up its code
/// with one conditional update and spends nothing, a failure spends from every budget in one unit of
/// work. A YubiKey validated by YubiCloud is asked over the network, so no lock waits for it: its check
/// spends first instead (see [`check_with_cloud`]).
async fn check_proof<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    proof: Proof<'_>,
    origin: &Origin,
    after_password: bool,
) -> Result<(Checked, String), Failure> {
    let local = services
        .store
        .checking_user(user.id, check_locally(services, user, proof, origin, after_password))
        .await?;
    match local {
        Local::Done(checked, detail) => Ok((checked, detail)),
        Local::Cloud(otp) => check_with_cloud(services, user, &otp, origin, after_password).await,
    }
}

/// What [`check_locally`] found: the outcome, or a YubiKey that YubiCloud must judge.
enum Local {
    Done(Checked, String),
    Cloud(YubikeyOtp),
}

/// What a typed value is checked against, read once: it also tells whether the user has the factor.
enum Against {
    /// The user's apps.
    Totp(Vec<TotpFactor>),
    /// A YubiKey OTP and the key it names, when that key is registered to the user.
    Yubikey(YubikeyOtp, Option<Yubikey>),
    /// Anything else: a recovery code, a security key's answer, a value of no known shape.
    Other,
}

async fn check_locally<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    proof: Proof<'_>,
    origin: &Origin,
    after_password: bool,
) -> Result<Local, Failure> {
    let store = &services.store;
    let factor = proof.factor();
    let done =
        |verdict, retry_after_secs| Local::Done(Checked { factor, verdict, retry_after_secs }, String::new());
    let against = match (proof, factor) {
        (Proof::Typed(_), FactorKind::Totp) => Against::Totp(store.totp_factors(user.id).await?),
        (Proof::Typed(typed), FactorKind::Yubikey) => match YubikeyOtp::parse(typed.trim()) {
            Ok(otp) => {
                let key =
                    store.find_yubikey(otp.public_id()).await?.filter(|key| key.user_id == Some(user.id));
                Against::Yubikey(otp, key)
            }
            Err(_) => Against::Other,
        },
        _ => Against::Other,
    };
    let enrolled = match (&against, factor) {
        (Against::Totp(factors), _) if factors.iter().any(|f| f.confirmed_at.is_some()) => true,
        (Against::Yubikey(_, Some(_)), _) | (_, FactorKind::RecoveryCode) => true,
        (_, FactorKind::SecurityKey) => !store.security_keys_of(user.id).await?.is_empty(),
        _ => services.has_working_factor(user).await?,
    };
    if !enrolled {
        return Ok(done(Verdict::NotEnrolled, 0));
    }
    if let Against::Yubikey(otp, Some(key)) = &against
        && key.secret.is_none()
    {
        return Ok(Local::Cloud(otp.clone()));
    }
    let budgets = budgets_for(services, user, origin);
    let keys: Vec<&str> = budgets.0.iter().map(|(key, _)| key.as_str()).collect();
    let now = services.now();
    let states = store.throttle_states(&keys).await?;
    let mut admitted = Vec::with_capacity(states.len());
    let mut wait = 0;
    for ((_, policy), state) in budgets.0.iter().zip(&states) {
        match policy.admit(*state, now) {
            Admission::Admit(next) => admitted.push(next),
            Admission::Wait(seconds) => wait = wait.max(seconds),
        }
    }
    if wait > 0 {
        return Ok(done(Verdict::Throttled, wait));
    }
    let mut detail = String::new();
    let verdict = match (against, proof) {
        (Against::Totp(factors), Proof::Typed(typed)) => match Code::parse(typed.trim()) {
            Ok(code) => check_totp(services, user, code, factors).await?,
            Err(_) => Verdict::Invalid,
        },
        (Against::Yubikey(otp, Some(key)), _) => {
            detail = otp.public_id().as_str().to_owned();
            match check_known_yubikey_otp(store, &services.keys, key, &otp, None).await? {
                Ok(_) => Verdict::Ok,
                Err(Rejection::Replayed(_)) => Verdict::Replayed,
                Err(_) => Verdict::Invalid,
            }
        }
        (Against::Yubikey(_, None), _) => Verdict::Invalid,
        (Against::Other, Proof::Typed(typed)) => check_recovery_code(services, user, typed, origin).await?,
        (Against::Other | Against::Totp(_), Proof::SecurityKey { handle, response }) => {
            let (verdict, name) =
                super::security_keys::check_security_key(services, user, handle, response, origin).await?;
            detail = name.map(|name| name.as_str().to_owned()).unwrap_or_default();
            verdict
        }
    };
    if verdict == Verdict::Ok {
        // Only failures spend; whoever is at the first budget (this browser, this user at this address)
        // has just proven the factor, so it starts over. The shared budgets keep the failures others spent.
        if let (Some((own, _)), Some(Some(_))) = (budgets.0.first(), states.first()) {
            store.clear_throttle(own).await?;
        }
    } else {
        store
            .atomically(async {
                for (((key, policy), state), next) in budgets.0.iter().zip(&states).zip(&admitted) {
                    // Nothing else writes these budgets while the user's checks are held; were it to,
                    // the attempt is spent anew.
                    if !store.swap_throttle(key, *state, *next).await? {
                        throttle::admit(store, key, *policy, now).await?;
                    }
                }
                let attempts = admitted.last().map_or(0, |state| state.attempts);
                warn_of_wrong_codes(services, user, attempts, after_password).await
            })
            .await?;
    }
    Ok(Local::Done(Checked { factor, verdict, retry_after_secs: 0 }, detail))
}

/// A YubiKey that YubiCloud validates: spend from the budgets first (in their own statements, since
/// the answer comes over the network and no transaction waits for it), ask, give back on success.
async fn check_with_cloud<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    otp: &YubikeyOtp,
    origin: &Origin,
    after_password: bool,
) -> Result<(Checked, String), Failure> {
    let checked =
        |verdict, retry_after_secs| Checked { factor: FactorKind::Yubikey, verdict, retry_after_secs };
    let budgets = budgets_for(services, user, origin);
    let spent = match budgets.spend(&services.store, services.now()).await {
        Ok(spent) => spent,
        Err(Failure::Throttled(seconds)) => return Ok((checked(Verdict::Throttled, seconds), String::new())),
        Err(failure) => return Err(failure),
    };
    let verdict = match services.judge_yubikey_otp(otp).await? {
        YubikeyJudgement::Accepted => Verdict::Ok,
        YubikeyJudgement::Replayed => Verdict::Replayed,
        YubikeyJudgement::Invalid => Verdict::Invalid,
        YubikeyJudgement::Uncheckable => return Err(Failure::Refused(
            "This YubiKey cannot be checked: its secret was not imported and YubiCloud is not configured."
                .into(),
        )),
    };
    if verdict == Verdict::Ok {
        budgets.give_back(&services.store).await?;
    } else {
        let attempts = spent.last().map_or(0, |state| state.attempts);
        warn_of_wrong_codes(services, user, attempts, after_password).await?;
    }
    Ok((checked(verdict, 0), otp.public_id().as_str().to_owned()))
}

/// The budgets a check of `user`'s second factor spends (see [`Budgets`]): a browser known for this user
/// spends its own; any other the user's at its address and the user's shared one.
fn budgets_for<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    origin: &Origin,
) -> Budgets {
    let id = user.id.to_string();
    Budgets(if is_known_browser(services, origin, user) {
        let mark = origin.browser.as_deref().unwrap_or_default();
        vec![(throttle::key("otp:browser", &[&id, mark]), ThrottlePolicy::OTP_KNOWN_BROWSER)]
    } else {
        vec![
            (throttle::key("otp:user-address", &[&id, address(origin)]), ThrottlePolicy::OTP_USER_ADDRESS),
            (throttle::key("otp:user", &[&id]), ThrottlePolicy::OTP_USER),
        ]
    })
}

/// After a correct password, the fifth wrong code in a row (the count of the user's shared budget, or of
/// their known browser's own) tells the user by e-mail.
async fn warn_of_wrong_codes<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    attempts: u32,
    after_password: bool,
) -> Result<(), Failure> {
    if after_password && attempts == ALERT_AFTER_WRONG_CODES {
        services.queue_mail(mails::wrong_codes(&user.email, attempts)).await?;
    }
    Ok(())
}

/// A recovery code was used: the audit log and the user hear of it, with how many are left.
async fn recovery_code_used<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    origin: &Origin,
) -> Result<(), Failure> {
    let remaining =
        services.store.recovery_codes(user.id).await?.iter().filter(|c| c.used_at.is_none()).count();
    let target = format!("user:{}", user.id);
    services
        .audit(
            user.account_id,
            &actor(user),
            target,
            "recovery_code.used",
            origin,
            format!("{remaining} left"),
        )
        .await?;
    services.queue_mail(mails::recovery_code_used(&user.email, remaining)).await?;
    Ok(())
}

/// The second step of a login, and the step-up before a sensitive change: one field that takes a TOTP code,
/// a YubiKey OTP or a recovery code. On success the session gets a new id and records the time.
pub async fn prove_second_factor<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    session: &Session,
    user: &User,
    proof: Proof<'_>,
    origin: &Origin,
) -> Result<SecondFactorOutcome, Failure> {
    let after_password = session.stage == Stage::PasswordOnly;
    let (checked, detail) = check_proof(services, user, proof, origin, after_password).await?;
    if checked.verdict != Verdict::Ok {
        return Ok(SecondFactorOutcome { checked, token: None });
    }
    // The factor is used up (its own conditional update); the new session and the sign-in record go
    // together.
    let token = services
        .store
        .atomically(async {
            let token = super::auth::complete_session(services, session).await?;
            if after_password {
                super::auth::record_sign_in(services, user, origin, checked.factor.as_str(), detail).await?;
            }
            Ok::<_, Failure>(token)
        })
        .await?;
    Ok(SecondFactorOutcome { checked, token: Some(token) })
}

/// A TOTP code against each confirmed factor of the user; a matched step is consumed atomically, and a
/// step already used (here, or by a concurrent request that won) is a replay.
async fn check_totp<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    code: Code,
    factors: Vec<TotpFactor>,
) -> Result<Verdict, Failure> {
    let now = services.now();
    for factor in factors {
        if factor.confirmed_at.is_none() {
            continue;
        }
        let secret = services.keys.open(&factor.secret, &totp_seal_context(user.id))?;
        let totp = Totp::new(&Secret::from_bytes(&secret)?, factor.params)?;
        let Some(matched) = totp.verify(code, now, 1, factor.clock_offset, None) else { continue };
        if factor.last_step.is_some_and(|used| matched.step <= used) {
            return Ok(Verdict::Replayed);
        }
        let consumed =
            services.store.consume_totp_step(factor.id, matched.step, matched.clock_offset, now).await?;
        return Ok(if consumed { Verdict::Ok } else { Verdict::Replayed });
    }
    Ok(Verdict::Invalid)
}

/// One of the user's recovery codes, used up atomically, together with its audit event and the e-mail
/// that tells the user.
async fn check_recovery_code<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    typed: &str,
    origin: &Origin,
) -> Result<Verdict, Failure> {
    let code = super::enrollment::normalize_recovery_code(typed);
    if code.len() != super::enrollment::RECOVERY_CODE_CHARS {
        return Ok(Verdict::Invalid);
    }
    let hash = Token::from_presented(&code).hash();
    services
        .store
        .atomically(async {
            if !services.store.consume_recovery_code(user.id, &hash, services.now()).await? {
                return Ok(Verdict::Invalid);
            }
            recovery_code_used(services, user, origin).await?;
            Ok(Verdict::Ok)
        })
        .await
}
