//! Security keys and passkeys (WebAuthn), the phishing-resistant factor: registering one, named, from the
//! enrollment link or My security, and the ceremony behind "Use your security key" at the second step and
//! at step-up. The protocol is the [`WebAuthn`](crate::ports::WebAuthn) port's; what is kept here is the
//! rest: a ceremony's state lives in the database under the hash of a handle given to the browser, is
//! taken out once (any node can finish what another began) and expires after 5 minutes; a key's
//! signature counter only rises, in one conditional update, and a counter that went backwards refuses the
//! login and tells the user and the admins.

use super::enrollment::{EnrollmentPage, may_bind, recovery_codes};
use super::two_factor::{require_fresh_second_factor, tell_admins};
use super::{Failure, Origin, Services, actor, mails};
use crate::UnixTime;
use crate::factor::{CEREMONY_SECS, SecurityKey, SecurityKeyName};
use crate::mail::Mailer;
use crate::ports::{PasswordHasher, WebAuthnError};
use crate::session::Session;
use crate::store::{Store, StoreError};
use crate::token::{Token, TokenHash};
use crate::user::User;
use crate::verdict::Verdict;

const REGISTER: &str = "register";
const AUTHENTICATE: &str = "authenticate";
const NOT_ALLOWED: &str = "This account does not use security keys. Ask your administrator.";
const STALE: &str = "That took longer than 5 minutes, or the page was sent twice. Try again.";

/// A ceremony begun: the options for `navigator.credentials`, and the handle the browser posts back with
/// its answer.
#[derive(Debug, Clone)]
pub struct CeremonyStarted {
    pub handle: String,
    pub options: String,
}

/// A key registered: the key, and the recovery codes to show once when it is the person's first factor.
#[derive(Debug)]
pub struct KeyRegistered {
    pub key: SecurityKey,
    pub recovery_codes: Option<Vec<String>>,
    /// The session's new token (the key was just proven).
    pub token: Token,
}

/// The opaque, stable user handle an authenticator keeps: derived from the user id, naming no person.
fn user_handle(user: &User) -> [u8; 16] {
    use sha2::Digest;
    let digest = sha2::Sha256::new_with_prefix(b"keyward webauthn user handle\0")
        .chain_update(user.id.0.to_be_bytes())
        .finalize();
    let mut handle = [0u8; 16];
    handle.copy_from_slice(&digest[..16]);
    handle
}

fn webauthn_failure(error: WebAuthnError) -> Failure {
    match error {
        WebAuthnError::Unavailable(why) => {
            Failure::Refused(format!("Security keys cannot be used here: {why}. Ask your administrator."))
        }
        WebAuthnError::Refused(_) | WebAuthnError::CounterRegressed { .. } => Failure::Refused(
            "Your security key's answer was not accepted. Use a key registered for this site, and try again."
                .into(),
        ),
        WebAuthnError::Corrupt(why) => Failure::Internal(crate::Error::CorruptRecord(why)),
    }
}

async fn begin<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    purpose: &str,
    state: &str,
) -> Result<String, Failure> {
    let handle = Token::generate(32, &mut services.rng());
    let expires = UnixTime(services.now().seconds().saturating_add(CEREMONY_SECS));
    services.store.insert_ceremony(&handle.hash(), user.id, purpose, state, expires).await?;
    Ok(handle.as_str().to_owned())
}

async fn take<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    purpose: &str,
    handle: &str,
) -> Result<Option<String>, Failure> {
    if handle.is_empty() || handle.len() > 100 {
        return Ok(None);
    }
    let hash: TokenHash = Token::from_presented(handle).hash();
    Ok(services.store.take_ceremony(&hash, user.id, purpose, services.now()).await?)
}

/// Options to register a new key for `user`, where the account allows security keys. Who may register
/// (the enrollment link's session, or a person with a fresh second factor) is for the caller to check.
async fn begin_registration<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<CeremonyStarted, Failure> {
    let account = services.store.find_account(user.account_id).await?.ok_or(Failure::NotFound)?;
    if !account.methods.webauthn {
        return Err(Failure::Refused(NOT_ALLOWED.into()));
    }
    let exclude: Vec<Vec<u8>> =
        services.store.security_keys_of(user.id).await?.into_iter().map(|key| key.credential_id).collect();
    let ceremony = services
        .webauthn
        .start_registration(user_handle(user), user.email.as_str(), &exclude)
        .map_err(webauthn_failure)?;
    let handle = begin(services, user, REGISTER, &ceremony.state).await?;
    Ok(CeremonyStarted { handle, options: ceremony.options })
}

