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
