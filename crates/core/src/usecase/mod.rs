//! The use cases: what people do with Keyward, one function each, written against the ports (store,
//! mailer, password hasher, clock, entropy). Web handlers extract input, call one of these, and render.

mod api;
mod auth;
mod delivery;
mod enrollment;
mod mails;
mod people;
mod security;
mod security_keys;
mod signup;
mod support;
mod two_factor;
mod validation;
mod verify;

use std::sync::Arc;

pub use api::{
    NewApiClient, account_for_client, add_user_for_client, api_client_by_key, api_clients,
    confirm_totp_for_client, create_api_client, create_yubico_client, register_yubikey_for_client,
    remove_yubico_client, revoke_api_client, send_enrollment_for_client, start_totp_for_client,
    verify_for_client, yubico_clients,
};
pub use auth::{
    CurrentSession, Door, KNOWN_BROWSER_SECS, LoginOutcome, current_session, known_browser_mark, log_in,
    log_out, remember_days_offered, remember_this_browser,
};
pub use delivery::{Delivery, MAIL_ATTEMPTS, deliver_mail, undelivered_mail};
pub use enrollment::{
    Enrolled, EnrollmentPage, EnrollmentSecret, begin_enrollment, confirm_enrollment_password,
    finish_enrollment, may_bind, open_enrollment,
};
pub use people::{
    PasswordLink, TwoFactorStatus, USERS_PER_PAGE, UserOverview, UsersOverviewPage, add_user,
    forgot_password, open_password_link, resend_password_link, set_password, users_overview,
    users_overview_page, users_page,
};
pub use security::{
    AUDIT_PAGE, AuditFilter, AuditPage, FactorLine, MAX_REMEMBER_DAYS, MySecurity, account_audit_log,
    begin_own_app, finish_own_app, forget_browsers, my_security, pending_own_app, recovery_codes_left,
    regenerate_recovery_codes, register_own_yubikey, reset_user_factors, set_remember_days,
};
pub use security_keys::{
    CeremonyStarted, KeyRegistered, RegistrationAnswer, begin_own_security_key, begin_security_key_check,
    begin_security_key_enrollment, finish_own_security_key, finish_security_key_enrollment, has_security_key,
    remove_own_security_key,
};
pub use signup::{
    PendingSignUp, SIGN_UP_LINK_SECS, SignUpLink, confirm_sign_up, open_sign_up, request_sign_up,
    send_sign_up_mail,
};
pub use support::{
    AccountFile, Approved, Evidence, OperatorState, RequestFile, account_file, add_operator, approve_request,
    begin_operator_setup, deny_request, disable_request, find_accounts, finish_operator_setup,
    finish_operator_setup_with_yubikey, list_operators, needs_operator_setup, open_request_for,
    open_requests, remove_operator, request_disable,
};
pub use two_factor::{
    OWN_FACTOR_FIRST, Recipients, activate, activation_preview, configure_two_factor, deactivate, last_day,
    move_enroll_by, register_yubikey, remove_yubikey, send_enrollment, send_enrollment_reminders,
};
pub use validation::{ValidationAnswer, answer_verify_request};
pub use verify::{Checked, Proof, SecondFactorOutcome, check_otp, prove_second_factor};

use crate::UnixTime;
use crate::audit::NewAuditEvent;
use crate::ids::AccountId;
use crate::mail::{MailError, Mailer};
use crate::ports::{Clock, CloudValidator, CloudVerdict, Entropy, EntropyRng, PasswordHasher, WebAuthn};
use crate::seal::KeyRing;
use crate::store::{Store, StoreError};
use crate::user::User;
use crate::validate::{Rejection, check_local_yubikey_otp};
use crate::yubico::YubikeyOtp;

