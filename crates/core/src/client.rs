//! Applications that verify OTPs through Keyward: JSON API clients and Yubico Validation Protocol clients.

use crate::UnixTime;
use crate::ids::{AccountId, ApiClientId};
use crate::seal::Sealed;
use crate::token::TokenHash;

/// A JSON API client; its key is a random token, stored hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiClient {
    pub id: ApiClientId,
    pub account_id: AccountId,
    pub name: String,
    pub key_hash: TokenHash,
    pub created_at: UnixTime,
}

/// A Yubico Validation Protocol client: a numeric id and an HMAC-SHA1 key. The key signs responses,
/// so it is kept sealed rather than hashed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YubicoClient {
    pub id: i64,
    pub account_id: Option<AccountId>,
    /// What the operator called it ("mail server", "VPN"), for `keyward yubikey client list`.
    pub name: String,
    pub key: Sealed,
    pub created_at: UnixTime,
}

/// The associated data a Yubico client's key is sealed with.
pub fn yubico_client_seal_context(id: i64) -> Vec<u8> {
    format!("yubico-client:{id}").into_bytes()
}
