//! Throttling guesses. Failed attempts are counted per key in the database, so every node sees the same
//! budget. The rules are here; the store only swaps one state for the next atomically.
//!
//! The first `free` attempts go straight through; each further one must wait twice as long as the one
//! before, starting at `base_wait`, never longer than `max_wait` (15 minutes). The count decays by one
//! every `forget_every` seconds, and an hour without attempts forgets it. An attempt spends from its
//! budget before it is checked (so a thousand guesses sent at once are counted, not raced past the
//! check) and a success gives the spending back: only failures spend.
//!
//! Which budgets an attempt spends is the caller's choice (`usecase::auth`): a browser that has
//! completed a login for the user spends its own budget, so an attacker who spends the shared one
//! cannot keep the owner out. Keys are [`key`]s: fixed-length hashes, whatever was typed.

use sha2::{Digest, Sha256};

use crate::UnixTime;
use crate::store::{StoreResult, ThrottleStore};

/// An hour without attempts forgets the count.
pub const FORGET_AFTER_SECS: u64 = 60 * 60;

/// The stored state of one throttle key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    /// Attempts counted (after decay) as of `last_at`.
    pub attempts: u32,
    /// When the last attempt was admitted.
    pub last_at: UnixTime,
}

/// The rules of one kind of throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Attempts that need no wait.
    pub free: u32,
    /// The first wait once the free attempts are spent, in seconds; each next one doubles.
    pub base_wait: u64,
    /// The longest wait, in seconds.
    pub max_wait: u64,
    /// One counted attempt is forgotten per this many seconds.
    pub forget_every: u64,
}

/// The answer to "may this attempt go ahead?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Yes; store this state (atomically replacing the one read) before checking the guess.
    Admit(ThrottleState),
    /// No; try again after this many seconds.
    Wait(u64),
}

const FIFTEEN_MINUTES: u64 = 15 * 60;

impl Admission {
    /// Whether the attempt may go ahead.
    pub fn is_admitted(&self) -> bool {
        matches!(self, Admission::Admit(_))
    }
}

impl ThrottlePolicy {
    /// One-time passwords from a browser that has completed a login for this user before: its own budget.
    pub const OTP_KNOWN_BROWSER: ThrottlePolicy =
        ThrottlePolicy { free: 3, base_wait: 30, max_wait: FIFTEEN_MINUTES, forget_every: FIFTEEN_MINUTES };
    /// One-time passwords from unknown browsers at one client address, for one user.
    pub const OTP_USER_ADDRESS: ThrottlePolicy =
        ThrottlePolicy { free: 3, base_wait: 30, max_wait: FIFTEEN_MINUTES, forget_every: FIFTEEN_MINUTES };
    /// One-time passwords from all unknown browsers, for one user: more than one address can spend
    /// (so an attacker at one address leaves room for the owner at another), and at most 20 an hour.
    pub const OTP_USER: ThrottlePolicy =
        ThrottlePolicy { free: 12, base_wait: 60, max_wait: FIFTEEN_MINUTES, forget_every: 10 * 60 };
    /// Passwords from a browser that has completed a login for this user before.
    pub const PASSWORD_KNOWN_BROWSER: ThrottlePolicy =
        ThrottlePolicy { free: 10, base_wait: 5, max_wait: FIFTEEN_MINUTES, forget_every: FIFTEEN_MINUTES };
    /// Passwords from unknown browsers at one client address, for one username.
    pub const PASSWORD_USER_ADDRESS: ThrottlePolicy =
        ThrottlePolicy { free: 5, base_wait: 30, max_wait: FIFTEEN_MINUTES, forget_every: FIFTEEN_MINUTES };
    /// Passwords from all unknown browsers, for one username: at most 30 an hour.
    pub const PASSWORD_USER: ThrottlePolicy =
        ThrottlePolicy { free: 15, base_wait: 30, max_wait: FIFTEEN_MINUTES, forget_every: 6 * 60 };
    /// Failed passwords from one client address, whichever usernames: against one address trying many
    /// accounts. Correct logins give their attempt back, so a whole office behind one address is fine.
    pub const PASSWORD_ADDRESS: ThrottlePolicy =
        ThrottlePolicy { free: 30, base_wait: 5, max_wait: FIFTEEN_MINUTES, forget_every: 60 };
    /// Warnings to a person that someone is guessing: one, then at most one an hour.
    pub const ALERT: ThrottlePolicy =
        ThrottlePolicy { free: 1, base_wait: 60 * 60, max_wait: 60 * 60, forget_every: 60 * 60 };
    /// "Forgot password" e-mails per address typed.
    pub const RESET_EMAIL: ThrottlePolicy =
        ThrottlePolicy { free: 3, base_wait: 60, max_wait: FIFTEEN_MINUTES, forget_every: FIFTEEN_MINUTES };

