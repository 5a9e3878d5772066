//! What the use cases need from the world besides storage and mail: the time, randomness and password
//! hashing. The binary provides the real ones; tests provide fixed ones.

use std::future::Future;

use crate::UnixTime;
use crate::password::{Password, PasswordHash};

/// The current time.
pub trait Clock: Send + Sync {
    fn now(&self) -> UnixTime;
}

/// A source of cryptographically secure random bytes.
pub trait Entropy: Send + Sync {
    fn fill(&self, buffer: &mut [u8]);
}

/// Adapts an [`Entropy`] to the `CryptoRng` the core's functions take.
pub struct EntropyRng<'a>(pub &'a dyn Entropy);

impl rand_core::TryRng for EntropyRng<'_> {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut bytes = [0u8; 4];
        self.0.fill(&mut bytes);
        Ok(u32::from_le_bytes(bytes))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut bytes = [0u8; 8];
        self.0.fill(&mut bytes);
        Ok(u64::from_le_bytes(bytes))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for EntropyRng<'_> {}

/// Password hashing, which is slow on purpose: the web layer runs it off the async executor with bounded
/// concurrency, so a flood of logins cannot starve OTP checks.
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password.
    fn hash(&self, password: Password) -> impl Future<Output = Result<PasswordHash, crate::Error>> + Send;
    /// Checks a password against a stored hash, or spends the same time and returns false when there is
    /// none (an unknown user, or one who has not set a password yet).
    fn verify(&self, hash: Option<PasswordHash>, password: Password) -> impl Future<Output = bool> + Send;
}

/// What a YubiCloud (Validation Protocol 2.0) server said of an OTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloudVerdict {
    /// Valid and not seen before.
    Valid,
    /// Not valid for any key the server knows.
    Invalid,
    /// Valid but already used.
    Replayed,
}

/// The future a [`CloudValidator`] returns; boxed so validators can be chosen at run time.
pub type CloudFuture<'a> = std::pin::Pin<
    Box<dyn Future<Output = Result<CloudVerdict, Box<dyn std::error::Error + Send + Sync>>> + Send + 'a>,
>;

/// Validates OTPs of keys whose secret Keyward does not hold, through YubiCloud or a compatible server.
pub trait CloudValidator: Send + Sync {
    fn validate<'a>(&'a self, otp: &'a crate::yubico::YubikeyOtp) -> CloudFuture<'a>;
}

/// The WebAuthn ceremonies of security keys and passkeys, done by a maintained library (the binary's
/// adapter): the core stores what it returns and hands it back. Every value crossing this port is text the
/// library made: the options go to the browser as JSON, the ceremony state to the database until the
/// browser answers, the credential to the user's security keys.
pub trait WebAuthn: Send + Sync {
    /// Options for `navigator.credentials.create()` and the state to finish it with. `user_handle` is the
    /// stable, opaque id the authenticator keeps; `exclude` the ids of the user's registered credentials.
    fn start_registration(
        &self,
        user_handle: [u8; 16],
        user_name: &str,
        exclude: &[Vec<u8>],
    ) -> Result<Ceremony, WebAuthnError>;
    /// Checks the browser's answer to [`WebAuthn::start_registration`]: the new credential.
    fn finish_registration(&self, state: &str, response: &str) -> Result<NewCredential, WebAuthnError>;
    /// Options for `navigator.credentials.get()` over the user's credentials (as stored).
    fn start_authentication(&self, credentials: &[String]) -> Result<Ceremony, WebAuthnError>;
    /// Checks an assertion against the state of [`WebAuthn::start_authentication`].
    fn finish_authentication(&self, state: &str, response: &str) -> Result<Assertion, WebAuthnError>;
}

/// A ceremony begun: the options for the browser (JSON) and the state the server keeps (JSON).
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub options: String,
    pub state: String,
}

/// A credential the browser registered: its id and what to store of it (public key, counter, flags).
#[derive(Debug, Clone)]
pub struct NewCredential {
    pub id: Vec<u8>,
    pub stored: String,
    pub counter: u32,
}

/// A verified assertion: the credential that signed, and the signature counter it reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    pub credential_id: Vec<u8>,
    pub counter: u32,
}

/// Why a WebAuthn ceremony did not go through.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    /// Keyward's public URL cannot serve as a relying party (an IP address, or not a web origin).
    #[error("security keys need Keyward to be reached by a domain name: {0}")]
    Unavailable(String),
    /// The browser's answer does not verify: another site's origin, a wrong signature, a changed
    /// challenge, a credential that was not asked for, or text that is not a credential at all.
    #[error("the security key's answer was refused: {0}")]
    Refused(String),
    /// A valid signature whose counter is not above the last one seen: the key may have been cloned.
    #[error("the security key's signature counter went backwards")]
    CounterRegressed { credential_id: Vec<u8> },
    /// A stored state or credential the library no longer reads.
    #[error("a stored WebAuthn value does not read: {0}")]
    Corrupt(String),
}
