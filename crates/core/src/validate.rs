//! Checking a YubiKey OTP against a key whose secret Keyward holds (local validation): the use case that
//! logins, the JSON API, the Validation Protocol server and `keyward yubikey verify` share.

use crate::factor::{Yubikey, yubikey_seal_context};
use crate::seal::KeyRing;
use crate::store::{FactorStore, StoreResult};
use crate::yubico::{self, AesKey, PrivateId, Token, YubikeyOtp};

/// Why an OTP was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No key with this public id is known.
    #[error("no YubiKey with public id {0:?} is known")]
    UnknownKey(String),
    /// The key is known but validated through YubiCloud: its secret was never imported.
    #[error("the YubiKey {0:?} has no imported secret: it is validated through YubiCloud")]
    NotLocal(String),
    /// The OTP does not decrypt to this key's private id, or is malformed.
    #[error("the OTP is not valid for this key: {0}")]
    Invalid(crate::Error),
    /// The OTP's (counter, use) is not after the last one accepted: a replay.
    #[error("the OTP was already used (or an older one than the last accepted)")]
    Replayed(crate::yubico::Position),
}

/// A successful check: the key (with its new position not yet re-read) and the decrypted token.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub key: Yubikey,
    pub token: Token,
}

/// Decrypts `otp` with the key's sealed secret and records its (counter, use) as used, atomically: of
/// any number of concurrent checks of one OTP, at most one is accepted.
pub async fn check_local_yubikey_otp<S: FactorStore>(
    store: &S,
    ring: &KeyRing,
    otp: &YubikeyOtp,
    nonce: Option<&str>,
) -> StoreResult<Result<Accepted, Rejection>> {
    let public_id = otp.public_id();
    let Some(key) = store.find_yubikey(public_id).await? else {
        return Ok(Err(Rejection::UnknownKey(public_id.as_str().to_owned())));
    };
    check_known_yubikey_otp(store, ring, key, otp, nonce).await
}

/// [`check_local_yubikey_otp`] for the key the caller has already read: the one whose public id `otp` starts with.
pub async fn check_known_yubikey_otp<S: FactorStore>(
    store: &S,
    ring: &KeyRing,
    key: Yubikey,
    otp: &YubikeyOtp,
    nonce: Option<&str>,
) -> StoreResult<Result<Accepted, Rejection>> {
    let public_id = otp.public_id();
    let Some(sealed) = &key.secret else {
        return Ok(Err(Rejection::NotLocal(public_id.as_str().to_owned())));
    };
    let secret = ring.open(sealed, &yubikey_seal_context(&key.public_id))?;
    let corrupt =
        || crate::Error::CorruptRecord(format!("the sealed secret of YubiKey {:?}", public_id.as_str()));
    let (aes_key, private_id) = secret.split_at_checked(16).ok_or_else(corrupt)?;
    let aes_key = AesKey::from_bytes(aes_key.try_into().map_err(|_| corrupt())?);
    let private_id = PrivateId::from_bytes(private_id.try_into().map_err(|_| corrupt())?);
    let token = match yubico::verify(otp, &aes_key, &private_id) {
        Ok(token) => token,
        Err(error) => return Ok(Err(Rejection::Invalid(error))),
    };
    if !store.advance_yubikey(key.id, token.position(), nonce).await? {
        return Ok(Err(Rejection::Replayed(token.position())));
    }
    Ok(Ok(Accepted { key, token }))
}