/// Finishes a registration begun by [`begin_registration`]: the key is stored under its name, the user
/// is told, the audit log records it, and the session counts the key as a fresh second factor. A first
/// factor brings recovery codes; `fresh_codes` brings them always (the enrollment link, as for an app).
async fn finish_registration<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
    taken: &TakenRegistration,
    response: &str,
    origin: &Origin,
    fresh_codes: bool,
) -> Result<KeyRegistered, Failure> {
    let TakenRegistration { name, state } = taken;
    let first = !services.has_working_factor(user).await?;
    let credential = services.webauthn.finish_registration(state, response).map_err(webauthn_failure)?;
    let key = match services.store.insert_security_key(user.id, name, &credential, services.now()).await {
        Ok(key) => key,
        Err(StoreError::Duplicate(_)) => {
            return Err(Failure::Refused("This security key is registered already.".into()));
        }
        Err(error) => return Err(error.into()),
    };
    let recovery_codes = if first || fresh_codes {
        let (codes, hashes) = recovery_codes(services);
        services.store.replace_recovery_codes(user.id, &hashes).await?;
        Some(codes)
    } else {
        None
    };
    let token = super::auth::complete_session(services, session).await?;
    services.queue_mail(mails::security_key_added(&user.email, name.as_str())).await?;
    let detail = format!("key {}: {}", key.id, name.as_str());
    services
        .audit(
            user.account_id,
            &actor(user),
            format!("user:{}", user.id),
            "security_key.registered",
            origin,
            detail,
        )
        .await?;
    Ok(KeyRegistered { key, recovery_codes, token })
}

/// A registration's name, and its ceremony taken out of the database: before the unit of work, so that an
/// answer that fails inside it does not put the ceremony back (single use, whatever the outcome).
struct TakenRegistration {
    name: SecurityKeyName,
    state: String,
}

async fn take_registration<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    answer: &RegistrationAnswer<'_>,
) -> Result<TakenRegistration, Failure> {
    let name = SecurityKeyName::parse(answer.name)?;
    let state = take(services, user, REGISTER, answer.handle).await?.ok_or(Failure::Refused(STALE.into()))?;
    Ok(TakenRegistration { name, state })
}

/// What the browser posts back after `navigator.credentials.create()`.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationAnswer<'a> {
    pub handle: &'a str,
    pub response: &'a str,
    /// The name the person gave the key ("Blue YubiKey").
    pub name: &'a str,
}

/// "Use a security key" on the enrollment link's page: for the link's user, in a session that may bind.
pub async fn begin_security_key_enrollment<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    page: &EnrollmentPage,
    session: &Session,
) -> Result<CeremonyStarted, Failure> {
    if !may_bind(services, page, session) {
        return Err(Failure::Forbidden);
    }
    begin_registration(services, &page.user).await
}

/// Finishes the enrollment link with a security key: the key is registered, the link used up, and the
/// person gets fresh recovery codes, once.
pub async fn finish_security_key_enrollment<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    page: &EnrollmentPage,
    session: &Session,
    answer: &RegistrationAnswer<'_>,
    origin: &Origin,
) -> Result<KeyRegistered, Failure> {
    if !may_bind(services, page, session) {
        return Err(Failure::Forbidden);
    }
    let taken = take_registration(services, &page.user, answer).await?;
    services
        .store
        .atomically(async {
            let registered =
                finish_registration(services, &page.user, session, &taken, answer.response, origin, true)
                    .await?;
            // The link works once: a second tab that got here too rolls its key back.
            if !services.store.close_invitation(page.invitation.id, services.now()).await? {
                return Err(Failure::Refused(STALE.into()));
            }
            Ok(registered)
        })
        .await
}

/// "Add a security key" on My security: while the person has a working factor, after a step-up.
pub async fn begin_own_security_key<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
) -> Result<CeremonyStarted, Failure> {
    if services.has_working_factor(user).await? {
        require_fresh_second_factor(services, session)?;
    }
    begin_registration(services, user).await
}

/// Finishes [`begin_own_security_key`].
pub async fn finish_own_security_key<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
    answer: &RegistrationAnswer<'_>,
    origin: &Origin,
) -> Result<KeyRegistered, Failure> {
    if services.has_working_factor(user).await? {
        require_fresh_second_factor(services, session)?;
    }
    let taken = take_registration(services, user, answer).await?;
    services
        .store
        .atomically(async {
            finish_registration(services, user, session, &taken, answer.response, origin, false).await
        })
        .await
}