    /// How long after the last attempt the next may come, given how many were counted.
    pub fn wait_after(&self, attempts: u32) -> u64 {
        if attempts < self.free {
            return 0;
        }
        let doublings = (attempts - self.free).min(32);
        self.base_wait.saturating_mul(1u64 << doublings).min(self.max_wait)
    }

    /// Decides on an attempt at `now` given the stored state (or none).
    pub fn admit(&self, current: Option<ThrottleState>, now: UnixTime) -> Admission {
        let attempts = match current {
            Some(state) => {
                let elapsed = now.seconds().saturating_sub(state.last_at.seconds());
                if elapsed >= FORGET_AFTER_SECS {
                    0
                } else {
                    let wait = self.wait_after(state.attempts);
                    if elapsed < wait {
                        return Admission::Wait(wait - elapsed);
                    }
                    let forgotten = elapsed / self.forget_every.max(1);
                    state.attempts.saturating_sub(u32::try_from(forgotten).unwrap_or(u32::MAX))
                }
            }
            None => 0,
        };
        Admission::Admit(ThrottleState { attempts: attempts.saturating_add(1), last_at: now })
    }
}

/// A throttle key: `purpose` and a hash of the parts, 32 hex characters whatever was typed, so a
/// megabyte typed as an e-mail address is not stored as a key.
pub fn key(purpose: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    format!("{purpose}:{}", hex::encode(&hash.finalize()[..16]))
}

/// Asks for an attempt under `policy`, spending it from the shared budget if admitted. The state is
/// replaced with a compare-and-swap, retried when another node got there first, so concurrent attempts
/// on several nodes are each counted exactly once.
pub async fn admit<S: ThrottleStore>(
    store: &S,
    key: &str,
    policy: ThrottlePolicy,
    now: UnixTime,
) -> StoreResult<Admission> {
    loop {
        let current = store.throttle_state(key).await?;
        match policy.admit(current, now) {
            Admission::Admit(next) => {
                if store.swap_throttle(key, current, next).await? {
                    return Ok(Admission::Admit(next));
                }
            }
            wait => return Ok(wait),
        }
    }
}

/// Gives back one attempt that turned out to be a success.
pub async fn refund<S: ThrottleStore>(store: &S, key: &str) -> StoreResult<()> {
    loop {
        let Some(current) = store.throttle_state(key).await? else { return Ok(()) };
        let next = ThrottleState { attempts: current.attempts.saturating_sub(1), ..current };
        if next == current || store.swap_throttle(key, Some(current), next).await? {
            return Ok(());
        }
    }
}

/// Spends one attempt from every budget, or from none: when one refuses, those already spent are given
/// back and the longest wait is returned. On admission, the states after spending, in order.
pub async fn admit_all<S: ThrottleStore>(
    store: &S,
    budgets: &[(&str, ThrottlePolicy)],
    now: UnixTime,
) -> StoreResult<Result<Vec<ThrottleState>, u64>> {
    let mut spent = Vec::with_capacity(budgets.len());
    for (key, policy) in budgets {
        match admit(store, key, *policy, now).await? {
            Admission::Admit(state) => spent.push(state),
            Admission::Wait(seconds) => {
                for (key, _) in &budgets[..spent.len()] {
                    refund(store, key).await?;
                }
                return Ok(Err(seconds));
            }
        }
    }
    Ok(Ok(spent))
}

