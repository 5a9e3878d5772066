//! Enrolling a TOTP app from the e-mailed link: the page asks for the user's password (unless they are
//! logged in as that user), shows the QR code of a new secret, and confirms it with the first code.
//! The user then sees their recovery codes, once.

use super::{Failure, Origin, Services, actor, mails};
use crate::account::Account;
use crate::factor::{TotpFactor, totp_seal_context};
use crate::invitation::{Invitation, Purpose};
use crate::mail::Mailer;
use crate::otp::{Code, OtpAuthUri, Secret, Totp, TotpParams};
use crate::ports::PasswordHasher;
use crate::session::Session;
use crate::store::Store;
use crate::token::{Token, TokenHash};
use crate::user::User;

/// Recovery codes: 80 random bits each, written as 16 base32 characters in groups of four.
pub(crate) const RECOVERY_CODE_CHARS: usize = 16;
const RECOVERY_CODES: usize = 10;
const EXPIRED: &str = "This link has expired or was already used. Ask your administrator for a new one.";

/// What the enrollment page is about.
#[derive(Debug, Clone)]
pub struct EnrollmentPage {
    pub invitation: Invitation,
    pub user: User,
    pub account: Account,
    /// The user can already prove a factor: the link binds a new one only after that factor is proven
    /// (a mailbox and a password are not enough to replace it).
    pub has_factor: bool,
}

/// The secret to show: as a URI (for the QR code) and grouped for typing by hand.
#[derive(Debug)]
pub struct EnrollmentSecret {
    pub uri: OtpAuthUri,
    pub grouped: String,
}

/// A finished enrollment: the recovery codes to show once, and the session's new token.
#[derive(Debug)]
pub struct Enrolled {
    pub recovery_codes: Vec<String>,
    pub token: Token,
}

/// Lower case, without the dashes and spaces people type.
pub(crate) fn normalize_recovery_code(typed: &str) -> String {
    typed.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// Resolves an enrollment link; expired, used and voided links are refused with one message.
pub async fn open_enrollment<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    token: &Token,
) -> Result<EnrollmentPage, Failure> {
    let invitation = services.store.find_open_invitation(&token.hash(), services.now()).await?;
    let invitation =
        invitation.filter(|i| i.purpose == Purpose::Enrollment).ok_or(Failure::Refused(EXPIRED.into()))?;
    let user = services.store.find_user(invitation.user_id).await?.ok_or(Failure::NotFound)?;
    let account = services.store.find_account(user.account_id).await?.ok_or(Failure::NotFound)?;
    let has_factor = services.has_working_factor(&user).await?;
    Ok(EnrollmentPage { invitation, user, account, has_factor })
}

/// Whether `session` may bind a new factor for the page's user: theirs, and, when they already have a
/// factor, with that factor proven in the last five minutes.
pub fn may_bind<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    page: &EnrollmentPage,
    session: &Session,
) -> bool {
    session.user_id == page.user.id && (!page.has_factor || session.has_fresh_second_factor(services.now()))
}

/// The first step of the enrollment page: e-mail access alone binds nothing. The password, and when the
/// user already has a factor, a one-time password from it (`otp`), start a session for the user that is
/// good for finishing the enrollment.
pub async fn confirm_enrollment_password<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    page: &EnrollmentPage,
    password: &str,
    otp: &str,
    origin: &Origin,
) -> Result<Token, Failure> {
    let outcome =
        super::log_in(services, super::Door::Account, page.user.email.as_str(), password, origin).await?;
    if !page.has_factor {
        return Ok(outcome.token);
    }
    if otp.trim().is_empty() {
        return Err(Failure::Refused(OWED_FACTOR.into()));
    }
    let session = services.store.find_session(&outcome.token.hash()).await?.ok_or(Failure::NotFound)?;
    let proven =
        super::prove_second_factor(services, &session, &page.user, super::Proof::Typed(otp), origin).await?;
    match proven.token {
        Some(token) => Ok(token),
        None => Err(proven.checked.refusal().unwrap_or_else(|| Failure::Refused(OWED_FACTOR.into()))),
    }
}

const OWED_FACTOR: &str = "You already have two-factor authentication. Type a one-time password from your \
     current app or YubiKey as well. If you lost it, ask your administrator's support to reset it.";

/// The secret shown on the page: the pending factor made since the link was sent (so reloading the page
/// shows the same QR code), or a new one.
pub async fn begin_enrollment<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    page: &EnrollmentPage,
) -> Result<EnrollmentSecret, Failure> {
    match pending_factor(services, page).await? {
        Some(factor) => {
            let secret = services.keys.open(&factor.secret, &totp_seal_context(page.user.id))?;
            secret_of(services, &page.user, Secret::from_bytes(&secret)?)
        }
        None => new_pending_totp(services, &page.user).await,
    }
}