/// Removes one of the person's own keys, after a step-up; their other sessions end.
pub async fn remove_own_security_key<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    session: &Session,
    key_id: crate::ids::FactorId,
    origin: &Origin,
) -> Result<(), Failure> {
    services
        .store
        .atomically(async {
            require_fresh_second_factor(services, session)?;
            if !services.store.remove_security_key(user.id, key_id).await? {
                return Err(Failure::NotFound);
            }
            services.store.delete_sessions_of(user.id, Some(&session.id_hash)).await?;
            services.store.forget_browsers(user.id).await?;
            services
                .queue_mail(mails::factor_changed(
                    &user.email,
                    "A security key was removed from your Keyward login.",
                ))
                .await?;
            services
                .audit(
                    user.account_id,
                    &actor(user),
                    format!("user:{}", user.id),
                    "security_key.removed",
                    origin,
                    format!("key {key_id}"),
                )
                .await?;
            Ok(())
        })
        .await
}

/// Whether the second step and step-up offer "Use your security key" to the person.
pub async fn has_security_key<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<bool, Failure> {
    Ok(!services.store.security_keys_of(user.id).await?.is_empty())
}

/// "Use your security key" at the second step or at step-up: options over the person's keys.
pub async fn begin_security_key_check<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<CeremonyStarted, Failure> {
    let keys = services.store.security_keys_of(user.id).await?;
    if keys.is_empty() {
        return Err(Failure::Refused(
            "You have no security key registered. Type a one-time password.".into(),
        ));
    }
    let stored: Vec<String> = keys.into_iter().map(|key| key.stored).collect();
    let ceremony = services.webauthn.start_authentication(&stored).map_err(webauthn_failure)?;
    let handle = begin(services, user, AUTHENTICATE, &ceremony.state).await?;
    Ok(CeremonyStarted { handle, options: ceremony.options })
}

/// What checking a security key's assertion found, and the key's name when it was one of the user's.
pub(crate) async fn check_security_key<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    handle: &str,
    response: &str,
    origin: &Origin,
) -> Result<(Verdict, Option<SecurityKeyName>), Failure> {
    // A handle already taken, expired, or another person's: the answer cannot be checked again.
    let Some(state) = take(services, user, AUTHENTICATE, handle).await? else {
        return Ok((Verdict::Replayed, None));
    };
    let keys = services.store.security_keys_of(user.id).await?;
    let asserted = match services.webauthn.finish_authentication(&state, response) {
        Ok(asserted) => asserted,
        Err(WebAuthnError::CounterRegressed { credential_id }) => {
            let key = keys.iter().find(|key| key.credential_id == credential_id);
            if let Some(key) = key {
                counter_regressed(services, user, key, origin).await?;
            }
            return Ok((Verdict::Invalid, None));
        }
        Err(WebAuthnError::Refused(_)) => return Ok((Verdict::Invalid, None)),
        Err(error) => return Err(webauthn_failure(error)),
    };
    let Some(key) = keys.into_iter().find(|key| key.credential_id == asserted.credential_id) else {
        return Ok((Verdict::Invalid, None));
    };
    if services.store.use_security_key(key.id, asserted.counter, services.now()).await? {
        return Ok((Verdict::Ok, Some(key.name)));
    }
    counter_regressed(services, user, &key, origin).await?;
    Ok((Verdict::Invalid, None))
}

/// A signature whose counter did not rise: a copy of the key may be in use. The user and the account's
/// admins are told, and the audit log records it.
async fn counter_regressed<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    key: &SecurityKey,
    origin: &Origin,
) -> Result<(), Failure> {
    let name = key.name.as_str();
    services.queue_mail(mails::security_key_counter_regressed(&user.email, &user.email, name)).await?;
    if let Some(account) = services.store.find_account(user.account_id).await? {
        tell_admins(services, &account, |to| mails::security_key_counter_regressed(to, &user.email, name))
            .await?;
    }
    let detail = format!("key {}: {name}, counter at {}", key.id, key.counter);
    services
        .audit(
            user.account_id,
            &actor(user),
            format!("user:{}", user.id),
            "security_key.counter_regressed",
            origin,
            detail,
        )
        .await
}
