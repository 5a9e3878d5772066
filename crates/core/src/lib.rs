//! Keyward's pure domain.
//!
//! This crate knows nothing of HTTP, databases, files, the clock or the operating system's
//! randomness: the current time arrives as a [`UnixTime`] and randomness as a
//! `&mut impl rand_core::CryptoRng`, so every rule here can be tested with fixed values.

pub mod error;
pub mod otp;
pub mod time;
pub mod yubico;

pub use error::Error;
pub use time::UnixTime;
