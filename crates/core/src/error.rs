//! The one error type of the core crate: every variant is a caller's mistake described in words a person
//! can act on. Nothing here wraps I/O, because the core does none.

/// What can go wrong when parsing or checking one-time-password material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not an e-mail address as people type one.
    #[error("{0:?} is not a date: write it as YYYY-MM-DD")]
    InvalidDate(String),
    #[error("{0:?} is not an e-mail address")]
    InvalidEmail(String),
    /// A name (account, client) that is empty or too long.
    #[error("{what} must be 1 to {max} characters, and only ones that can be typed")]
    InvalidName { what: &'static str, max: usize },
    /// The disable policy is missing a way to reach the person who confirms a request.
    #[error(
        "the policy must name a contact who confirms a disable request: an e-mail address or a phone number"
    )]
    PolicyWithoutContact,
    /// A line of a YubiKey personalization log in neither known layout.
    #[error("not a Yubico OTP line of the personalization tool's log (traditional or Yubico format)")]
    InvalidImportLine,
    /// A stored value that the domain does not recognise (a corrupted or foreign row).
    #[error("stored data is not valid: {0}")]
    CorruptRecord(String),
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
    /// A master key id that is empty, too long or uses other characters.
    #[error("a master key id is 1 to 32 characters: letters, digits, '-', '_' and '.'")]
    InvalidKeyId,
    /// A master key of the wrong size.
    #[error("master key {id:?} is {got} bytes long; an AES-256 key is exactly 32 bytes")]
    MasterKeyLength { id: String, got: usize },
    /// The master key text holds no key at all.
    #[error("the master key text holds no key: expected one `id:base64-key` entry per line or comma")]
    NoMasterKey,
    /// One entry of the master key text is malformed. The entry itself is never repeated here,
    /// because it may hold key material.
    #[error("master key entry {entry} is malformed: {reason}")]
    InvalidMasterKey { entry: usize, reason: &'static str },
    /// Two master keys with the same id.
    #[error("master key id {0:?} appears twice: every key needs its own id")]
    DuplicateKeyId(String),
    /// A sealed value names a key that the key ring does not hold.
    #[error(
        "the value was sealed under master key {0:?}, which is not in the key ring: \
         add that key to the master key text as an older key"
    )]
    UnknownKeyId(String),
    /// A sealed value failed authentication.
    #[error(
        "the sealed value does not open: it was altered, belongs to another record, \
         or the master key with its id is not the one it was sealed under"
    )]
    UnsealFailed,
    /// A sealed value too short to be one.
    #[error("the sealed value is malformed: too short to hold a nonce and an authentication tag")]
    SealedMalformed,
    /// A value too large for AES-GCM (about 64 GiB).
    #[error("the value is too large to seal")]
    SealTooLarge,
    /// A password shorter or longer than allowed.
    #[error("a password must be {min} to {max} characters long")]
    PasswordLength { min: usize, max: usize },
    /// A stored password hash that is not an argon2id PHC string we can verify.
    #[error("not a usable argon2id password hash ($argon2id$v=19$m=…,t=…,p=…$salt$hash): {0}")]
    InvalidPasswordHash(String),
    /// The argon2 computation itself refused to run.
    #[error("hashing the password failed: {0}")]
    PasswordHashing(String),
    /// A Validation Protocol client key that is not base64 of 16 to 64 bytes.
    #[error("not a usable Validation Protocol client key: {0} (YubiCloud shows it as 28 base64 characters)")]
    InvalidClientKey(&'static str),
    /// A Validation Protocol nonce of the wrong length or alphabet.
    #[error("a Validation Protocol nonce is 16 to 40 letters and digits")]
    InvalidNonce,
    /// A Validation Protocol answer that cannot be written (a bug: the server chooses every line).
    #[error("a Validation Protocol answer could not be written: {0}")]
    ProtocolAnswer(String),
}

impl Error {
    /// Whether this describes a mistake in input a person or a caller supplied (a malformed address, a
    /// wrong-length code), as opposed to a failure of stored data, sealed secrets or key material, which
    /// no person can fix by typing something else and which must never be shown to them.
    pub fn is_callers_mistake(&self) -> bool {
        !matches!(
            self,
            Error::CorruptRecord(_)
                | Error::InvalidKeyId
                | Error::MasterKeyLength { .. }
                | Error::NoMasterKey
                | Error::InvalidMasterKey { .. }
                | Error::DuplicateKeyId(_)
                | Error::UnknownKeyId(_)
                | Error::UnsealFailed
                | Error::SealedMalformed
                | Error::SealTooLarge
                | Error::InvalidPasswordHash(_)
                | Error::PasswordHashing(_)
                | Error::ProtocolAnswer(_)
        )
    }
}

/// The error and every error it wraps, joined with ": ": how a failure is written to a log.
pub fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
