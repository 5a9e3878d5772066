//! HOTP (RFC 4226) and TOTP (RFC 6238) one-time passwords, their secrets, and the `otpauth://` Key Uri Format.

mod code;
mod hotp;
mod secret;
mod totp;
mod uri;

pub use code::{Code, Digits};
pub use hotp::{Algorithm, hotp};
pub use secret::Secret;
pub use totp::{MAX_CLOCK_OFFSET, Match, Totp, TotpParams};
pub use uri::OtpAuthUri;