async fn pending_factor<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    page: &EnrollmentPage,
) -> Result<Option<TotpFactor>, Failure> {
    let factors = services.store.totp_factors(page.user.id).await?;
    Ok(factors.into_iter().find(|f| f.confirmed_at.is_none() && f.created_at >= page.invitation.created_at))
}

/// "Verify": the first code confirms the pending factor (and counts as used), the link is used up, and the
/// user gets fresh recovery codes.
pub async fn finish_enrollment<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    page: &EnrollmentPage,
    session: &Session,
    typed: &str,
    origin: &Origin,
) -> Result<Enrolled, Failure> {
    services
        .store
        .atomically(async {
            if session.user_id != page.user.id {
                return Err(Failure::Forbidden);
            }
            if !may_bind(services, page, session) {
                return Err(Failure::Refused(OWED_FACTOR.into()));
            }
            let now = services.now();
            let factor = pending_factor(services, page).await?.ok_or(Failure::Refused(EXPIRED.into()))?;
            accept_first_code(services, &page.user, &factor, typed).await?;
            if !services.store.close_invitation(page.invitation.id, now).await? {
                return Err(Failure::Refused(EXPIRED.into()));
            }
            let token = super::auth::complete_session(services, session).await?;
            let recovery_codes =
                bind_totp(services, &page.user, &factor, &actor(&page.user), origin, Some(&token.hash()))
                    .await?;
            Ok(Enrolled { recovery_codes, token })
        })
        .await
}

/// Checks the first code of a pending app and uses its step: the app is confirmed from then on.
pub(crate) async fn accept_first_code<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    factor: &TotpFactor,
    typed: &str,
) -> Result<(), Failure> {
    let now = services.now();
    let code = Code::parse(typed)?;
    let secret = services.keys.open(&factor.secret, &totp_seal_context(user.id))?;
    let totp = Totp::new(&Secret::from_bytes(&secret)?, factor.params)?;
    let matched = totp.verify(code, now, 1, 0, None).ok_or_else(|| {
        Failure::Refused(
            "That code is not right. Check that the app shows Keyward, and type its current code.".into(),
        )
    })?;
    if !services.store.consume_totp_step(factor.id, matched.step, matched.clock_offset, now).await? {
        return Err(Failure::Refused("That code was already used. Wait for the next one.".into()));
    }
    Ok(())
}

/// Makes a just-confirmed app the user's one app: the others retire (one may be the lost device), the
/// user gets fresh recovery codes (returned, to show once), their sessions but `keep` end, they are told
/// by e-mail, and the audit log records it as done by `by`.
pub(crate) async fn bind_totp<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    factor: &TotpFactor,
    by: &str,
    origin: &Origin,
    keep: Option<&TokenHash>,
) -> Result<Vec<String>, Failure> {
    let replaced = services.store.remove_other_totp_factors(user.id, factor.id).await?;
    let (recovery_codes, hashes) = recovery_codes(services);
    services.store.replace_recovery_codes(user.id, &hashes).await?;
    services.store.delete_sessions_of(user.id, keep).await?;
    services.store.forget_browsers(user.id).await?;
    let change = if replaced > 0 {
        "A new authenticator app replaced the one on your Keyward login."
    } else {
        "An authenticator app was added to your Keyward login."
    };
    services.queue_mail(mails::factor_changed(&user.email, change)).await?;
    let detail = format!("factor {}, replacing {replaced}", factor.id);
    services.audit(user.account_id, by, format!("user:{}", user.id), "totp.enrolled", origin, detail).await?;
    Ok(recovery_codes)
}

/// A new secret for `user`, stored sealed as a pending app, and its Key Uri for the QR code.
pub(crate) async fn new_pending_totp<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<EnrollmentSecret, Failure> {
    let secret = Secret::generate(&mut services.rng());
    let sealed = services.keys.seal(secret.as_bytes(), &totp_seal_context(user.id), &mut services.rng())?;
    services.store.insert_totp_factor(user.id, &sealed, TotpParams::default(), services.now()).await?;
    secret_of(services, user, secret)
}

pub(crate) fn secret_of<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    secret: Secret,
) -> Result<EnrollmentSecret, Failure> {
    let grouped = secret.to_base32_grouped();
    let uri =
        OtpAuthUri::new(Some(&services.settings.issuer), user.email.as_str(), secret, TotpParams::default())?;
    Ok(EnrollmentSecret { uri, grouped })
}

pub(crate) fn recovery_codes<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
) -> (Vec<String>, Vec<TokenHash>) {
    let mut rng = services.rng();
    (0..RECOVERY_CODES)
        .map(|_| {
            let mut bytes = [0u8; 10];
            rand_core::Rng::fill_bytes(&mut rng, &mut bytes);
            let code = data_encoding::BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
            let hash = Token::from_presented(&code).hash();
            let shown = code
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>();
            (shown.join("-"), hash)
        })
        .unzip()
}
