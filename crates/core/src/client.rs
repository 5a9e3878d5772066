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

/// Makes a Validation Protocol client with a new key: the next free id (ids are small numbers, as
/// YubiCloud's are; two nodes picking the same one at once retry), the key sealed under the ring.
/// Returns the client and its key, to show once.
pub async fn add_yubico_client<S: crate::store::ClientStore>(
    store: &S,
    ring: &crate::seal::KeyRing,
    rng: &mut impl rand_core::CryptoRng,
    account_id: Option<AccountId>,
    name: &str,
    now: UnixTime,
) -> Result<(YubicoClient, crate::wsapi::ClientKey), crate::usecase::Failure> {
    let key = crate::wsapi::ClientKey::generate(rng);
    let mut attempts = 0;
    loop {
        let id = store.list_yubico_clients().await?.last().map_or(1, |client| client.id + 1);
        let sealed = ring.seal(key.as_bytes(), &yubico_client_seal_context(id), rng)?;
        let client = YubicoClient { id, account_id, name: name.to_owned(), key: sealed, created_at: now };
        match store.insert_yubico_client(&client).await {
            Ok(()) => return Ok((client, key)),
            Err(crate::store::StoreError::Duplicate(_)) if attempts < 5 => attempts += 1,
            Err(error) => return Err(error.into()),
        }
    }
}
