//! Time as the domain sees it: a value handed in by the caller, never read from a clock.

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch (1970-01-01T00:00:00Z), ignoring leap seconds, as RFC 6238 §4.2 counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnixTime(pub u64);

impl UnixTime {
    /// The number of seconds since the epoch.
    pub fn seconds(self) -> u64 {
        self.0
    }
}