/// Gives back one attempt to every budget: the attempt was a success.
pub async fn refund_all<S: ThrottleStore>(store: &S, budgets: &[(&str, ThrottlePolicy)]) -> StoreResult<()> {
    for (key, _) in budgets {
        refund(store, key).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An attacker who tries every second for `hours`, spending from all `policies` at once (as
    /// [`admit_all`] does); the times of the admitted attempts and the states at the end.
    fn attack(policies: &[ThrottlePolicy], hours: u64) -> (Vec<u64>, Vec<Option<ThrottleState>>) {
        let mut states = vec![None; policies.len()];
        let mut admitted = Vec::new();
        for now in 0..hours * 3600 {
            let next: Vec<Admission> = policies
                .iter()
                .zip(&states)
                .map(|(policy, state)| policy.admit(*state, UnixTime(now)))
                .collect();
            if next.iter().all(|a| matches!(a, Admission::Admit(_))) {
                for (state, admission) in states.iter_mut().zip(next) {
                    if let Admission::Admit(after) = admission {
                        *state = Some(after);
                    }
                }
                admitted.push(now);
            }
        }
        (admitted, states)
    }

    /// The most admitted attempts in any hour.
    fn most_in_an_hour(times: &[u64]) -> usize {
        times
            .iter()
            .map(|&start| times.iter().filter(|&&t| t >= start && t < start + 3600).count())
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn the_shared_budgets_hold_the_design_limits_over_a_day() {
        // Every guess from a browser that is not known spends the user's shared budget, so it bounds them all.
        let (otp, _) = attack(&[ThrottlePolicy::OTP_USER], 24);
        assert!(most_in_an_hour(&otp) <= 20, "{} wrong OTPs in an hour", most_in_an_hour(&otp));
        let (passwords, _) = attack(&[ThrottlePolicy::PASSWORD_USER], 24);
        assert!(
            most_in_an_hour(&passwords) <= 30,
            "{} wrong passwords in an hour",
            most_in_an_hour(&passwords)
        );
        // A person with typos is not shut out.
        assert!(attack(&[ThrottlePolicy::OTP_KNOWN_BROWSER], 1).0.len() >= 5);
    }

    #[test]
    fn an_attacker_at_one_address_leaves_the_shared_budget_open() {
        for (per_address, shared) in [
            (ThrottlePolicy::OTP_USER_ADDRESS, ThrottlePolicy::OTP_USER),
            (ThrottlePolicy::PASSWORD_USER_ADDRESS, ThrottlePolicy::PASSWORD_USER),
        ] {
            for hours in 1..=24 {
                let (_, states) = attack(&[per_address, shared], hours);
                let end = UnixTime(hours * 3600);
                assert!(
                    matches!(shared.admit(states[1], end), Admission::Admit(_)),
                    "after {hours} h from one address the owner elsewhere waits: {:?}",
                    states[1]
                );
            }
        }
    }

    #[test]
    fn waits_escalate_but_never_exceed_fifteen_minutes() {
        let policy = ThrottlePolicy::OTP_KNOWN_BROWSER;
        let waits: Vec<u64> = (0..12).map(|n| policy.wait_after(n)).collect();
        assert_eq!(waits, [0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900, 900]);
        assert_eq!(policy.wait_after(u32::MAX), 900);
    }

    #[test]
    fn the_count_decays_and_an_hour_of_quiet_forgets_it() {
        let policy = ThrottlePolicy::OTP_USER; // one forgotten per 10 minutes
        let busy = ThrottleState { attempts: 14, last_at: UnixTime(1000) };
        assert_eq!(policy.admit(Some(busy), UnixTime(1100)), Admission::Wait(140));
        assert_eq!(
            policy.admit(Some(busy), UnixTime(1000 + 1800)),
            Admission::Admit(ThrottleState { attempts: 12, last_at: UnixTime(2800) })
        );
        assert_eq!(
            policy.admit(Some(busy), UnixTime(1000 + 3600)),
            Admission::Admit(ThrottleState { attempts: 1, last_at: UnixTime(4600) })
        );
        assert_eq!(
            policy.admit(None, UnixTime(5)),
            Admission::Admit(ThrottleState { attempts: 1, last_at: UnixTime(5) })
        );
    }

    #[test]
    fn keys_are_fixed_length_hashes_that_keep_parts_apart() {
        let long = "a".repeat(1_000_000);
        assert_eq!(key("password:user", &[&long]).len(), "password:user:".len() + 32);
        assert_ne!(key("k", &["ab", "c"]), key("k", &["a", "bc"]));
        assert_eq!(key("k", &["x"]), key("k", &["x"]));
        assert_ne!(key("k", &["x"]), key("j", &["x"]));
    }
}
