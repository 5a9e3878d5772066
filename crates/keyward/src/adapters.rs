//! The only places that read the wall clock and the operating system's randomness.
//! Everything else takes `now` and `rng` as parameters (clippy.toml enforces this).

use keyward_core::UnixTime;
use rand_core::UnwrapErr;

/// The current time, read from the system clock.
#[allow(clippy::disallowed_methods)]
pub fn now() -> UnixTime {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    UnixTime(since_epoch.as_secs())
}

/// The operating system's CSPRNG. A failure of the OS generator is unrecoverable, so it aborts
/// the current operation rather than returning predictable bytes.
#[allow(clippy::disallowed_types)]
pub fn os_rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}

/// The system clock as the core's [`keyward_core::ports::Clock`].
pub struct SystemClock;

impl keyward_core::ports::Clock for SystemClock {
    fn now(&self) -> UnixTime {
        now()
    }
}

/// The operating system's CSPRNG as the core's [`keyward_core::ports::Entropy`].
pub struct OsEntropy;

impl keyward_core::ports::Entropy for OsEntropy {
    fn fill(&self, buffer: &mut [u8]) {
        rand_core::Rng::fill_bytes(&mut os_rng(), buffer);
    }
}

/// YubiCloud through the Validation Protocol client, as the core's [`keyward_core::ports::CloudValidator`].
pub struct YubiCloud {
    pub client: keyward_yubicloud::YubiCloudClient,
    pub entropy: std::sync::Arc<dyn keyward_core::ports::Entropy>,
}

impl keyward_core::ports::CloudValidator for YubiCloud {
    fn validate<'a>(
        &'a self,
        otp: &'a keyward_core::yubico::YubikeyOtp,
    ) -> keyward_core::ports::CloudFuture<'a> {
        use keyward_core::ports::CloudVerdict;
        let answer = self.client.verify(otp, &mut keyward_core::ports::EntropyRng(&*self.entropy));
        Box::pin(async move {
            match answer.await {
                Ok(keyward_yubicloud::Verdict::Valid) => Ok(CloudVerdict::Valid),
                Ok(keyward_yubicloud::Verdict::Replayed) => Ok(CloudVerdict::Replayed),
                Ok(keyward_yubicloud::Verdict::BadOtp) => Ok(CloudVerdict::Invalid),
                Err(error) => Err(Box::new(error) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}
