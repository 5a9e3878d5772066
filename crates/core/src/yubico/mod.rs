//! Yubico OTP: the 32–48 character one-time passwords a YubiKey types when touched.
//!
//! An OTP is a public id (0–16 modhex characters, identifying the key) followed by 32 modhex characters:
//! a 16-byte token encrypted with AES-128 under the key's secret. The token holds the key's private id,
//! its counters and a CRC-16 (Yubico, "YubiKey Manual", section "Yubico OTP"; the same layout is in
//! yubico-c's `yubikey.h`).
//!
//! - [`modhex`]: the keyboard-layout-proof hex alphabet the key types.
//! - [`YubikeyOtp`], [`PublicId`], [`PrivateId`], [`AesKey`]: parsing what the key and its owner hand us.
//! - [`decode`] and [`verify`]: decrypt and check an OTP; [`Token`] and [`Position`] for the replay rule.
//! - [`encode`] and [`SoftwareKey`]: the other direction, a software YubiKey for demos and tests.

mod ids;
mod import;
pub mod modhex;
mod otp;
mod software_key;
mod token;

pub use ids::{AesKey, PrivateId, PublicId};
pub use import::{ImportError, ImportLog, ImportedKey, parse_import_log};
pub use otp::YubikeyOtp;
pub use software_key::{SoftwareKey, SoftwareKeyState};
pub use token::{MAX_COUNTER, Position, Token, decode, encode, verify};
