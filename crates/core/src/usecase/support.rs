//! The support console: operators (made with the CLI), and lost-device requests decided by following the
//! account's disable policy. A request is opened by the user from the login's second step or by an
//! operator taking a call; an operator approves only after recording whom they contacted, how, and what
//! that person confirmed; a request for an account admin needs two operators; nobody approves a request
//! they opened. Deciding is one conditional update, so a decided or expired request stays decided.

use super::enrollment::{accept_first_code, bind_totp, new_pending_totp, recovery_codes};
use super::people::{account_users, send_link};
use super::security::own_pending_app;
use super::two_factor::{email_enrollment, register_yubikey_as, tell_admins, user_in_account};
use super::{Enrolled, EnrollmentSecret, Failure, Origin, Services, UserOverview, actor, mails};
use crate::account::{Account, OPERATORS_ACCOUNT};
use crate::audit::AuditEvent;
use crate::disable::{Approval, Decision, DisableRequest};
use crate::ids::{AccountId, DisableRequestId, UserId};
use crate::invitation::Purpose;
use crate::mail::Mailer;
use crate::ports::PasswordHasher;
use crate::session::{Session, Stage};
use crate::store::{AuditQuery, Store, StoreError};
use crate::user::{Email, Role, User};

/// The longest reason, contact or piece of evidence kept.
const MAX_TEXT_CHARS: usize = 2000;
/// How many accounts a search shows, and how many events the console shows of an account's log.
const SEARCH_LIMIT: u32 = 50;
const CONSOLE_EVENTS: u32 = 50;
const DECIDED: &str = "This request was already decided or has expired.";

/// Where an operator stands, for `keyward operator list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorState {
    /// Has a password and a second factor: can open the console.
    Active,
    /// Has not finished setting up (no password yet, or no second factor yet).
    SettingUp,
    /// Removed: no password, no factor; their past decisions still name them.
    Removed,
}

impl OperatorState {
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorState::Active => "active",
            OperatorState::SettingUp => "setting up",
            OperatorState::Removed => "removed",
        }
    }
}

/// `keyward operator add`: a new operator (or a removed one, back again) and the one-time set-up link to
/// give them. The link sets a password; the first login then asks them to set up an authenticator app
/// before the console opens.
pub async fn add_operator<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    email: &str,
) -> Result<String, Failure> {
    services.store.atomically(async {
    let email = Email::parse(email)?;
    let now = services.now();
    let operator =
        match services.store.insert_user(OPERATORS_ACCOUNT, &email, Role::Operator, None, now).await {
            Ok(operator) => operator,
            Err(StoreError::Duplicate(_)) => {
                let existing = services.store.find_user_by_email(&email).await?.ok_or(Failure::NotFound)?;
                if existing.role != Role::Operator {
                    return Err(Failure::Refused(format!(
                        "{email} is a user of a customer account; an operator needs an address of their own."
                    )));
                }
                if operator_state(services, &existing).await? != OperatorState::Removed {
                    return Err(Failure::Refused(format!("{email} is already an operator.")));
                }
                existing
            }
            Err(error) => return Err(error.into()),
        };
    let link =
        send_link(services, &operator, Purpose::SetPassword, services.settings.enrollment_link_secs).await?;
    let target = actor(&operator);
    services
        .audit(OPERATORS_ACCOUNT, "cli", target, "operator.added", &Origin::default(), String::new())
        .await?;
    Ok(link)
    })
    .await
}

/// `keyward operator list`: every operator with their state, by address.
pub async fn list_operators<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
) -> Result<Vec<(User, OperatorState)>, Failure> {
    let mut operators = Vec::new();
    for operator in services.store.list_users(OPERATORS_ACCOUNT).await? {
        let state = operator_state(services, &operator).await?;
        operators.push((operator, state));
    }
    Ok(operators)
}

