//! Requests to disable a user's two-factor authentication after a lost device, decided by an operator
//! who follows the account's policy.

use crate::ids::{DisableRequestId, UserId};
use crate::{Error, UnixTime};

/// A request not decided within 7 days expires: the person asks again.
pub const REQUEST_LIFETIME_SECS: u64 = 7 * 24 * 60 * 60;

/// Where a request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Open,
    /// Factors removed; `how` records how the policy was followed (who confirmed, by what means).
    Approved {
        by: UserId,
        how: String,
        at: UnixTime,
    },
    Denied {
        by: UserId,
        how: String,
        at: UnixTime,
    },
}

impl Decision {
    /// The stored name of the state.
    pub fn state(&self) -> &'static str {
        match self {
            Decision::Open => "open",
            Decision::Approved { .. } => "approved",
            Decision::Denied { .. } => "denied",
        }
    }

    /// Rebuilds a decision from its stored columns.
    pub fn from_columns(
        state: &str,
        by: Option<UserId>,
        how: Option<String>,
        at: Option<UnixTime>,
    ) -> Result<Decision, Error> {
        match (state, by, how, at) {
            ("open", _, _, _) => Ok(Decision::Open),
            ("approved", Some(by), Some(how), Some(at)) => Ok(Decision::Approved { by, how, at }),
            ("denied", Some(by), Some(how), Some(at)) => Ok(Decision::Denied { by, how, at }),
            (other, ..) => Err(Error::CorruptRecord(format!("disable request in state {other:?}"))),
        }
    }
}

/// A disable request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisableRequest {
    pub id: DisableRequestId,
    /// Whose factors would be removed.
    pub user_id: UserId,
    /// Who opened it: the user themselves (from the login's second step) or an operator.
    pub opened_by: UserId,
    pub reason: String,
    /// How to reach the person who asked (a phone number, another address), as they wrote it.
    pub contact: String,
    pub decision: Decision,
    pub created_at: UnixTime,
}

impl DisableRequest {
    /// Whether it can still be decided at `now`: open, and younger than [`REQUEST_LIFETIME_SECS`].
    pub fn is_open(&self, now: UnixTime) -> bool {
        self.decision == Decision::Open && !self.is_expired(now)
    }

    /// Whether it went undecided past its lifetime.
    pub fn is_expired(&self, now: UnixTime) -> bool {
        self.decision == Decision::Open
            && now.seconds() >= self.created_at.seconds().saturating_add(REQUEST_LIFETIME_SECS)
    }

    /// The time before which a request must have been opened to have expired at `now`: the bound of the
    /// conditional update that decides it.
    pub fn opened_after(now: UnixTime) -> UnixTime {
        UnixTime(now.seconds().saturating_sub(REQUEST_LIFETIME_SECS))
    }

    /// What a person reads: "open", "approved", "denied" or "expired".
    pub fn state_at(&self, now: UnixTime) -> &'static str {
        if self.is_expired(now) { "expired" } else { self.decision.state() }
    }
}

/// One operator's record of how the account's policy was followed before approving: whom they contacted,
/// through which channel, and what that person confirmed. A request for an account admin needs two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    pub operator: UserId,
    pub contacted: String,
    pub channel: String,
    pub confirmed: String,
    pub at: UnixTime,
}

impl Approval {
    /// The evidence as one line for the audit log and the request's decision.
    pub fn summary(&self) -> String {
        format!("contacted {} by {}, who confirmed: {}", self.contacted, self.channel, self.confirmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(created: u64, decision: Decision) -> DisableRequest {
        DisableRequest {
            id: DisableRequestId(1),
            user_id: UserId(2),
            opened_by: UserId(2),
            reason: "lost my phone".into(),
            contact: "+1 555 0100".into(),
            decision,
            created_at: UnixTime(created),
        }
    }

    #[test]
    fn an_open_request_expires_after_seven_days() {
        let open = request(1_000, Decision::Open);
        let last_second = UnixTime(1_000 + REQUEST_LIFETIME_SECS - 1);
        assert!(open.is_open(last_second));
        assert_eq!(open.state_at(last_second), "open");
        let expired = UnixTime(1_000 + REQUEST_LIFETIME_SECS);
        assert!(!open.is_open(expired));
        assert_eq!(open.state_at(expired), "expired");
        // The bound the conditional update uses agrees: opened after it means still open.
        assert!(open.created_at > DisableRequest::opened_after(last_second));
        assert!(open.created_at <= DisableRequest::opened_after(expired));
    }

    #[test]
    fn a_decided_request_keeps_its_decision_after_seven_days() {
        let decided =
            request(1_000, Decision::Denied { by: UserId(9), how: "no answer".into(), at: UnixTime(2_000) });
        let later = UnixTime(1_000 + 2 * REQUEST_LIFETIME_SECS);
        assert!(!decided.is_open(later));
        assert_eq!(decided.state_at(later), "denied");
    }
}
