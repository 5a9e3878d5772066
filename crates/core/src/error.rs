//! The one error type of the core crate: every variant is a caller's mistake described in words a person
//! can act on. Nothing here wraps I/O, because the core does none.

/// What can go wrong when parsing or checking one-time-password material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A TOTP/HOTP secret was not valid base32 (RFC 4648 §6).
    #[error("the secret is not valid base32 (letters A-Z and digits 2-7): {0}")]
    InvalidBase32(String),
    /// A secret was empty or longer than we accept.
    #[error("the secret must be between {min} and {max} bytes, got {got}")]
    SecretLength { min: usize, max: usize, got: usize },
    /// The number of digits is outside 6–8.
    #[error("the number of digits must be 6, 7 or 8, got {0}")]
    InvalidDigits(u32),
    /// The TOTP period is outside the accepted range.
    #[error("the period must be between 1 and 3600 seconds, got {0}")]
    InvalidPeriod(u64),
    /// An unknown hash algorithm name.
    #[error("unknown algorithm {0:?}: expected SHA1, SHA256 or SHA512")]
    InvalidAlgorithm(String),
    /// A one-time code that is not 6–8 decimal digits.
    #[error("a one-time code is 6 to 8 digits")]
    InvalidCode,
    /// The time lies before the TOTP epoch T0.
    #[error("the time lies before the TOTP start time T0")]
    BeforeEpoch,
    /// An `otpauth://` URI that does not follow the Key Uri Format.
    #[error("not a valid otpauth URI: {0}")]
    InvalidUri(String),
    /// A string that should be modhex contains another character.
    #[error("not modhex: only the characters cbdefghijklnrtuv are allowed")]
    InvalidModhex,
    /// A string that should be hexadecimal is not, or has the wrong length.
    #[error("{what} must be {len} hexadecimal characters")]
    InvalidHex { what: &'static str, len: usize },
    /// A Yubico OTP of the wrong length.
    #[error("a YubiKey OTP is 32 to 48 modhex characters, got {0}")]
    OtpLength(usize),
    /// A public id of the wrong length.
    #[error("a YubiKey public id is 0 to 16 modhex characters, got {0}")]
    PublicIdLength(usize),
    /// The decrypted token failed the CRC-16 check: wrong key or a corrupted OTP.
    #[error("the OTP does not decrypt under this key (CRC check failed): wrong key or a mistyped OTP")]
    CrcMismatch,
    /// The decrypted token belongs to another key.
    #[error("the OTP's private id does not match this key")]
    PrivateIdMismatch,
}