/// Settings the use cases need from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where people reach Keyward, without a trailing slash; links in e-mails start with it.
    pub public_url: String,
    /// The issuer shown in authenticator apps.
    pub issuer: String,
    /// How long an enrollment link stays valid (72 hours by default).
    pub enrollment_link_secs: u64,
    /// How long a password link stays valid (1 hour).
    pub password_link_secs: u64,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            public_url: "http://127.0.0.1:8080".into(),
            issuer: "Keyward".into(),
            enrollment_link_secs: 72 * 3600,
            password_link_secs: 3600,
        }
    }
}

/// Everything a use case may touch.
pub struct Services<S, M, H> {
    pub store: S,
    pub mailer: M,
    pub hasher: H,
    pub keys: KeyRing,
    pub settings: Settings,
    pub clock: Arc<dyn Clock>,
    pub entropy: Arc<dyn Entropy>,
    /// YubiCloud validation for keys whose secret was not imported; `None` when not configured.
    pub cloud: Option<Arc<dyn CloudValidator>>,
    /// Security keys and passkeys: the WebAuthn ceremonies, with Keyward's public URL as relying party.
    pub webauthn: Arc<dyn WebAuthn>,
}

impl<S: Store, M: Mailer, H: PasswordHasher> Services<S, M, H> {
    pub(crate) fn now(&self) -> UnixTime {
        self.clock.now()
    }

    pub(crate) fn rng(&self) -> EntropyRng<'_> {
        EntropyRng(&*self.entropy)
    }

    /// Appends an audit event; every 2FA state change, factor change and operator action goes through here.
    /// `account` is the customer account the event belongs to, so its admins see it in their log.
    pub(crate) async fn audit(
        &self,
        account: AccountId,
        actor: &str,
        target: String,
        action: &str,
        origin: &Origin,
        detail: String,
    ) -> Result<(), Failure> {
        let event = NewAuditEvent {
            at: self.now(),
            actor: actor.to_owned(),
            target,
            action: action.to_owned(),
            ip: origin.ip.clone(),
            detail,
            account: Some(account),
        };
        self.store.append_audit(event).await?;
        Ok(())
    }
}

impl<S: Store, M: Mailer, H: PasswordHasher> Services<S, M, H> {
    /// Queues an e-mail in the outbox, with the change it tells of: the answer never waits for a mail
    /// server, and a mail server that fails loses nothing ([`deliver_mail`] sends it, with retries).
    pub(crate) async fn queue_mail(&self, message: crate::mail::Message) -> Result<(), Failure> {
        self.store.enqueue_mail(&message, self.now()).await?;
        Ok(())
    }

    /// Whether the user can prove a second factor today: a confirmed app, a registered YubiKey or a
    /// security key. While they can, binding another factor asks for it first.
    pub(crate) async fn has_working_factor(&self, user: &User) -> Result<bool, Failure> {
        let totp = self.store.totp_factors(user.id).await?.iter().any(|f| f.confirmed_at.is_some());
        Ok(totp
            || !self.store.yubikeys_of(user.id).await?.is_empty()
            || !self.store.security_keys_of(user.id).await?.is_empty())
    }
}

impl<S: Store, M: Mailer, H: PasswordHasher> Services<S, M, H> {
    /// Seals `plaintext` under the master key for a cookie or a link: `<key id>.<base64url>`, readable by
    /// any node and forged by none.
    pub(crate) fn seal_token(&self, plaintext: &[u8], context: &[u8]) -> Result<String, Failure> {
        let sealed = self.keys.seal(plaintext, context, &mut self.rng())?;
        Ok(format!("{}.{}", sealed.key_id, data_encoding::BASE64URL_NOPAD.encode(&sealed.ciphertext)))
    }

    /// Opens what [`Services::seal_token`] made with the same `context`; `None` for anything else,
    /// including a token longer than `max_chars`.
    pub(crate) fn open_token(
        &self,
        token: &str,
        context: &[u8],
        max_chars: usize,
    ) -> Option<zeroize::Zeroizing<Vec<u8>>> {
        if token.len() > max_chars {
            return None;
        }
        // A key id may hold dots; base64url never does.
        let (key_id, encoded) = token.rsplit_once('.')?;
        let ciphertext = data_encoding::BASE64URL_NOPAD.decode(encoded.as_bytes()).ok()?;
        self.keys.open(&crate::seal::Sealed { key_id: key_id.to_owned(), ciphertext }, context).ok()
    }
}

