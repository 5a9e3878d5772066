//! Checking a one-time password — a TOTP code, a YubiKey OTP or a recovery code — for a user: the one
//! check behind the login's second step, step-up, and (through [`check_otp`]) the JSON API and the
//! Validation Protocol. It spends from the user's budgets, uses up what it accepts with one conditional
//! update, and answers a [`Verdict`].

use super::auth::{Budgets, address, is_known_browser};
use super::{Failure, Origin, Services, YubikeyJudgement, actor, mails};
use crate::factor::totp_seal_context;
use crate::mail::Mailer;
use crate::otp::{Code, Secret, Totp};
use crate::ports::PasswordHasher;
use crate::session::{Session, Stage};
use crate::store::Store;
use crate::throttle::{self, ThrottlePolicy};
use crate::token::Token;
use crate::user::User;
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
async fn check_proof<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    proof: Proof<'_>,
    origin: &Origin,
    after_password: bool,
) -> Result<(Checked, String), Failure> {
    let factor = proof.factor();
    let checked = |verdict| Checked { factor, verdict, retry_after_secs: 0 };
    let enrolled = match factor {
        FactorKind::RecoveryCode => true,
        FactorKind::Totp | FactorKind::Yubikey => services.has_working_factor(user).await?,
        FactorKind::SecurityKey => !services.store.security_keys_of(user.id).await?.is_empty(),
    };
    if !enrolled {
        return Ok((checked(Verdict::NotEnrolled), String::new()));
    }
    let id = user.id.to_string();
    let budgets = Budgets(if is_known_browser(services, origin, user) {
        let mark = origin.browser.as_deref().unwrap_or_default();
        vec![(throttle::key("otp:browser", &[&id, mark]), ThrottlePolicy::OTP_KNOWN_BROWSER)]
    } else {
        vec![
            (throttle::key("otp:user-address", &[&id, address(origin)]), ThrottlePolicy::OTP_USER_ADDRESS),
            (throttle::key("otp:user", &[&id]), ThrottlePolicy::OTP_USER),
        ]
    });
    let spent = match budgets.spend(&services.store, services.now()).await {
        Ok(spent) => spent,
        Err(Failure::Throttled(seconds)) => {
            return Ok((
                Checked { factor, verdict: Verdict::Throttled, retry_after_secs: seconds },
                String::new(),
            ));
        }
        Err(failure) => return Err(failure),
    };
    let mut detail = String::new();
    let verdict = match proof {
        Proof::Typed(typed) => match factor {
            FactorKind::Totp => match Code::parse(typed.trim()) {
                Ok(code) => check_totp(services, user, code).await?,
                Err(_) => Verdict::Invalid,
            },
            FactorKind::Yubikey => match YubikeyOtp::parse(typed.trim()) {
                Ok(otp) => {
                    detail = otp.public_id().as_str().to_owned();
                    check_yubikey(services, user, &otp).await?
                }
                Err(_) => Verdict::Invalid,
            },
            FactorKind::RecoveryCode | FactorKind::SecurityKey => {
                check_recovery_code(services, user, typed).await?
            }
        },
        Proof::SecurityKey { handle, response } => {
            let (verdict, name) =
                super::security_keys::check_security_key(services, user, handle, response, origin).await?;
            detail = name.map(|name| name.as_str().to_owned()).unwrap_or_default();
            verdict
        }
    };
    if verdict == Verdict::Ok {
        budgets.give_back(&services.store).await?;
        if factor == FactorKind::RecoveryCode {
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
        }
    } else if after_password {
        // The count of the user's shared budget (or of their known browser's own).
        let attempts = spent.last().map_or(0, |state| state.attempts);
        if attempts == ALERT_AFTER_WRONG_CODES {
            services.queue_mail(mails::wrong_codes(&user.email, attempts)).await?;
        }
    }
    Ok((checked(verdict), detail))
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
) -> Result<Verdict, Failure> {
    let now = services.now();
    for factor in services.store.totp_factors(user.id).await? {
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

/// A YubiKey OTP of a key registered to the user.
async fn check_yubikey<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    otp: &YubikeyOtp,
) -> Result<Verdict, Failure> {
    let registered = services.store.find_yubikey(otp.public_id()).await?;
    if registered.and_then(|key| key.user_id) != Some(user.id) {
        return Ok(Verdict::Invalid);
    }
    match services.judge_yubikey_otp(otp).await? {
        YubikeyJudgement::Accepted => Ok(Verdict::Ok),
        YubikeyJudgement::Replayed => Ok(Verdict::Replayed),
        YubikeyJudgement::Invalid => Ok(Verdict::Invalid),
        YubikeyJudgement::Uncheckable => Err(Failure::Refused(
            "This YubiKey cannot be checked: its secret was not imported and YubiCloud is not configured."
                .into(),
        )),
    }
}

/// One of the user's recovery codes, used up atomically.
async fn check_recovery_code<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    typed: &str,
) -> Result<Verdict, Failure> {
    let code = super::enrollment::normalize_recovery_code(typed);
    if code.len() != super::enrollment::RECOVERY_CODE_CHARS {
        return Ok(Verdict::Invalid);
    }
    let hash = Token::from_presented(&code).hash();
    let used = services.store.consume_recovery_code(user.id, &hash, services.now()).await?;
    Ok(if used { Verdict::Ok } else { Verdict::Invalid })
}
