//! Applications that use Keyward through the JSON API. An account's admins make and revoke API clients;
//! a client's key is shown once and kept as its SHA-256. A client reaches only its own account, and
//! checks codes through the same [`check_otp`] as logins: the same budgets, the same replay rules.

use super::enrollment::{EnrollmentSecret, accept_first_code, bind_totp, new_pending_totp};
use super::people::{UserOverview, account_users, add_user_as, require_admin};
use super::two_factor::{Recipients, register_yubikey_as, send_enrollment_as, user_in_account};
use super::verify::{Checked, check_otp};
use super::{Failure, Origin, Services, actor};
use crate::account::{Account, AccountName};
use crate::client::{ApiClient, YubicoClient, add_yubico_client};
use crate::factor::Yubikey;
use crate::ids::{AccountId, ApiClientId, UserId};
use crate::mail::Mailer;
use crate::ports::PasswordHasher;
use crate::store::Store;
use crate::token::Token;
use crate::user::{Email, User};

/// The longest key we hash: ours are 43 characters.
const MAX_KEY_CHARS: usize = 128;

/// A client just made, with the key to show once.
#[derive(Debug)]
pub struct NewApiClient {
    pub client: ApiClient,
    pub key: Token,
}

/// How an API client is named in the audit log.
fn client_actor(client: &ApiClient) -> String {
    format!("api:{}:{}", client.id.0, client.name)
}

/// "Create API client": a new key for the admin's account.
pub async fn create_api_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    name: &str,
    origin: &Origin,
) -> Result<NewApiClient, Failure> {
    services
        .store
        .atomically(async {
            require_admin(admin)?;
            // The rules of an account name: 1 to 100 characters that can be typed.
            let name = AccountName::parse(name).map_err(|_| {
                Failure::Refused(
                    "Name the client in 1 to 100 characters, for example \"Billing app\".".into(),
                )
            })?;
            let key = Token::generate(32, &mut services.rng());
            let client = services
                .store
                .insert_api_client(admin.account_id, name.as_str(), &key.hash(), services.now())
                .await?;
            services
                .audit(
                    admin.account_id,
                    &actor(admin),
                    client_actor(&client),
                    "api_client.created",
                    origin,
                    String::new(),
                )
                .await?;
            Ok(NewApiClient { client, key })
        })
        .await
}

/// The admin's account's API clients.
pub async fn api_clients<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
) -> Result<Vec<ApiClient>, Failure> {
    require_admin(admin)?;
    Ok(services.store.list_api_clients(admin.account_id).await?)
}

/// "Revoke": the key stops working at once, on every node.
pub async fn revoke_api_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    id: ApiClientId,
    origin: &Origin,
) -> Result<(), Failure> {
    services
        .store
        .atomically(async {
            let clients = api_clients(services, admin).await?;
            let client = clients.into_iter().find(|client| client.id == id).ok_or(Failure::NotFound)?;
            services.store.delete_api_client(client.id).await?;
            services
                .audit(
                    admin.account_id,
                    &actor(admin),
                    client_actor(&client),
                    "api_client.revoked",
                    origin,
                    String::new(),
                )
                .await?;
            Ok(())
        })
        .await
}

/// The client whose key was presented (`Authorization: Bearer KEY`), if any.
pub async fn api_client_by_key<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    presented: &str,
) -> Result<Option<ApiClient>, Failure> {
    if presented.is_empty() || presented.len() > MAX_KEY_CHARS {
        return Ok(None);
    }
    Ok(services.store.find_api_client_by_key(&Token::from_presented(presented).hash()).await?)
}

/// A user of the client's account by address; another account's users do not exist for it.
async fn user_of<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    client: &ApiClient,
    email: &str,
) -> Result<User, Failure> {
    let email = Email::parse(email)?;
    let user = services.store.find_user_by_email(&email).await?;
    user.filter(|user| user.account_id == client.account_id).ok_or(Failure::NotFound)
}

/// Checks a one-time password (TOTP code, YubiKey OTP or recovery code) for a user of the client's account.
pub async fn verify_for_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    client: &ApiClient,
    email: &str,
    otp: &str,
    origin: &Origin,
) -> Result<Checked, Failure> {
    let user = user_of(services, client, email).await?;
    check_otp(services, &user, otp, origin, false).await
}

/// The client's account and its users with their two-factor state.
pub async fn account_for_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account_id: AccountId,
) -> Result<(Account, Vec<UserOverview>), Failure> {
    let account = services.store.find_account(account_id).await?.ok_or(Failure::NotFound)?;
    let users = account_users(services, account_id).await?;
    Ok((account, users))
}

/// Adds a user to the client's account, as "Add user" does (their password link by e-mail, the same
/// answer for an address that has a login elsewhere).
pub async fn add_user_for_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    client: &ApiClient,
    email: &str,
    origin: &Origin,
) -> Result<Email, Failure> {
    add_user_as(services, client.account_id, &client_actor(client), email, origin).await
}

