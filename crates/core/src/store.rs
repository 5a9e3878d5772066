//! What the domain needs from persistence, as traits; `keyward-store` implements them for SQLite and
//! PostgreSQL, and one contract test suite runs against both.
//!
//! Every method that protects against replay or guessing is a single conditional update, so two nodes
//! racing on the same row cannot both win: `consume_totp_step`, `advance_yubikey`, `swap_throttle`,
//! `close_invitation`, `consume_recovery_code`, `decide_disable_request`, `use_security_key`,
//! `take_ceremony`.

use std::future::Future;

use crate::UnixTime;
use crate::account::{Account, AccountName, Activation, DisablePolicy, Methods};
use crate::audit::{AuditEvent, NewAuditEvent};
use crate::client::{ApiClient, YubicoClient};
use crate::disable::{Approval, Decision, DisableRequest};
use crate::factor::{RecoveryCode, SecurityKey, SecurityKeyName, TotpFactor, Yubikey};
use crate::ids::{AccountId, ApiClientId, DisableRequestId, FactorId, InvitationId, UserId};
use crate::invitation::{Invitation, Purpose};
use crate::mail::Message;
use crate::otp::TotpParams;
use crate::password::PasswordHash;
use crate::ports::NewCredential;
use crate::seal::Sealed;
use crate::session::{RememberedBrowser, Session, SignIn, Stage};
use crate::throttle::ThrottleState;
use crate::token::TokenHash;
use crate::user::{Email, Role, User};
use crate::yubico::{Position, PublicId};