async fn operator_state<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    operator: &User,
) -> Result<OperatorState, Failure> {
    let has_factor = services.has_working_factor(operator).await?;
    let link = services.store.latest_invitation(operator.id, Purpose::SetPassword).await?;
    let link_open = link.is_some_and(|link| link.is_open(services.now()));
    Ok(match (operator.password_hash.is_some(), has_factor) {
        (true, true) => OperatorState::Active,
        (true, false) => OperatorState::SettingUp,
        (false, _) if link_open => OperatorState::SettingUp,
        (false, _) => OperatorState::Removed,
    })
}

/// `keyward operator remove`: the operator can no longer log in (password, factors, sessions and links
/// gone); the row stays so that the requests they decided keep naming them.
pub async fn remove_operator<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    email: &str,
) -> Result<(), Failure> {
    services
        .store
        .atomically(async {
            let email = Email::parse(email)?;
            let operator = services.store.find_user_by_email(&email).await?;
            let operator = operator
                .filter(|user| user.role == Role::Operator)
                .ok_or_else(|| Failure::Refused(format!("There is no operator {email}.")))?;
            services.store.clear_password(operator.id).await?;
            services.store.remove_factors(operator.id).await?;
            services.store.delete_sessions_of(operator.id, None).await?;
            services.store.void_open_invitations(operator.id, services.now()).await?;
            let target = actor(&operator);
            services
                .audit(
                    OPERATORS_ACCOUNT,
                    "cli",
                    target,
                    "operator.removed",
                    &Origin::default(),
                    String::new(),
                )
                .await
        })
        .await
}

pub(crate) fn require_operator(user: &User) -> Result<(), Failure> {
    if user.role == Role::Operator { Ok(()) } else { Err(Failure::Forbidden) }
}

/// A request with what the console shows beside it.
#[derive(Debug, Clone)]
pub struct RequestFile {
    pub request: DisableRequest,
    /// Whose factors it would remove.
    pub user: User,
    pub account: Account,
    /// Who opened it: the user, or an operator.
    pub opened_by: Email,
    /// Each approval with the operator who recorded it.
    pub approvals: Vec<(Approval, Email)>,
    /// How many approvals it takes: two for an account admin, one otherwise.
    pub approvals_needed: usize,
    /// "open", "approved", "denied" or "expired".
    pub state: &'static str,
}

/// Everything the console shows of one account.
#[derive(Debug, Clone)]
pub struct AccountFile {
    pub account: Account,
    pub users: Vec<UserOverview>,
    pub requests: Vec<RequestFile>,
    /// The newest events of the account's audit log.
    pub events: Vec<AuditEvent>,
}

/// "Find an account": by (part of) its name, or by a user's exact address.
pub async fn find_accounts<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    operator: &User,
    query: &str,
) -> Result<Vec<Account>, Failure> {
    require_operator(operator)?;
    if query.trim().is_empty() {
        return Ok(Vec::new());
    }
    Ok(services.store.search_accounts(query, SEARCH_LIMIT).await?)
}

/// Requests still open across every account, oldest first: the console's start page.
pub async fn open_requests<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    operator: &User,
) -> Result<Vec<RequestFile>, Failure> {
    require_operator(operator)?;
    let opened_after = DisableRequest::opened_after(services.now());
    let mut files = Vec::new();
    for request in services.store.open_disable_requests(opened_after).await? {
        files.push(request_file(services, request).await?);
    }
    Ok(files)
}

/// One customer account as the console shows it.
pub async fn account_file<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    operator: &User,
    account_id: AccountId,
) -> Result<AccountFile, Failure> {
    require_operator(operator)?;
    if account_id == OPERATORS_ACCOUNT {
        return Err(Failure::NotFound);
    }
    let account = services.store.find_account(account_id).await?.ok_or(Failure::NotFound)?;
    let users = account_users(services, account_id).await?;
    let mut requests = Vec::new();
    for request in services.store.account_disable_requests(account_id).await? {
        requests.push(request_file(services, request).await?);
    }
    let query = AuditQuery { limit: CONSOLE_EVENTS, ..AuditQuery::default() };
    let events = services.store.account_audit(account_id, &query).await?;
    Ok(AccountFile { account, users, requests, events })
}

