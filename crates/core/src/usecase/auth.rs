//! Signing up, logging in (password, then one-time password), proving a second factor again for a
//! sensitive change, and logging out.

use super::{Failure, Origin, Services, mails};
use crate::mail::Mailer;
use crate::password::Password;
use crate::ports::PasswordHasher;
use crate::session::{RememberedBrowser, Session, SignIn, Stage};
use crate::store::{Store, ThrottleStore};
use crate::throttle::{self, ThrottlePolicy, ThrottleState};
use crate::token::Token;
use crate::user::{Email, Role, User};

/// The one message for a wrong e-mail address or a wrong password, so that neither is revealed.
const WRONG_LOGIN: &str = "The e-mail address or the password is wrong.";

/// Where a login happens: the account pages' login (users and admins) or the support console's
/// (operators). A person at the wrong door gets the answer of a wrong password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    Account,
    Support,
}

impl Door {
    fn admits(self, role: Role) -> bool {
        (role == Role::Operator) == (self == Door::Support)
    }
}

/// A started session: the token for the cookie, and whether a second factor is still owed.
#[derive(Debug)]
pub struct LoginOutcome {
    pub user: User,
    pub token: Token,
    pub stage: Stage,
}

/// The budgets one guess spends. A browser that has completed a login for this user before spends its
/// own; any other spends the budget of its (user, client address), the user's shared one and, for
/// passwords, its address's. An attacker without such a browser can exhaust only budgets the owner's
/// known browsers do not use, and an attacker at one address leaves the shared budget room for the owner
/// at another.
pub(crate) struct Budgets(pub(crate) Vec<(String, ThrottlePolicy)>);

impl Budgets {
    fn as_slice(&self) -> Vec<(&str, ThrottlePolicy)> {
        self.0.iter().map(|(key, policy)| (key.as_str(), *policy)).collect()
    }

    /// Spends one attempt from each, or refuses with the wait; the states after spending, in order.
    pub(crate) async fn spend<S: ThrottleStore>(
        &self,
        store: &S,
        now: crate::UnixTime,
    ) -> Result<Vec<ThrottleState>, Failure> {
        throttle::admit_all(store, &self.as_slice(), now).await?.map_err(Failure::Throttled)
    }

    /// The attempt succeeded: only failures spend. The first budget (this browser's, or this user's at
    /// this address) is cleared, since whoever is there has just proven the factor; the shared ones get
    /// this attempt back but keep the failures others spent.
    pub(crate) async fn give_back<S: ThrottleStore>(&self, store: &S) -> Result<(), Failure> {
        let budgets = self.as_slice();
        if let Some(((own, _), shared)) = budgets.split_first() {
            store.clear_throttle(own).await?;
            throttle::refund_all(store, shared).await?;
        }
        Ok(())
    }
}

/// The associated data of a known-browser mark.
const KNOWN_BROWSER_CONTEXT: &[u8] = b"keyward known browser";
/// How long a browser stays known after its last completed login: 180 days.
pub const KNOWN_BROWSER_SECS: u64 = 180 * 24 * 60 * 60;
/// The longest mark we read; anything longer is not ours.
const MAX_MARK_CHARS: usize = 200;

/// A mark for a browser that has just completed a login for `user`: the user's id and the time, sealed
/// under the master key (so any node can read it and nobody can forge one), for a long-lived cookie.
pub fn known_browser_mark<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<String, Failure> {
    let mut plaintext = [0u8; 16];
    plaintext[..8].copy_from_slice(&user.id.0.to_be_bytes());
    plaintext[8..].copy_from_slice(&services.now().seconds().to_be_bytes());
    services.seal_token(&plaintext, KNOWN_BROWSER_CONTEXT)
}

/// Whether `origin` presents a mark that `user` completed a login from this browser in the last 180 days.
pub(crate) fn is_known_browser<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    origin: &Origin,
    user: &User,
) -> bool {
    let Some(mark) = origin.browser.as_deref() else { return false };
    let Some(plaintext) = services.open_token(mark, KNOWN_BROWSER_CONTEXT, MAX_MARK_CHARS) else {
        return false;
    };
    let (Ok(id), Ok(at)) = (
        <[u8; 8]>::try_from(plaintext.get(..8).unwrap_or_default()),
        <[u8; 8]>::try_from(plaintext.get(8..).unwrap_or_default()),
    ) else {
        return false;
    };
    let age = services.now().seconds().saturating_sub(u64::from_be_bytes(at));
    i64::from_be_bytes(id) == user.id.0 && age < KNOWN_BROWSER_SECS
}

/// The client's address as a throttle key part ("" when unknown).
pub(crate) fn address(origin: &Origin) -> &str {
    origin.ip.as_deref().unwrap_or_default()
}