/// Why a store operation failed. Kept apart from [`crate::Error`] because it wraps the backend's own
/// error, which is neither comparable nor cloneable.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique value is taken (an e-mail address, a YubiKey's public id, a client id).
    #[error("{0} is already taken")]
    Duplicate(&'static str),
    /// A row refers to something that does not exist.
    #[error("{0} does not exist")]
    Missing(&'static str),
    /// A stored row does not parse into the domain: a bug or tampering, never the user's mistake.
    #[error("stored data is not valid")]
    Corrupt(#[from] crate::Error),
    /// The database failed or could not be reached.
    #[error("the database failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Accounts and their two-factor settings.
pub trait AccountStore {
    /// Creates an account together with its first admin, in one transaction.
    fn create_account(
        &self,
        name: &AccountName,
        admin_email: &Email,
        admin_password: &PasswordHash,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<(Account, User)>> + Send;
    fn find_account(&self, id: AccountId) -> impl Future<Output = StoreResult<Option<Account>>> + Send;
    /// "Save changes" on "Configure two-factor authentication".
    fn update_two_factor_settings(
        &self,
        id: AccountId,
        methods: Methods,
        policy: &DisablePolicy,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Activates (`Some`) or deactivates (`None`) two-factor authentication for the account.
    fn set_activation(
        &self,
        id: AccountId,
        activation: Option<Activation>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Customer accounts whose name contains `query` (ignoring case) or that have a user with exactly the
    /// address `query`, by name, at most `limit`; never the operators' reserved account.
    fn search_accounts(
        &self,
        query: &str,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<Account>>> + Send;
    /// Sets (or clears) the grace deadline for enrolling; its reminders start over.
    fn set_enroll_by(
        &self,
        id: AccountId,
        deadline: Option<UnixTime>,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Active accounts with a grace deadline, for the reminders.
    fn accounts_with_deadline(&self) -> impl Future<Output = StoreResult<Vec<Account>>> + Send;
    /// Claims sending a reminder with one conditional update: the account's deadline is still `deadline`
    /// and its last reminder `from`; it becomes `to`. Of several nodes, one sends each reminder.
    fn claim_reminder(
        &self,
        id: AccountId,
        deadline: UnixTime,
        from: u8,
        to: u8,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// "Remember this browser" for 1 to 30 days, or 0 for off.
    fn set_remember_days(&self, id: AccountId, days: u8) -> impl Future<Output = StoreResult<()>> + Send;
}

/// People.
pub trait UserStore {
    fn insert_user(
        &self,
        account_id: AccountId,
        email: &Email,
        role: Role,
        password: Option<&PasswordHash>,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<User>> + Send;
    fn find_user(&self, id: UserId) -> impl Future<Output = StoreResult<Option<User>>> + Send;
    fn find_user_by_email(&self, email: &Email) -> impl Future<Output = StoreResult<Option<User>>> + Send;
    /// The account's users, ordered by e-mail address.
    fn list_users(&self, account_id: AccountId) -> impl Future<Output = StoreResult<Vec<User>>> + Send;
    fn set_password(&self, id: UserId, hash: &PasswordHash) -> impl Future<Output = StoreResult<()>> + Send;
    /// Takes the password away: nobody can log in as this person until a new one is set from a link.
    fn clear_password(&self, id: UserId) -> impl Future<Output = StoreResult<()>> + Send;
    /// Every user of the account with what their two-factor state is built from, in a constant number
    /// of queries however many users there are (Users & Security, activation, "send to all").
    fn account_factors(
        &self,
        account_id: AccountId,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<Vec<(User, FactorSummary)>>> + Send;
    /// [`UserStore::account_factors`] for one page of the account's users, by address.
    fn account_factors_page(
        &self,
        account_id: AccountId,
        now: UnixTime,
        page: &UsersPage,
    ) -> impl Future<Output = StoreResult<Vec<(User, FactorSummary)>>> + Send;
    /// How many users the account has, and how many of them can prove a second factor.
    fn account_enrollment(
        &self,
        account_id: AccountId,
    ) -> impl Future<Output = StoreResult<(u64, u64)>> + Send;
}

/// TOTP factors, YubiKeys and recovery codes.
pub trait FactorStore {
    /// Stores a pending TOTP factor, replacing the user's earlier pending one.
    fn insert_totp_factor(
        &self,
        user_id: UserId,
        secret: &Sealed,
        params: TotpParams,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<TotpFactor>> + Send;
    /// The user's TOTP factors, confirmed and pending.
    fn totp_factors(&self, user_id: UserId) -> impl Future<Output = StoreResult<Vec<TotpFactor>>> + Send;
    /// Records `step` as used, only if it is later than the last used step: true for exactly one of
    /// any number of concurrent callers. Also confirms a pending factor (the enrollment code counts as used).
    fn consume_totp_step(
        &self,
        id: FactorId,
        step: u64,
        clock_offset: i64,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Removes the user's TOTP factors other than `keep` (a re-enrolled app replaces the old one); returns
    /// how many went.
    fn remove_other_totp_factors(
        &self,
        user_id: UserId,
        keep: FactorId,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Stores a key's imported secret; refuses a public id that is already imported.
    fn import_yubikey(
        &self,
        public_id: &PublicId,
        secret: &Sealed,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<Yubikey>> + Send;
    /// Binds a key to a user (creating the row for a YubiCloud key); refuses a key registered to someone.
    fn register_yubikey(
        &self,
        public_id: &PublicId,
        user_id: UserId,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<Yubikey>> + Send;
    fn find_yubikey(&self, public_id: &PublicId)
    -> impl Future<Output = StoreResult<Option<Yubikey>>> + Send;
    fn yubikeys_of(&self, user_id: UserId) -> impl Future<Output = StoreResult<Vec<Yubikey>>> + Send;
    /// Records `position` as the key's latest, with the nonce a Validation Protocol request sent with it
    /// (`None` for any other check), only if strictly greater than the stored one: one conditional update.
    fn advance_yubikey(
        &self,
        id: FactorId,
        position: Position,
        nonce: Option<&str>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Whether the key's last accepted OTP was at `position` and came with `nonce`: the same request again.
    fn is_repeated_request(
        &self,
        id: FactorId,
        position: Position,
        nonce: &str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Unbinds a key from its user (its secret and counters stay, so old OTPs stay refused).
    fn unregister_yubikey(&self, id: FactorId) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Replaces the user's recovery codes.
    fn replace_recovery_codes(
        &self,
        user_id: UserId,
        hashes: &[TokenHash],
    ) -> impl Future<Output = StoreResult<()>> + Send;
    fn recovery_codes(&self, user_id: UserId) -> impl Future<Output = StoreResult<Vec<RecoveryCode>>> + Send;
    /// Marks a code used, only if it is the user's and unused.
    fn consume_recovery_code(
        &self,
        user_id: UserId,
        hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Removes every factor of the user (TOTP, YubiKey registrations, security keys, recovery codes);
    /// returns how many.
    fn remove_factors(&self, user_id: UserId) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// E-mailed links.
pub trait InvitationStore {
    /// Stores a new link and voids the user's earlier open links of the same purpose, in one transaction.
    fn insert_invitation(
        &self,
        user_id: UserId,
        purpose: Purpose,
        token_hash: &TokenHash,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> impl Future<Output = StoreResult<Invitation>> + Send;
    /// The link with this token, if it is open at `now`.
    fn find_open_invitation(
        &self,
        token_hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<Option<Invitation>>> + Send;
    /// Uses the link: true for exactly one caller, and only while it is open.
    fn close_invitation(
        &self,
        id: InvitationId,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Voids every open link of the user (after a password reset); returns how many were open.
    fn void_open_invitations(
        &self,
        user_id: UserId,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// The user's most recent link of a purpose, open or not ("invited on <date>").
    fn latest_invitation(
        &self,
        user_id: UserId,
        purpose: Purpose,
    ) -> impl Future<Output = StoreResult<Option<Invitation>>> + Send;
}

/// Login sessions.
pub trait SessionStore {
    fn insert_session(&self, session: &Session) -> impl Future<Output = StoreResult<()>> + Send;
    fn find_session(&self, id_hash: &TokenHash) -> impl Future<Output = StoreResult<Option<Session>>> + Send;
    fn touch_session(
        &self,
        id_hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Replaces a session by one with a new id (at login's second step and at each step-up), atomically.
    fn rotate_session(
        &self,
        old: &TokenHash,
        new: &TokenHash,
        stage: Stage,
        second_factor_at: Option<UnixTime>,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    fn delete_session(&self, id_hash: &TokenHash) -> impl Future<Output = StoreResult<()>> + Send;
    /// Ends the user's sessions except `keep`; returns how many ended.
    fn delete_sessions_of(
        &self,
        user_id: UserId,
        keep: Option<&TokenHash>,
    ) -> impl Future<Output = StoreResult<u64>> + Send;
    /// Records a completed login.
    fn record_sign_in(
        &self,
        user_id: UserId,
        sign_in: &SignIn,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// The user's most recent sign-ins, newest first, at most `limit`.
    fn recent_sign_ins(
        &self,
        user_id: UserId,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<SignIn>>> + Send;
    fn remember_browser(&self, browser: &RememberedBrowser) -> impl Future<Output = StoreResult<()>> + Send;
    fn find_remembered_browser(
        &self,
        token_hash: &TokenHash,
    ) -> impl Future<Output = StoreResult<Option<RememberedBrowser>>> + Send;
    /// Forgets every browser remembered for the user; how many there were.
    fn forget_browsers(&self, user_id: UserId) -> impl Future<Output = StoreResult<u64>> + Send;
}

/// Throttle counters shared by all nodes.
pub trait ThrottleStore {
    fn throttle_state(&self, key: &str) -> impl Future<Output = StoreResult<Option<ThrottleState>>> + Send;
    /// The states of several keys with one query, in the order of `keys`.
    fn throttle_states(
        &self,
        keys: &[&str],
    ) -> impl Future<Output = StoreResult<Vec<Option<ThrottleState>>>> + Send;
    /// Replaces `expected` by `next` only if the stored state is still `expected` (compare-and-swap).
    fn swap_throttle(
        &self,
        key: &str,
        expected: Option<ThrottleState>,
        next: ThrottleState,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    fn clear_throttle(&self, key: &str) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Lost-device requests.
pub trait DisableRequestStore {
    fn insert_disable_request(
        &self,
        user_id: UserId,
        opened_by: UserId,
        reason: &str,
        contact: &str,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<DisableRequest>> + Send;
    fn find_disable_request(
        &self,
        id: DisableRequestId,
    ) -> impl Future<Output = StoreResult<Option<DisableRequest>>> + Send;
    /// Requests still open that were opened after `opened_after` (younger ones have not expired), oldest
    /// first, across every account.
    fn open_disable_requests(
        &self,
        opened_after: UnixTime,
    ) -> impl Future<Output = StoreResult<Vec<DisableRequest>>> + Send;
    /// Every request for a user of the account, newest first.
    fn account_disable_requests(
        &self,
        account_id: AccountId,
    ) -> impl Future<Output = StoreResult<Vec<DisableRequest>>> + Send;
    /// Records one operator's approval; false when this operator already approved this request.
    fn add_disable_approval(
        &self,
        id: DisableRequestId,
        approval: &Approval,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The approvals recorded for a request, oldest first.
    fn disable_approvals(
        &self,
        id: DisableRequestId,
    ) -> impl Future<Output = StoreResult<Vec<Approval>>> + Send;
    /// Records the decision with one conditional update, only if the request is still open and was
    /// opened after `opened_after` (not expired): of two operators deciding at once, one wins.
    fn decide_disable_request(
        &self,
        id: DisableRequestId,
        decision: &Decision,
        opened_after: UnixTime,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Applications that verify OTPs.
pub trait ClientStore {
    fn insert_api_client(
        &self,
        account_id: AccountId,
        name: &str,
        key_hash: &TokenHash,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<ApiClient>> + Send;
    fn find_api_client_by_key(
        &self,
        key_hash: &TokenHash,
    ) -> impl Future<Output = StoreResult<Option<ApiClient>>> + Send;
    fn delete_api_client(&self, id: ApiClientId) -> impl Future<Output = StoreResult<bool>> + Send;
    /// The account's API clients, oldest first.
    fn list_api_clients(
        &self,
        account_id: AccountId,
    ) -> impl Future<Output = StoreResult<Vec<ApiClient>>> + Send;
    fn insert_yubico_client(&self, client: &YubicoClient) -> impl Future<Output = StoreResult<()>> + Send;
    fn find_yubico_client(&self, id: i64) -> impl Future<Output = StoreResult<Option<YubicoClient>>> + Send;
    /// Every Validation Protocol client, by id.
    fn list_yubico_clients(&self) -> impl Future<Output = StoreResult<Vec<YubicoClient>>> + Send;
    /// Removes a Validation Protocol client; false when there was none with this id.
    fn delete_yubico_client(&self, id: i64) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Which row a sealed secret lives in, so rotation can re-seal it in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedRow {
    TotpFactor(FactorId),
    Yubikey(FactorId),
    YubicoClient(i64),
}

/// A sealed secret with what it takes to re-seal it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedSecret {
    pub row: SealedRow,
    /// The associated data it was sealed with.
    pub context: Vec<u8>,
    pub sealed: Sealed,
}

/// The append-only audit log and the sealed secrets, for the maintenance commands.
pub trait AuditStore {
    /// Appends an event, chained to the previous one; concurrent appends are serialised.
    fn append_audit(&self, event: NewAuditEvent) -> impl Future<Output = StoreResult<AuditEvent>> + Send;
    /// Every event in order, with the separately stored head (last seq, last hash) so that deleting the
    /// newest events shows; both read from one snapshot, so a concurrent append cannot look like tampering.
    fn audit_log(&self) -> impl Future<Output = StoreResult<AuditLog>> + Send;
    /// One page of an account's events, newest first: those before `query.before` (a seq), matching the
    /// filters, at most `query.limit`.
    fn account_audit(
        &self,
        account_id: AccountId,
        query: &AuditQuery,
    ) -> impl Future<Output = StoreResult<Vec<AuditEvent>>> + Send;
}

/// One page of an account's users, in address order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsersPage {
    /// The users after this address ("" for the first page).
    pub after: String,
    pub limit: u32,
    /// Only those who cannot prove a second factor yet.
    pub not_enrolled_only: bool,
}

/// What a user's two-factor state is built from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FactorSummary {
    /// A confirmed authenticator app.
    pub app: bool,
    /// Registered YubiKeys, by public id.
    pub yubikeys: Vec<PublicId>,
    /// Registered security keys and passkeys, by the names their users gave them.
    pub security_keys: Vec<SecurityKeyName>,
    /// Unused recovery codes.
    pub recovery_codes: usize,
    /// The newest open enrollment link: when it was sent and when it expires.
    pub invitation: Option<(UnixTime, UnixTime)>,
}

impl FactorSummary {
    /// Whether the user can prove a second factor.
    pub fn has_factor(&self) -> bool {
        self.app || !self.yubikeys.is_empty() || !self.security_keys.is_empty()
    }
}

/// Filters and the page of [`AuditStore::account_audit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Events done by or concerning this user.
    pub user: Option<UserId>,
    /// Events whose action starts with this (`totp.` or `disable_request.approved`).
    pub action: Option<String>,
    /// Events at or after this time.
    pub from: Option<UnixTime>,
    /// Events before this time.
    pub until: Option<UnixTime>,
    /// Events numbered below this (the previous page's last seq).
    pub before: Option<u64>,
    pub limit: u32,
}

/// The audit log as read in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditLog {
    pub events: Vec<AuditEvent>,
    pub head: Option<(u64, [u8; 32])>,
}

/// Sealed secrets, for `keyward keys rotate`.
pub trait SealedSecretStore {
    fn sealed_secrets(&self) -> impl Future<Output = StoreResult<Vec<SealedSecret>>> + Send;
    /// The distinct ids of the master keys that stored values are sealed under, sorted: what a node's key
    /// ring must hold before it serves.
    fn sealed_key_ids(&self) -> impl Future<Output = StoreResult<Vec<String>>> + Send;
    /// Replaces one sealed value, only if it still holds `old`.
    fn reseal(
        &self,
        row: SealedRow,
        old: &Sealed,
        new: &Sealed,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Whether the database answers, for readiness checks.
/// Security keys and passkeys (WebAuthn), and the ceremonies in flight between the options a browser is
/// given and its answer.
pub trait SecurityKeyStore {
    /// Stores a newly registered key; refuses a credential id that is registered already.
    fn insert_security_key(
        &self,
        user_id: UserId,
        name: &SecurityKeyName,
        credential: &NewCredential,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<SecurityKey>> + Send;
    /// The user's keys, oldest first.
    fn security_keys_of(&self, user_id: UserId)
    -> impl Future<Output = StoreResult<Vec<SecurityKey>>> + Send;
    /// Records a use at `now` with signature counter `counter`, only if it is above the stored one (or
    /// both are 0: an authenticator that keeps no counter): true for exactly one of any number of
    /// concurrent callers with the same counter.
    fn use_security_key(
        &self,
        id: FactorId,
        counter: u32,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Removes one of the user's keys; false when it is not theirs.
    fn remove_security_key(
        &self,
        user_id: UserId,
        id: FactorId,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
    /// Keeps a ceremony's state under the hash of its handle until `expires_at` (and drops expired ones).
    fn insert_ceremony(
        &self,
        handle: &TokenHash,
        user_id: UserId,
        purpose: &str,
        state: &str,
        expires_at: UnixTime,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Takes a ceremony's state out: deleted in the same statement, and only when it is the user's, for
    /// `purpose`, and not expired at `now`. At most one caller ever gets it.
    fn take_ceremony(
        &self,
        handle: &TokenHash,
        user_id: UserId,
        purpose: &str,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<Option<String>>> + Send;
}

/// E-mail waiting to be delivered, written in the same transaction as the change it tells of.
pub trait OutboxStore {
    fn enqueue_mail(&self, message: &Message, now: UnixTime) -> impl Future<Output = StoreResult<()>> + Send;
    /// Claims the oldest message due at `now` that no worker holds, until `lease_until` (a worker that
    /// dies lets it go then), counting the attempt: one conditional update, so of any number of workers on
    /// any number of nodes one gets each message.
    fn claim_mail(
        &self,
        now: UnixTime,
        lease_until: UnixTime,
    ) -> impl Future<Output = StoreResult<Option<QueuedMail>>> + Send;
    /// Delivered: never sent again.
    fn mail_delivered(&self, id: i64, now: UnixTime) -> impl Future<Output = StoreResult<()>> + Send;
    /// Not delivered: due again at `retry_at`, or, with `None`, given up on (kept for the admins to see).
    fn mail_not_delivered(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<UnixTime>,
        now: UnixTime,
    ) -> impl Future<Output = StoreResult<()>> + Send;
    /// Messages given up on to the users of `account`, newest first.
    fn undelivered_mail(
        &self,
        account: AccountId,
        limit: u32,
    ) -> impl Future<Output = StoreResult<Vec<QueuedMail>>> + Send;
    /// How many messages wait to be delivered, and how many were given up on, in all.
    fn outbox_counts(&self) -> impl Future<Output = StoreResult<(u64, u64)>> + Send;
}

/// A message in the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMail {
    pub id: i64,
    pub message: Message,
    /// Attempts so far, the current one included once claimed.
    pub attempts: u32,
    pub created_at: UnixTime,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// One transaction around a use case: every store call `work` makes (in this task) is committed together
/// when it returns `Ok`, and none of it when it returns `Err` (or is dropped). The single-use rules stay
/// single conditional statements inside it. Work that is already in a unit joins it.
pub trait UnitOfWork {
    fn atomically<T, E, F>(&self, work: F) -> impl Future<Output = Result<T, E>> + Send
    where
        T: Send,
        E: From<StoreError> + Send,
        F: Future<Output = Result<T, E>> + Send;
    /// Runs `work` with every other check of this user's second factor held back until it ends, on every
    /// node, so reading the user's budgets, checking and recording the outcome is one step. On
    /// PostgreSQL: one unit of work holding an advisory lock on the user. On SQLite, which one process
    /// serves: a lock in the process (or the unit the task is in, which holds the database's write lock
    /// already), each statement committing on its own, so reads run beside other requests and a success
    /// costs one write; `atomically` inside keeps the writes that belong together.
    fn checking_user<T, E, F>(&self, user_id: UserId, work: F) -> impl Future<Output = Result<T, E>> + Send
    where
        T: Send,
        E: From<StoreError> + Send,
        F: Future<Output = Result<T, E>> + Send;
}

pub trait HealthStore {
    fn ping(&self) -> impl Future<Output = StoreResult<()>> + Send;
}

/// Everything at once, for the application state.
pub trait Store:
    AccountStore
    + UserStore
    + FactorStore
    + InvitationStore
    + SessionStore
    + ThrottleStore
    + DisableRequestStore
    + ClientStore
    + AuditStore
    + SealedSecretStore
    + SecurityKeyStore
    + OutboxStore
    + UnitOfWork
    + HealthStore
    + Send
    + Sync
{
}

impl<T> Store for T where
    T: AccountStore
        + UserStore
        + FactorStore
        + InvitationStore
        + SessionStore
        + ThrottleStore
        + DisableRequestStore
        + ClientStore
        + AuditStore
        + SealedSecretStore
        + SecurityKeyStore
        + OutboxStore
        + UnitOfWork
        + HealthStore
        + Send
        + Sync
{
}