/// One request as the console shows it.
pub async fn disable_request<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    operator: &User,
    id: DisableRequestId,
) -> Result<RequestFile, Failure> {
    require_operator(operator)?;
    let request = services.store.find_disable_request(id).await?.ok_or(Failure::NotFound)?;
    request_file(services, request).await
}

async fn request_file<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    request: DisableRequest,
) -> Result<RequestFile, Failure> {
    let user = services.store.find_user(request.user_id).await?.ok_or(Failure::NotFound)?;
    let account = services.store.find_account(user.account_id).await?.ok_or(Failure::NotFound)?;
    let opened_by = email_of(services, request.opened_by).await?;
    let mut approvals = Vec::new();
    for approval in services.store.disable_approvals(request.id).await? {
        let by = email_of(services, approval.operator).await?;
        approvals.push((approval, by));
    }
    let state = request.state_at(services.now());
    Ok(RequestFile {
        approvals_needed: approvals_needed(&user),
        request,
        user,
        account,
        opened_by,
        approvals,
        state,
    })
}

async fn email_of<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    id: UserId,
) -> Result<Email, Failure> {
    Ok(services.store.find_user(id).await?.ok_or(Failure::NotFound)?.email)
}

fn approvals_needed(user: &User) -> usize {
    if user.role == Role::Admin { 2 } else { 1 }
}

/// Trimmed free text, required and at most [`MAX_TEXT_CHARS`]; `what` names the field in the message.
fn required_text(text: &str, what: &str) -> Result<String, Failure> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Failure::Refused(format!("Fill in {what}.")));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(Failure::Refused(format!("Shorten {what} to at most {MAX_TEXT_CHARS} characters.")));
    }
    Ok(text.to_owned())
}

/// "Lost your device?" from the login's second step: only a session whose password was right reaches it.
/// One open request per user: asking again while one is open answers the open one. The session ends (the
/// person cannot finish this login anyway); they and the account's admins are told by e-mail.
pub async fn request_disable<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    session: &Session,
    user: &User,
    reason: &str,
    contact: &str,
    origin: &Origin,
) -> Result<DisableRequest, Failure> {
    services
        .store
        .atomically(async {
            if session.stage != Stage::PasswordOnly
                || session.user_id != user.id
                || user.role == Role::Operator
            {
                return Err(Failure::Forbidden);
            }
            let reason = required_text(reason, "what happened")?;
            let contact = required_text(contact, "how support can reach you")?;
            let request = open_request(services, user, user, &reason, &contact, origin).await?;
            services.store.delete_session(&session.id_hash).await?;
            Ok(request)
        })
        .await
}

/// An operator taking a call opens a request for a user of `account_id`.
pub async fn open_request_for<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    operator: &User,
    account_id: AccountId,
    user_id: UserId,
    reason: &str,
    contact: &str,
    origin: &Origin,
) -> Result<DisableRequest, Failure> {
    services
        .store
        .atomically(async {
            require_operator(operator)?;
            if account_id == OPERATORS_ACCOUNT {
                return Err(Failure::NotFound);
            }
            let user = user_in_account(services, account_id, user_id).await?;
            let reason = required_text(reason, "what the caller said happened")?;
            let contact = required_text(contact, "how to reach the caller")?;
            open_request(services, operator, &user, &reason, &contact, origin).await
        })
        .await
}

async fn open_request<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    by: &User,
    user: &User,
    reason: &str,
    contact: &str,
    origin: &Origin,
) -> Result<DisableRequest, Failure> {
    let now = services.now();
    let account = services.store.find_account(user.account_id).await?.ok_or(Failure::NotFound)?;
    let existing = services.store.account_disable_requests(account.id).await?;
    if let Some(open) = existing.into_iter().find(|r| r.user_id == user.id && r.is_open(now)) {
        return Ok(open);
    }
    let request = services.store.insert_disable_request(user.id, by.id, reason, contact, now).await?;
    services.queue_mail(mails::disable_request_opened(&user.email, contact)).await?;
    tell_admins(services, &account, |to| mails::disable_request_opened_admin(to, &user.email, reason))
        .await?;
    let detail = format!("request {}: {reason} (contact: {contact})", request.id);
    services.audit(account.id, &actor(by), actor(user), "disable_request.opened", origin, detail).await?;
    Ok(request)
}