/// A new session; `second_factor_at`: when a second factor was last proven for it (a remembered browser's).
pub(crate) async fn start_session<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    stage: Stage,
    second_factor_at: Option<crate::UnixTime>,
) -> Result<Token, Failure> {
    let now = services.now();
    let token = Token::generate(16, &mut services.rng());
    let session = Session {
        id_hash: token.hash(),
        user_id: user.id,
        stage,
        created_at: now,
        last_seen_at: now,
        second_factor_at,
    };
    services.store.insert_session(&session).await?;
    Ok(token)
}

/// A second factor was just proven in `session`: it gets a new id (the old one is worth nothing from now
/// on), is complete, and records the time for step-up. Refused when the session ended meanwhile (of two
/// requests completing one session, the second).
pub(crate) async fn complete_session<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    session: &Session,
) -> Result<Token, Failure> {
    let now = services.now();
    let token = Token::generate(16, &mut services.rng());
    if !services
        .store
        .rotate_session(&session.id_hash, &token.hash(), Stage::Complete, Some(now), now)
        .await?
    {
        return Err(Failure::Refused("Your session ended. Log in again.".into()));
    }
    Ok(token)
}

/// What a login owes after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owed {
    /// Two-factor authentication is not active for the person's account.
    Nothing,
    /// A one-time password: operators always, account members once their account activated it.
    SecondFactor,
    /// Nothing yet: the member has no factor and the account's grace deadline is this many days away
    /// (rounded up).
    Grace { days_left: u64 },
}

async fn owed_after_password<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<Owed, Failure> {
    if user.role == Role::Operator {
        return Ok(Owed::SecondFactor);
    }
    let account = services.store.find_account(user.account_id).await?.ok_or(Failure::NotFound)?;
    let now = services.now();
    Ok(match (account.activation, account.enroll_by) {
        (None, _) => Owed::Nothing,
        (Some(_), Some(deadline)) if account.in_grace(now) && !services.has_working_factor(user).await? => {
            Owed::Grace { days_left: (deadline.seconds() - now.seconds()).div_ceil(86_400) }
        }
        (Some(_), _) => Owed::SecondFactor,
    })
}

/// A session in use: the session, its person, and, for a member in their account's grace period without
/// a factor, the days left to enroll (the pages' banner).
#[derive(Debug, Clone)]
pub struct CurrentSession {
    pub session: Session,
    pub user: User,
    pub grace_days_left: Option<u64>,
}

/// The password step. Unknown addresses cost the same time and get the same message as wrong passwords.
/// Guesses are throttled across all nodes (see [`Budgets`]); when the budget shared by unknown browsers
/// runs out, the owner is told by e-mail.
pub async fn log_in<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    door: Door,
    email: &str,
    password: &str,
    origin: &Origin,
) -> Result<LoginOutcome, Failure> {
    let now = services.now();
    let typed = email.trim().to_lowercase();
    let user = match Email::parse(email) {
        Ok(email) => services.store.find_user_by_email(&email).await?,
        Err(_) => None,
    };
    let known = user.as_ref().is_some_and(|user| is_known_browser(services, origin, user));
    let budgets = Budgets(if known {
        let mark = origin.browser.as_deref().unwrap_or_default();
        vec![(throttle::key("password:browser", &[&typed, mark]), ThrottlePolicy::PASSWORD_KNOWN_BROWSER)]
    } else {
        vec![
            (
                throttle::key("password:user-address", &[&typed, address(origin)]),
                ThrottlePolicy::PASSWORD_USER_ADDRESS,
            ),
            (throttle::key("password:user", &[&typed]), ThrottlePolicy::PASSWORD_USER),
            (throttle::key("password:address", &[address(origin)]), ThrottlePolicy::PASSWORD_ADDRESS),
        ]
    });
    let spent = budgets.spend(&services.store, now).await?;
    let refused = || Failure::Refused(WRONG_LOGIN.to_owned());
    let verified = match Password::parse(password) {
        Ok(password) => {
            services.hasher.verify(user.as_ref().and_then(|u| u.password_hash.clone()), password).await
        }
        Err(_) => false,
    };
    let user = match user {
        Some(user) if verified && door.admits(user.role) => user,
        user => {
            // An unknown browser that spends the free attempts of its address or of the shared budget
            // starts making people wait: the owner hears of it, at most once an hour.
            let free_spent = !known
                && [ThrottlePolicy::PASSWORD_USER_ADDRESS, ThrottlePolicy::PASSWORD_USER]
                    .iter()
                    .zip(&spent)
                    .any(|(policy, state)| state.attempts == policy.free);
            if let (Some(user), true) = (user, free_spent) {
                let alert = throttle::key("alert:password", &[&typed]);
                if throttle::admit(&services.store, &alert, ThrottlePolicy::ALERT, now).await?.is_admitted() {
                    let attempts = spent.iter().map(|state| state.attempts).max().unwrap_or_default();
                    services
                        .queue_mail(mails::wrong_passwords(&user.email, attempts, address(origin)))
                        .await?;
                }
            }
            return Err(refused());
        }
    };
    budgets.give_back(&services.store).await?;
    let (stage, proven_at) = if owed_after_password(services, &user).await? != Owed::SecondFactor {
        (Stage::Complete, None)
    } else if let Some(proven_at) = remembered_proof(services, origin, &user).await? {
        (Stage::Complete, Some(proven_at))
    } else {
        (Stage::PasswordOnly, None)
    };
    let token = start_session(services, &user, stage, proven_at).await?;
    if stage == Stage::Complete {
        let how = if proven_at.is_some() { "remembered_browser" } else { "password" };
        record_sign_in(services, &user, origin, how, String::new()).await?;
    }
    Ok(LoginOutcome { user, token, stage })
}

