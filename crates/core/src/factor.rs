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

/// How long a WebAuthn ceremony may take, from the options given to the browser to its answer.
pub const CEREMONY_SECS: u64 = 5 * 60;

/// A security key or passkey (WebAuthn credential) the user registered and named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityKey {
    pub id: FactorId,
    pub user_id: UserId,
    /// What the user called it ("Blue YubiKey").
    pub name: SecurityKeyName,
    /// The credential id the authenticator chose.
    pub credential_id: Vec<u8>,
    /// The credential as the WebAuthn library stores it: its public key and flags (no secret).
    pub stored: String,
    /// The highest signature counter seen (0 for authenticators that keep none).
    pub counter: u32,
    pub created_at: UnixTime,
    pub last_used_at: Option<UnixTime>,
}

/// A security key's name: 1 to 60 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityKeyName(String);

impl SecurityKeyName {
    pub const MAX_CHARS: usize = 60;

    pub fn parse(text: &str) -> Result<SecurityKeyName, crate::Error> {
        let name = text.trim();
        if name.is_empty() || name.chars().count() > Self::MAX_CHARS || name.chars().any(char::is_control) {
            return Err(crate::Error::InvalidName { what: "the security key's name", max: Self::MAX_CHARS });
        }
        Ok(SecurityKeyName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