/// How the policy was followed, as the operator records it before approving.
#[derive(Debug, Clone, Default)]
pub struct Evidence {
    /// Whom they contacted ("Dana Smith, IT manager").
    pub contacted: String,
    /// Through which channel ("phone, +1 555 0100 from the policy").
    pub channel: String,
    /// What that person confirmed.
    pub confirmed: String,
}

/// What an approval did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approved {
    /// The request is decided: the user's factors are gone and a fresh enrollment e-mail is on its way.
    Decided,
    /// A request for an account admin: this was the first of two approvals.
    AwaitingSecond,
}

/// "Approve": records the operator's evidence, and once enough operators approved, decides the request
/// with one conditional update and removes the user's factors.
pub async fn approve_request<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    operator: &User,
    id: DisableRequestId,
    evidence: &Evidence,
    origin: &Origin,
) -> Result<Approved, Failure> {
    services
        .store
        .atomically(async {
            require_operator(operator)?;
            let file = disable_request(services, operator, id).await?;
            let now = services.now();
            if !file.request.is_open(now) {
                return Err(Failure::Refused(DECIDED.into()));
            }
            if file.request.opened_by == operator.id {
                return Err(Failure::Refused(
                    "You opened this request, so another operator must approve it.".into(),
                ));
            }
            let approval = Approval {
                operator: operator.id,
                contacted: required_text(&evidence.contacted, "whom you contacted")?,
                channel: required_text(&evidence.channel, "how you contacted them")?,
                confirmed: required_text(&evidence.confirmed, "what they confirmed")?,
                at: now,
            };
            if !services.store.add_disable_approval(id, &approval).await? {
                return Err(Failure::Refused(
                    "You have already approved this request: a second operator must approve it too.".into(),
                ));
            }
            let (account, user) = (&file.account, &file.user);
            let approvals = services.store.disable_approvals(id).await?;
            if approvals.len() < file.approvals_needed {
                let detail = format!("request {}: {}", id, approval.summary());
                services
                    .audit(
                        account.id,
                        &actor(operator),
                        actor(user),
                        "disable_request.approval_recorded",
                        origin,
                        detail,
                    )
                    .await?;
                return Ok(Approved::AwaitingSecond);
            }
            let how = approvals.iter().map(Approval::summary).collect::<Vec<_>>().join("; ");
            let decision = Decision::Approved { by: operator.id, how: how.clone(), at: now };
            if !services
                .store
                .decide_disable_request(id, &decision, DisableRequest::opened_after(now))
                .await?
            {
                return Err(Failure::Refused(DECIDED.into()));
            }
            services
                .audit(
                    account.id,
                    &actor(operator),
                    actor(user),
                    "disable_request.approved",
                    origin,
                    format!("request {id}: {how}"),
                )
                .await?;
            reset_factors_of(services, account, user, &actor(operator), origin).await?;
            tell_admins(services, account, |to| mails::disable_request_approved_admin(to, &user.email, &how))
                .await?;
            Ok(Approved::Decided)
        })
        .await
}

/// "Deny": records why, with one conditional update, and tells the person who asked and the admins.
pub async fn deny_request<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    operator: &User,
    id: DisableRequestId,
    why: &str,
    origin: &Origin,
) -> Result<(), Failure> {
    services
        .store
        .atomically(async {
            require_operator(operator)?;
            let file = disable_request(services, operator, id).await?;
            let why = required_text(why, "why you deny it")?;
            let now = services.now();
            let decision = Decision::Denied { by: operator.id, how: why.clone(), at: now };
            if !file.request.is_open(now)
                || !services
                    .store
                    .decide_disable_request(id, &decision, DisableRequest::opened_after(now))
                    .await?
            {
                return Err(Failure::Refused(DECIDED.into()));
            }
            let (account, user) = (&file.account, &file.user);
            services
                .audit(
                    account.id,
                    &actor(operator),
                    actor(user),
                    "disable_request.denied",
                    origin,
                    format!("request {id}: {why}"),
                )
                .await?;
            services.queue_mail(mails::disable_request_denied(&user.email, &user.email, &why)).await?;
            tell_admins(services, account, |to| mails::disable_request_denied(to, &user.email, &why)).await?;
            Ok(())
        })
        .await
}

