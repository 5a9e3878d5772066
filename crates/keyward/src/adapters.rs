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
