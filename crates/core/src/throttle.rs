//! Throttling guesses. Attempts are counted per key (a user's OTP checks, a username's or an IP's
//! password checks) in the database, so every node sees the same budget. The rules are here; the store
//! only swaps one state for the next atomically.
//!
//! The first `free` attempts go straight through; each further one must wait twice as long as the one
//! before, starting at `base_wait`, never longer than `max_wait` (15 minutes), so an attacker can never
//! keep a person locked out for longer than that. A success clears the count; an hour without
//! attempts forgets it.

use crate::UnixTime;
use crate::store::{StoreResult, ThrottleStore};

/// An hour without attempts forgets the count.
pub const FORGET_AFTER_SECS: u64 = 60 * 60;

/// The stored state of one throttle key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleState {
    /// Attempts counted since the state was last cleared or forgotten.
    pub attempts: u32,
    /// When the last attempt was admitted.
    pub last_at: UnixTime,
}

/// The rules of one kind of throttle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottlePolicy {
    pub free: u32,
    pub base_wait: u64,
    pub max_wait: u64,
}

/// The answer to "may this attempt go ahead?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Yes; store this state (atomically replacing the one read) before checking the guess.
    Admit(ThrottleState),
    /// No; try again after this many seconds.
    Wait(u64),
}

impl ThrottlePolicy {
    /// One-time passwords after a correct password: 3 free, then 30 s, 1, 2, 4, 8 min, then 15 min apart —
    /// at most 11 attempts in any hour, under DESIGN's 20.
    pub const OTP: ThrottlePolicy = ThrottlePolicy { free: 3, base_wait: 30, max_wait: 15 * 60 };
    /// Passwords per username and per client IP: 10 free, then 5 s doubling to 15 min — at most 20 in an hour,
    /// under DESIGN's 30.
    pub const PASSWORD: ThrottlePolicy = ThrottlePolicy { free: 10, base_wait: 5, max_wait: 15 * 60 };

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
            Some(state) if now.seconds() < state.last_at.seconds().saturating_add(FORGET_AFTER_SECS) => {
                let ready_at = state.last_at.seconds().saturating_add(self.wait_after(state.attempts));
                if now.seconds() < ready_at {
                    return Admission::Wait(ready_at - now.seconds());
                }
                state.attempts
            }
            _ => 0,
        };
        Admission::Admit(ThrottleState { attempts: attempts.saturating_add(1), last_at: now })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Attempts an attacker gets in one hour by trying the moment each wait ends.
    fn attempts_in_an_hour(policy: ThrottlePolicy) -> u32 {
        let (mut state, mut now, mut admitted) = (None, 0u64, 0u32);
        while now < 3600 {
            match policy.admit(state, UnixTime(now)) {
                Admission::Admit(next) => {
                    state = Some(next);
                    admitted += 1;
                }
                Admission::Wait(seconds) => now += seconds,
            }
        }
        admitted
    }

    #[test]
    fn budgets_stay_under_the_design_limits() {
        assert!(
            attempts_in_an_hour(ThrottlePolicy::OTP) <= 20,
            "{}",
            attempts_in_an_hour(ThrottlePolicy::OTP)
        );
        assert!(attempts_in_an_hour(ThrottlePolicy::PASSWORD) <= 30);
        assert!(attempts_in_an_hour(ThrottlePolicy::OTP) >= 5, "a person with typos is not shut out");
    }

    #[test]
    fn waits_escalate_but_never_exceed_fifteen_minutes() {
        let policy = ThrottlePolicy::OTP;
        let waits: Vec<u64> = (0..12).map(|n| policy.wait_after(n)).collect();
        assert_eq!(waits, [0, 0, 0, 30, 60, 120, 240, 480, 900, 900, 900, 900]);
        assert_eq!(policy.wait_after(u32::MAX), 900);
    }

    #[test]
    fn an_hour_of_quiet_forgets_the_count() {
        let policy = ThrottlePolicy::OTP;
        let busy = ThrottleState { attempts: 9, last_at: UnixTime(1000) };
        assert_eq!(policy.admit(Some(busy), UnixTime(1100)), Admission::Wait(800));
        assert_eq!(
            policy.admit(Some(busy), UnixTime(1000 + 3600)),
            Admission::Admit(ThrottleState { attempts: 1, last_at: UnixTime(4600) })
        );
        assert_eq!(
            policy.admit(None, UnixTime(5)),
            Admission::Admit(ThrottleState { attempts: 1, last_at: UnixTime(5) })
        );
    }
}