/// Removes every factor of `user` (apps, YubiKeys, recovery codes), ends their sessions, voids their open
/// links, tells them, and sends a fresh enrollment e-mail where the account uses TOTP apps.
pub(crate) async fn reset_factors_of<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    account: &Account,
    user: &User,
    by: &str,
    origin: &Origin,
) -> Result<(), Failure> {
    let removed = services.store.remove_factors(user.id).await?;
    services.store.delete_sessions_of(user.id, None).await?;
    services.store.forget_browsers(user.id).await?;
    services.store.void_open_invitations(user.id, services.now()).await?;
    services.queue_mail(mails::factors_reset(&user.email, account.methods.totp)).await?;
    if account.methods.totp {
        email_enrollment(services, account, user).await?;
    }
    let detail = format!("{removed} factors and codes removed");
    services.audit(account.id, by, actor(user), "factors.reset", origin, detail).await
}

/// An operator's first login: after the password, a session that owes its second factor and has none to
/// give sets up an authenticator app here before the console opens. The pending app made in this session
/// is shown again on reload.
pub async fn begin_operator_setup<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    session: &Session,
    operator: &User,
) -> Result<EnrollmentSecret, Failure> {
    require_setup(services, session, operator).await?;
    match super::pending_own_app(services, operator, session).await? {
        Some(secret) => Ok(secret),
        None => new_pending_totp(services, operator).await,
    }
}

/// "Verify" on the operator's set-up page: the first code confirms the app, the session is complete, and
/// the operator gets recovery codes, once.
pub async fn finish_operator_setup<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    session: &Session,
    operator: &User,
    typed: &str,
    origin: &Origin,
) -> Result<Enrolled, Failure> {
    services
        .store
        .atomically(async {
            require_setup(services, session, operator).await?;
            let factor = own_pending_app(services, operator, session).await?.ok_or_else(|| {
                Failure::Refused("Reload the page to get a QR code, then try again.".into())
            })?;
            accept_first_code(services, operator, &factor, typed).await?;
            let token = super::auth::complete_session(services, session).await?;
            let recovery_codes =
                bind_totp(services, operator, &factor, &actor(operator), origin, Some(&token.hash())).await?;
            Ok(Enrolled { recovery_codes, token })
        })
        .await
}

/// The other way to set up at the first login: a touch of a YubiKey whose secret was imported (or that
/// YubiCloud can check) registers it, the session is complete, and the operator gets recovery codes, once.
pub async fn finish_operator_setup_with_yubikey<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    session: &Session,
    operator: &User,
    otp: &str,
    origin: &Origin,
) -> Result<Enrolled, Failure> {
    require_setup(services, session, operator).await?;
    let by = actor(operator);
    register_yubikey_as(services, OPERATORS_ACCOUNT, &by, operator.id, otp, origin, Some(&session.id_hash))
        .await?;
    let token = super::auth::complete_session(services, session).await?;
    let (recovery_codes, hashes) = recovery_codes(services);
    services.store.replace_recovery_codes(operator.id, &hashes).await?;
    Ok(Enrolled { recovery_codes, token })
}

/// Whether this session is an operator's first login: the password proven, no factor to prove yet.
pub async fn needs_operator_setup<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    session: &Session,
    user: &User,
) -> Result<bool, Failure> {
    Ok(session.stage == Stage::PasswordOnly
        && session.user_id == user.id
        && user.role == Role::Operator
        && !services.has_working_factor(user).await?)
}

async fn require_setup<S: Store, M: Mailer, H: PasswordHasher>(
    services: &Services<S, M, H>,
    session: &Session,
    operator: &User,
) -> Result<(), Failure> {
    if needs_operator_setup(services, session, operator).await? { Ok(()) } else { Err(Failure::Forbidden) }
}
