//! The load generator's clock and randomness: like the server, it reads them in one place.

use keyward_core::UnixTime;
use rand_core::UnwrapErr;

/// The current time, read from the system clock.
#[allow(clippy::disallowed_methods)]
pub fn now() -> UnixTime {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    UnixTime(since_epoch.as_secs())
}

/// The operating system's CSPRNG.
#[allow(clippy::disallowed_types)]
pub fn rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}
