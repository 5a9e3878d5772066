//! Requests to disable a user's two-factor authentication after a lost device, decided by an operator
//! who follows the account's policy.

use crate::ids::{DisableRequestId, UserId};
use crate::{Error, UnixTime};

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
    pub decision: Decision,
    pub created_at: UnixTime,
}