/// E-mails the user an enrollment link, as the TOTP tab's "Send enrollment e-mail" does.
pub async fn send_enrollment_for_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    client: &ApiClient,
    user_id: UserId,
    origin: &Origin,
) -> Result<(), Failure> {
    let by = client_actor(client);
    send_enrollment_as(services, client.account_id, &by, Recipients::One(user_id), origin).await?;
    Ok(())
}

/// Registers the YubiKey that typed `otp` to the user. While the user has a working factor,
/// `current_otp` must prove it.
pub async fn register_yubikey_for_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    client: &ApiClient,
    user_id: UserId,
    otp: &str,
    current_otp: Option<&str>,
    origin: &Origin,
) -> Result<Yubikey, Failure> {
    let user = user_in_account(services, client.account_id, user_id).await?;
    prove_current_factor(services, &user, current_otp, origin).await?;
    register_yubikey_as(services, client.account_id, &client_actor(client), user.id, otp, origin, None).await
}

/// A key alone rebinds nobody: while `user` has a working factor, `current_otp` must prove it.
async fn prove_current_factor<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    current_otp: Option<&str>,
    origin: &Origin,
) -> Result<(), Failure> {
    if !services.has_working_factor(user).await? {
        return Ok(());
    }
    let Some(otp) = current_otp else {
        return Err(Failure::Refused(
            "The user already has a second factor: send a current one-time password of it as current_otp."
                .into(),
        ));
    };
    let proven = check_otp(services, user, otp, origin, false).await?;
    match proven.refusal() {
        None => Ok(()),
        Some(refusal) => Err(refusal),
    }
}

/// Starts enrolling an authenticator app for a user: a new secret, pending until its first code.
/// While the user has a working factor, `current_otp` must prove it.
pub async fn start_totp_for_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    client: &ApiClient,
    user_id: UserId,
    current_otp: Option<&str>,
    origin: &Origin,
) -> Result<EnrollmentSecret, Failure> {
    let user = user_in_account(services, client.account_id, user_id).await?;
    let account = services.store.find_account(client.account_id).await?.ok_or(Failure::NotFound)?;
    if !account.methods.totp {
        return Err(Failure::Refused("TOTP apps are not turned on for this account.".into()));
    }
    prove_current_factor(services, &user, current_otp, origin).await?;
    new_pending_totp(services, &user).await
}

/// Finishes an enrollment with the app's first code: the app becomes the user's one app; the user's
/// recovery codes are returned (to show them once), their sessions end and they are told.
pub async fn confirm_totp_for_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    client: &ApiClient,
    user_id: UserId,
    code: &str,
    origin: &Origin,
) -> Result<Vec<String>, Failure> {
    services
        .store
        .atomically(async {
            let user = user_in_account(services, client.account_id, user_id).await?;
            let factors = services.store.totp_factors(user.id).await?;
            let pending = factors
                .into_iter()
                .filter(|f| f.confirmed_at.is_none())
                .max_by_key(|f| (f.created_at, f.id.0));
            let pending = pending.ok_or_else(|| {
                Failure::Refused("Start an enrollment first: no app is waiting for its code.".into())
            })?;
            accept_first_code(services, &user, &pending, code).await?;
            bind_totp(services, &user, &pending, &client_actor(client), origin, None).await
        })
        .await
}

/// "Add a Validation Protocol client": an id and a key (shown once) for `ykclient`, `pam_yubico` and the
/// like; it validates only the account's users' keys.
pub async fn create_yubico_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    name: &str,
    origin: &Origin,
) -> Result<(YubicoClient, crate::wsapi::ClientKey), Failure> {
    services
        .store
        .atomically(async {
            require_admin(admin)?;
            let name = AccountName::parse(name).map_err(|_| {
                Failure::Refused("Name the client in 1 to 100 characters, for example \"VPN\".".into())
            })?;
            let (client, key) = add_yubico_client(
                &services.store,
                &services.keys,
                &mut services.rng(),
                Some(admin.account_id),
                name.as_str(),
                services.now(),
            )
            .await?;
            let target = format!("yubico_client:{}", client.id);
            services
                .audit(admin.account_id, &actor(admin), target, "yubico_client.added", origin, String::new())
                .await?;
            Ok((client, key))
        })
        .await
}

/// The account's Validation Protocol clients.
pub async fn yubico_clients<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
) -> Result<Vec<YubicoClient>, Failure> {
    require_admin(admin)?;
    let all = services.store.list_yubico_clients().await?;
    Ok(all.into_iter().filter(|client| client.account_id == Some(admin.account_id)).collect())
}

/// "Remove": the client's requests are answered NO_SUCH_CLIENT from then on.
pub async fn remove_yubico_client<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    admin: &User,
    id: i64,
    origin: &Origin,
) -> Result<(), Failure> {
    services
        .store
        .atomically(async {
            let ours = yubico_clients(services, admin).await?.iter().any(|client| client.id == id);
            if !ours {
                return Err(Failure::NotFound);
            }
            services.store.delete_yubico_client(id).await?;
            let target = format!("yubico_client:{id}");
            services
                .audit(
                    admin.account_id,
                    &actor(admin),
                    target,
                    "yubico_client.removed",
                    origin,
                    String::new(),
                )
                .await?;
            Ok(())
        })
        .await
}
