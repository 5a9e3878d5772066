//! Signing up: the form's answer is the same for every address ("check your e-mail"); the address's
//! mailbox gets either a link that creates the account once opened, or, when the address already has a
//! login, a note saying so. Nobody learns from the page which addresses have logins.

use super::{Failure, LoginOutcome, Origin, Services, actor, mails};
use crate::UnixTime;
use crate::account::AccountName;
use crate::mail::Mailer;
use crate::password::{Password, PasswordHash};
use crate::ports::PasswordHasher;
use crate::session::Stage;
use crate::store::{Store, StoreError};
use crate::user::Email;

/// How long a sign-up link works: a day.
pub const SIGN_UP_LINK_SECS: u64 = 24 * 60 * 60;
const SIGN_UP_CONTEXT: &[u8] = b"keyward sign-up";
/// The longest link token we read (the sealed name, address and password hash fit well within it).
const MAX_TOKEN_CHARS: usize = 2000;
const EXPIRED: &str = "This sign-up link has expired or is not complete. Sign up again to get a new one.";

/// A sign-up waiting for its address to be confirmed: the e-mail to send, not yet sent.
#[derive(Debug)]
pub struct PendingSignUp {
    email: Email,
    account_name: AccountName,
    /// The sealed request, for the link.
    token: String,
}

/// What a sign-up link holds: the account to create and its first admin.
#[derive(Debug)]
pub struct SignUpLink {
    pub account_name: AccountName,
    pub email: Email,
    password_hash: PasswordHash,
}

/// "Sign up": checks the form and hashes the password (the same work for every address); the e-mail is
/// sent by [`send_sign_up_mail`], which the caller runs after answering.
pub async fn request_sign_up<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account_name: &str,
    email: &str,
    password: &str,
) -> Result<PendingSignUp, Failure> {
    let account_name = AccountName::parse(account_name)?;
    let email = Email::parse(email)?;
    let hash = services.hasher.hash(Password::parse(password)?).await?;
    // Neither an account name nor an address nor a PHC string holds a line break.
    let plaintext = format!(
        "{}\n{}\n{}\n{}",
        services.now().seconds(),
        account_name.as_str(),
        email.as_str(),
        hash.as_str()
    );
    let token = services.seal_token(plaintext.as_bytes(), SIGN_UP_CONTEXT)?;
    Ok(PendingSignUp { email, account_name, token })
}

/// Mails the link that creates the account, or, when the address already has a login, a note saying so
/// with the ways back in.
pub async fn send_sign_up_mail<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    pending: PendingSignUp,
) -> Result<(), Failure> {
    let base = &services.settings.public_url;
    let message = if services.store.find_user_by_email(&pending.email).await?.is_some() {
        mails::already_signed_up(&pending.email, base)
    } else {
        let link = format!("{base}/signup/{}", pending.token);
        mails::confirm_sign_up(&pending.email, pending.account_name.as_str(), &link)
    };
    services.queue_mail(message).await?;
    Ok(())
}

/// Reads a sign-up link: the account it creates, while the link is less than a day old.
pub fn open_sign_up<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    token: &str,
) -> Result<SignUpLink, Failure> {
    let refused = || Failure::Refused(EXPIRED.into());
    let plaintext = services.open_token(token, SIGN_UP_CONTEXT, MAX_TOKEN_CHARS).ok_or_else(refused)?;
    let text = std::str::from_utf8(&plaintext).map_err(|_| refused())?;
    let mut fields = text.split('\n');
    let (Some(at), Some(name), Some(email), Some(hash), None) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(refused());
    };
    let at = UnixTime(at.parse().map_err(|_| refused())?);
    if services.now().seconds().saturating_sub(at.seconds()) >= SIGN_UP_LINK_SECS {
        return Err(refused());
    }
    Ok(SignUpLink {
        account_name: AccountName::parse(name)?,
        email: Email::parse(email)?,
        password_hash: PasswordHash::parse(hash)?,
    })
}

/// "Create account" on the link's page: creates the account with its first admin and logs the admin in.
/// The link works once: the address has a login afterwards.
pub async fn confirm_sign_up<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    token: &str,
    origin: &Origin,
) -> Result<LoginOutcome, Failure> {
    services
        .store
        .atomically(async {
            let link = open_sign_up(services, token)?;
            let created = services
                .store
                .create_account(&link.account_name, &link.email, &link.password_hash, services.now())
                .await;
            let (account, admin) = match created {
                Ok(created) => created,
                Err(StoreError::Duplicate(_)) => {
                    return Err(Failure::Refused(
                        "This link was already used: the account exists. Log in with your e-mail address and \
                         password."
                            .into(),
                    ));
                }
                Err(error) => return Err(error.into()),
            };
            services
                .audit(
                    account.id,
                    &actor(&admin),
                    format!("account:{}", account.id),
                    "account.created",
                    origin,
                    String::new(),
                )
                .await?;
            let token = super::auth::start_session(services, &admin, Stage::Complete, None).await?;
            Ok(LoginOutcome { user: admin, token, stage: Stage::Complete })
        })
        .await
}
