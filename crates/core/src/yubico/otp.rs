//! The text a YubiKey types: public id, then the encrypted token in modhex.

use std::fmt;

use super::{PublicId, modhex};
use crate::Error;

/// The modhex characters of the encrypted token at the end of every OTP (16 bytes).
pub(super) const TOKEN_CHARS: usize = 32;
/// The longest OTP: a 16-character public id and the token.
const MAX_OTP_CHARS: usize = 48;

/// A Yubico OTP as typed: a [`PublicId`] (all but the last 32 characters) and the 16-byte AES-encrypted
/// token (the last 32 characters). Parsing checks only the form; [`super::decode`] checks the content.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct YubikeyOtp {
    public_id: PublicId,
    ciphertext: [u8; 16],
}

impl YubikeyOtp {
    /// Reads an OTP: 32 to 48 modhex characters (either case), surrounding whitespace ignored (a key
    /// types an Enter after the OTP).
    pub fn parse(text: &str) -> Result<YubikeyOtp, Error> {
        let text = text.trim();
        let chars = text.chars().count();
        if !(TOKEN_CHARS..=MAX_OTP_CHARS).contains(&chars) {
            return Err(Error::OtpLength(chars));
        }
        if !modhex::is_modhex(text) {
            return Err(Error::InvalidModhex);
        }
        // All characters are ASCII now, so byte positions are character positions.
        let (public_id, token) = text.split_at(text.len() - TOKEN_CHARS);
        let mut ciphertext = [0; 16];
        modhex::decode_into(token, &mut ciphertext)?;
        Ok(YubikeyOtp { public_id: PublicId::parse(public_id)?, ciphertext })
    }

    /// Puts an OTP together from its parts.
    pub fn from_parts(public_id: PublicId, ciphertext: [u8; 16]) -> YubikeyOtp {
        YubikeyOtp { public_id, ciphertext }
    }

    /// The public id, which names the key that typed the OTP.
    pub fn public_id(&self) -> &PublicId {
        &self.public_id
    }

    /// The AES-128-encrypted token.
    pub fn ciphertext(&self) -> &[u8; 16] {
        &self.ciphertext
    }
}

impl fmt::Display for YubikeyOtp {
    /// The OTP as the key types it, lower-case modhex.
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}{}", self.public_id, modhex::encode(&self.ciphertext))
    }
}

impl std::str::FromStr for YubikeyOtp {
    type Err = Error;

    fn from_str(text: &str) -> Result<YubikeyOtp, Error> {
        YubikeyOtp::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const VECTOR: &str = "dteffujehknhfjbrjnlnldnhcujvddbikngjrtgh";

    #[test]
    fn the_public_id_is_all_but_the_last_32_characters() {
        let otp = YubikeyOtp::parse(VECTOR).unwrap();
        assert_eq!(otp.public_id().as_str(), "dteffuje");
        assert_eq!(otp.ciphertext()[0], 0x69);
        assert_eq!(otp.to_string(), VECTOR);
    }

    #[test]
    fn surrounding_whitespace_and_upper_case_are_accepted() {
        let otp = YubikeyOtp::parse(&format!("  {}\r\n", VECTOR.to_uppercase())).unwrap();
        assert_eq!(otp.to_string(), VECTOR);
    }

    #[test]
    fn lengths_from_32_to_48_are_accepted() {
        assert_eq!(YubikeyOtp::parse(&VECTOR[8..]).unwrap().public_id().as_str(), "");
        let longest = format!("cccccccc{VECTOR}");
        assert_eq!(YubikeyOtp::parse(&longest).unwrap().public_id().as_str(), "ccccccccdteffuje");
    }

    #[test]
    fn wrong_lengths_are_refused_with_the_length() {
        assert_eq!(YubikeyOtp::parse(&VECTOR[9..]), Err(Error::OtpLength(31)));
        assert_eq!(YubikeyOtp::parse(&format!("ccccccccc{VECTOR}")), Err(Error::OtpLength(49)));
        assert_eq!(YubikeyOtp::parse("   "), Err(Error::OtpLength(0)));
        assert_eq!(YubikeyOtp::parse(&"c".repeat(1_000_000)), Err(Error::OtpLength(1_000_000)));
    }

    #[test]
    fn foreign_characters_are_refused() {
        assert_eq!(YubikeyOtp::parse(&VECTOR.replace('d', "a")), Err(Error::InvalidModhex));
        assert_eq!(YubikeyOtp::parse(&VECTOR.replace("dt", "é")), Err(Error::InvalidModhex));
        assert_eq!(YubikeyOtp::parse("dteffuje hknhfjbrjnlnldnhcujvddbikngjrtgh"), Err(Error::InvalidModhex));
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,60}") {
            let _ = YubikeyOtp::parse(&text);
        }

        #[test]
        fn arbitrary_modhex_parses_by_length(text in "[cbdefghijklnrtuvCBDEFGHIJKLNRTUV]{0,60}") {
            let parsed = YubikeyOtp::parse(&text);
            prop_assert_eq!(parsed.is_ok(), (32..=48).contains(&text.len()));
            if let Ok(otp) = parsed {
                prop_assert_eq!(otp.to_string(), text.to_lowercase());
            }
        }
    }
}
