//! Identifiers of stored things. They are plain database keys: holding one grants nothing, every
//! use is checked against the acting user's account.

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    )*};
}

id_type!(
    /// A customer account (a company).
    AccountId,
    /// A person: a user of an account, an admin, or an operator.
    UserId,
    /// A TOTP factor or a YubiKey.
    FactorId,
    /// An e-mailed link (enrollment, password set or reset).
    InvitationId,
    /// A request to disable a user's two-factor authentication.
    DisableRequestId,
    /// An application allowed to call the JSON API.
    ApiClientId,
);
