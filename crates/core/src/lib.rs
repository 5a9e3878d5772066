//! Keyward's pure domain.
//!
//! This crate knows nothing of HTTP, databases, files, the clock or the operating system's
//! randomness: the current time arrives as a [`UnixTime`] and randomness as a
//! `&mut impl rand_core::CryptoRng`, so every rule here can be tested with fixed values.

pub mod account;
pub mod audit;
pub mod client;
pub mod disable;
pub mod error;
pub mod factor;
pub mod ids;
pub mod invitation;
pub mod mail;
pub mod otp;
pub mod password;
pub mod ports;
pub mod seal;
pub mod session;
pub mod store;
#[cfg(test)]
mod test_rng;
pub mod throttle;
pub mod time;
pub mod token;
pub mod usecase;
pub mod user;
pub mod validate;
pub mod verdict;
pub mod wsapi;
pub mod yubico;

pub use error::Error;
pub use time::UnixTime;