/// How a YubiKey OTP was judged, locally or by YubiCloud.
pub(crate) enum YubikeyJudgement {
    Accepted,
    /// A valid OTP that was already used.
    Replayed,
    /// Not an OTP of this key (or of any key the server knows).
    Invalid,
    /// Neither the key's secret nor YubiCloud is available to check it.
    Uncheckable,
}

impl<S: Store, M: Mailer, H: PasswordHasher> Services<S, M, H> {
    /// Checks an OTP locally when the key's secret was imported, else through YubiCloud when configured.
    pub(crate) async fn judge_yubikey_otp(&self, otp: &YubikeyOtp) -> Result<YubikeyJudgement, Failure> {
        match check_local_yubikey_otp(&self.store, &self.keys, otp, None).await? {
            Ok(_) => Ok(YubikeyJudgement::Accepted),
            Err(Rejection::UnknownKey(_) | Rejection::NotLocal(_)) => {
                let Some(cloud) = &self.cloud else { return Ok(YubikeyJudgement::Uncheckable) };
                let verdict = cloud.validate(otp).await.map_err(|error| {
                    Failure::Refused(format!(
                        "YubiCloud could not check the OTP: {error}. Try again in a moment."
                    ))
                })?;
                Ok(match verdict {
                    CloudVerdict::Valid => YubikeyJudgement::Accepted,
                    CloudVerdict::Replayed => YubikeyJudgement::Replayed,
                    CloudVerdict::Invalid => YubikeyJudgement::Invalid,
                })
            }
            Err(Rejection::Replayed(_)) => Ok(YubikeyJudgement::Replayed),
            Err(Rejection::Invalid(_)) => Ok(YubikeyJudgement::Invalid),
        }
    }
}

/// Where a request came from, for throttles and the audit log.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The client's address (after trusted proxies), if known.
    pub ip: Option<String>,
    /// The known-browser mark the browser presents, if any (see `auth::known_browser_mark`).
    pub browser: Option<String>,
    /// The token of a browser remembered after a second factor ("Remember this browser"), if any.
    pub remembered: Option<String>,
}

/// How a person is named in the audit log.
pub(crate) fn actor(user: &User) -> String {
    format!("user:{}:{}", user.id, user.email)
}

/// Why a use case did not go through.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A refusal to show the person as it is (a wrong password, a wrong code, an expired link).
    #[error("{0}")]
    Refused(String),
    /// Malformed input, described for the person.
    #[error(transparent)]
    Invalid(crate::Error),
    /// The thing asked for does not exist (or is not the asker's to see).
    #[error("not found")]
    NotFound,
    /// The asker may not do this.
    #[error("you are not allowed to do this")]
    Forbidden,
    /// A sensitive change: a second factor must be proven first (within the last 5 minutes).
    #[error("confirm with your second factor first")]
    StepUpRequired,
    /// Too many attempts; try again after this many seconds.
    #[error("too many attempts: try again in {0} seconds")]
    Throttled(u64),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Mail(#[from] MailError),
    /// Something on our side failed that the person can do nothing about: a sealed secret that does not
    /// open, a stored value the domain does not recognise, a password hash that could not be computed.
    #[error("an internal step failed")]
    Internal(#[source] crate::Error),
}

/// The core's errors reach a use case's caller in two kinds: a mistake in what the person typed is
/// [`Failure::Invalid`] (shown to them), anything else is [`Failure::Internal`] (logged, never shown).
impl From<crate::Error> for Failure {
    fn from(error: crate::Error) -> Failure {
        if error.is_callers_mistake() { Failure::Invalid(error) } else { Failure::Internal(error) }
    }
}