/// When the browser is remembered for this user (and its account still allows remembering): when the
/// second factor was proven in it. Operators are never remembered.
async fn remembered_proof<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    origin: &Origin,
    user: &User,
) -> Result<Option<crate::UnixTime>, Failure> {
    let Some(token) = origin.remembered.as_deref() else { return Ok(None) };
    if user.role == Role::Operator || token.len() > 100 {
        return Ok(None);
    }
    let Some(browser) = services.store.find_remembered_browser(&Token::from_presented(token).hash()).await?
    else {
        return Ok(None);
    };
    let account = services.store.find_account(user.account_id).await?.ok_or(Failure::NotFound)?;
    let valid =
        browser.user_id == user.id && services.now() < browser.expires_at && account.remember_days > 0;
    Ok(valid.then_some(browser.proven_at))
}

/// Records a completed login for the user's "Recent sign-ins".
pub(crate) async fn record_sign_in<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
    origin: &Origin,
    factor: &str,
    detail: String,
) -> Result<(), Failure> {
    let sign_in = SignIn { at: services.now(), ip: origin.ip.clone(), factor: factor.to_owned(), detail };
    services.store.record_sign_in(user.id, &sign_in).await?;
    Ok(())
}

/// For how many days the second step offers to remember this person's browser: the account's setting,
/// 0 when it is off, and always 0 for operators.
pub async fn remember_days_offered<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<u8, Failure> {
    if user.role == Role::Operator {
        return Ok(0);
    }
    Ok(services.store.find_account(user.account_id).await?.map_or(0, |account| account.remember_days))
}

/// "Remember this browser" after a second factor at login: a token for a cookie, stored hashed, good for
/// the account's number of days; `None` when the account does not allow it (and never for operators).
pub async fn remember_this_browser<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    user: &User,
) -> Result<Option<(Token, u64)>, Failure> {
    let days = remember_days_offered(services, user).await?;
    if days == 0 {
        return Ok(None);
    }
    let now = services.now();
    let max_age = u64::from(days) * 86_400;
    let token = Token::generate(32, &mut services.rng());
    let browser = RememberedBrowser {
        token_hash: token.hash(),
        user_id: user.id,
        proven_at: now,
        expires_at: crate::UnixTime(now.seconds() + max_age),
    };
    services.store.remember_browser(&browser).await?;
    Ok(Some((token, max_age)))
}

/// The session behind a cookie, if it exists and has not expired; using it keeps it alive.
pub async fn current_session<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    token: &Token,
) -> Result<Option<CurrentSession>, Failure> {
    let now = services.now();
    let Some(mut session) = services.store.find_session(&token.hash()).await? else { return Ok(None) };
    if session.is_expired(now) {
        services.store.delete_session(&session.id_hash).await?;
        return Ok(None);
    }
    let Some(user) = services.store.find_user(session.user_id).await? else { return Ok(None) };
    // Only a complete session that never proved a factor can owe one now, or be in a grace period.
    let owed = if session.stage == Stage::Complete && session.second_factor_at.is_none() {
        owed_after_password(services, &user).await?
    } else {
        Owed::Nothing
    };
    if owed == Owed::SecondFactor {
        // Logged in with the password alone before two-factor authentication was activated: the second
        // factor is owed now, before anything else.
        let id = &session.id_hash;
        if !services.store.rotate_session(id, id, Stage::PasswordOnly, None, now).await? {
            return Ok(None);
        }
        session.stage = Stage::PasswordOnly;
    } else {
        services.store.touch_session(&session.id_hash, now).await?;
    }
    let grace_days_left = match owed {
        Owed::Grace { days_left } => Some(days_left),
        _ => None,
    };
    Ok(Some(CurrentSession { session, user, grace_days_left }))
}

/// Ends a session.
pub async fn log_out<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    token: &Token,
) -> Result<(), Failure> {
    services.store.delete_session(&token.hash()).await?;
    Ok(())
}
