//! Second factors as stored: TOTP factors, YubiKeys and recovery codes.

use crate::UnixTime;
use crate::ids::{FactorId, UserId};
use crate::otp::TotpParams;
use crate::seal::Sealed;
use crate::token::TokenHash;
use crate::yubico::{Position, PublicId};

/// A TOTP factor. It is pending from the moment the enrollment page shows its secret until the
/// first code is verified; only confirmed factors count at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TotpFactor {
    pub id: FactorId,
    pub user_id: UserId,
    /// The shared secret, sealed under the master key.
    pub secret: Sealed,
    pub params: TotpParams,
    /// The last time step accepted; a step is accepted at most once.
    pub last_step: Option<u64>,
    /// The offset in steps of the last success, bounded to ±10.
    pub clock_offset: i64,
    pub confirmed_at: Option<UnixTime>,
    pub created_at: UnixTime,
}

/// The associated data a TOTP secret is sealed with, so a sealed value does not open in another user's row.
pub fn totp_seal_context(user_id: UserId) -> Vec<u8> {
    format!("totp-secret:user:{user_id}").into_bytes()
}

/// The associated data a YubiKey's secret is sealed with.
pub fn yubikey_seal_context(public_id: &PublicId) -> Vec<u8> {
    format!("yubikey-secret:{}", public_id.as_str()).into_bytes()
}

/// A YubiKey known to Keyward: imported with its secret (validated locally), registered to a user
/// (validated locally or through YubiCloud), or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Yubikey {
    pub id: FactorId,
    pub public_id: PublicId,
    /// The user the key is registered to, if any.
    pub user_id: Option<UserId>,
    /// The AES key followed by the private id (16 + 6 bytes), sealed; `None` for keys validated by YubiCloud.
    pub secret: Option<Sealed>,
    /// The highest (counter, use) accepted so far.
    pub last_position: Option<Position>,
    pub imported_at: Option<UnixTime>,
    pub registered_at: Option<UnixTime>,
}

/// A single-use recovery code, stored as the hash of its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryCode {
    pub user_id: UserId,
    pub hash: TokenHash,
    pub used_at: Option<UnixTime>,
}
