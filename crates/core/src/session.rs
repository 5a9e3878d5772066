//! Login sessions: a random id in a cookie, stored hashed, with the stage of the login it belongs to.

use crate::ids::UserId;
use crate::token::TokenHash;
use crate::{Error, UnixTime};

/// A session ends after this long without a request (30 minutes).
pub const IDLE_TIMEOUT_SECS: u64 = 30 * 60;
/// A session ends this long after login, however active (12 hours).
pub const ABSOLUTE_TIMEOUT_SECS: u64 = 12 * 60 * 60;
/// Sensitive changes need a second factor proven this recently (5 minutes).
pub const STEP_UP_WINDOW_SECS: u64 = 5 * 60;

/// How far the login has come.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// The password was right; the second factor is still owed.
    PasswordOnly,
    /// Fully logged in.
    Complete,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::PasswordOnly => "password_only",
            Stage::Complete => "complete",
        }
    }

    pub fn parse(text: &str) -> Result<Stage, Error> {
        match text {
            "password_only" => Ok(Stage::PasswordOnly),
            "complete" => Ok(Stage::Complete),
            other => Err(Error::CorruptRecord(format!("unknown session stage {other:?}"))),
        }
    }
}

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id_hash: TokenHash,
    pub user_id: UserId,
    pub stage: Stage,
    pub created_at: UnixTime,
    pub last_seen_at: UnixTime,
    /// When a second factor was last proven in this session.
    pub second_factor_at: Option<UnixTime>,
}

impl Session {
    /// Whether the session has ended by idleness or age at `now`.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        now.seconds() >= self.last_seen_at.seconds().saturating_add(IDLE_TIMEOUT_SECS)
            || now.seconds() >= self.created_at.seconds().saturating_add(ABSOLUTE_TIMEOUT_SECS)
    }

    /// Whether a sensitive change may go ahead without proving a second factor again.
    pub fn has_fresh_second_factor(&self, now: UnixTime) -> bool {
        self.second_factor_at
            .is_some_and(|at| now >= at && now.seconds() - at.seconds() <= STEP_UP_WINDOW_SECS)
    }
}

/// A completed login, for "Recent sign-ins" on My security.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignIn {
    pub at: UnixTime,
    pub ip: Option<String>,
    /// How the login was completed: `password` (no second factor asked), `totp`, `yubikey`,
    /// `recovery_code` or `remembered_browser`.
    pub factor: String,
    /// For a YubiKey, its public id.
    pub detail: String,
}

/// A browser that may skip the second factor for its user until `expires_at`; only the hash of its
/// cookie's token is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RememberedBrowser {
    pub token_hash: TokenHash,
    pub user_id: UserId,
    /// When the second factor was proven in it.
    pub proven_at: UnixTime,
    pub expires_at: UnixTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(created: u64, seen: u64, factor: Option<u64>) -> Session {
        Session {
            id_hash: TokenHash([0; 32]),
            user_id: UserId(1),
            stage: Stage::Complete,
            created_at: UnixTime(created),
            last_seen_at: UnixTime(seen),
            second_factor_at: factor.map(UnixTime),
        }
    }

    #[test]
    fn sessions_end_after_30_idle_minutes_or_12_hours() {
        let s = session(0, 1000, None);
        assert!(!s.is_expired(UnixTime(1000 + 1799)));
        assert!(s.is_expired(UnixTime(1000 + 1800)));
        let busy = session(0, 43_100, None);
        assert!(!busy.is_expired(UnixTime(43_199)));
        assert!(busy.is_expired(UnixTime(43_200)));
    }

    #[test]
    fn step_up_lasts_five_minutes() {
        let s = session(0, 0, Some(100));
        assert!(s.has_fresh_second_factor(UnixTime(400)));
        assert!(!s.has_fresh_second_factor(UnixTime(401)));
        assert!(!session(0, 0, None).has_fresh_second_factor(UnixTime(1)));
    }
}
