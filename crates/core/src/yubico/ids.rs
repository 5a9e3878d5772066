//! What identifies a YubiKey and what it keeps secret: its public id, private id and AES key.

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::modhex;
use crate::Error;

/// The most modhex characters a public id may have (the OTP is at most 48 characters, 32 of them the token).
const MAX_PUBLIC_ID_CHARS: usize = 16;

/// A key's public id: the 0–16 modhex characters an OTP starts with, typed in clear so a server can find
/// the key. Yubico keys ship with 12 characters (6 bytes); the value is stored lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PublicId(String);

impl PublicId {
    /// Reads a public id: 0 to 16 modhex characters, either case.
    pub fn parse(text: &str) -> Result<PublicId, Error> {
        let chars = text.chars().count();
        if chars > MAX_PUBLIC_ID_CHARS {
            return Err(Error::PublicIdLength(chars));
        }
        if !modhex::is_modhex(text) {
            return Err(Error::InvalidModhex);
        }
        Ok(PublicId(text.to_ascii_lowercase()))
    }

    /// The public id as lower-case modhex.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PublicId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::str::FromStr for PublicId {
    type Err = Error;

    fn from_str(text: &str) -> Result<PublicId, Error> {
        PublicId::parse(text)
    }
}

impl TryFrom<String> for PublicId {
    type Error = Error;

    fn try_from(text: String) -> Result<PublicId, Error> {
        PublicId::parse(&text)
    }
}

impl From<PublicId> for String {
    fn from(id: PublicId) -> String {
        id.0
    }
}

/// Reads exactly `N` bytes of hexadecimal (either case, surrounding whitespace ignored) without an
/// intermediate heap copy, so secrets can be read straight into their zeroizing home.
fn parse_hex<const N: usize>(text: &str, what: &'static str, out: &mut [u8; N]) -> Result<(), Error> {
    hex::decode_to_slice(text.trim(), out).map_err(|_| Error::InvalidHex { what, len: N * 2 })
}

/// A key's private id (Yubico: "private identity" or "uid"): 6 bytes inside every encrypted token. A
/// server checks it after decrypting, so an OTP made under a leaked AES key of another key is refused.
///
/// Treated as a secret: compared in constant time, and `Debug` does not print it.
#[derive(Clone, Copy, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrivateId([u8; 6]);

impl PrivateId {
    /// Reads a private id from 12 hexadecimal characters.
    pub fn parse(text: &str) -> Result<PrivateId, Error> {
        let mut bytes = [0; 6];
        parse_hex(text, "a YubiKey private id", &mut bytes)?;
        Ok(PrivateId(bytes))
    }

    /// The private id from its 6 bytes.
    pub fn from_bytes(bytes: [u8; 6]) -> PrivateId {
        PrivateId(bytes)
    }

    /// The 6 bytes.
    pub fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// The private id as 12 lower-case hexadecimal characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl ConstantTimeEq for PrivateId {
    fn ct_eq(&self, other: &PrivateId) -> subtle::Choice {
        self.0.ct_eq(&other.0)
    }
}

impl PartialEq for PrivateId {
    /// Constant time, like [`ConstantTimeEq::ct_eq`].
    fn eq(&self, other: &PrivateId) -> bool {
        self.ct_eq(other).into()
    }
}

impl fmt::Debug for PrivateId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("PrivateId(<hidden>)")
    }
}

impl TryFrom<String> for PrivateId {
    type Error = Error;

    fn try_from(text: String) -> Result<PrivateId, Error> {
        PrivateId::parse(&text)
    }
}

impl From<PrivateId> for String {
    fn from(id: PrivateId) -> String {
        id.to_hex()
    }
}

/// A key's AES-128 secret, which encrypts its tokens. Wiped from memory when dropped; `Debug` does not
/// print it, and it is deliberately neither `Clone` nor serializable.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AesKey([u8; 16]);

impl AesKey {
    /// Reads an AES key from 32 hexadecimal characters.
    pub fn parse(text: &str) -> Result<AesKey, Error> {
        let mut key = AesKey([0; 16]);
        parse_hex(text, "a YubiKey AES key", &mut key.0)?;
        Ok(key)
    }

    /// The key from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> AesKey {
        AesKey(bytes)
    }

    /// The 16 bytes, for the cipher.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for AesKey {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("AesKey(<hidden>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_ids_are_short_modhex_stored_lower_case() {
        assert_eq!(PublicId::parse("DTEFFUJE").unwrap().to_string(), "dteffuje");
        assert_eq!(PublicId::parse("").unwrap().as_str(), "");
        assert_eq!(PublicId::parse("cccccccccccccccc").unwrap().as_str().len(), 16);
        assert_eq!(PublicId::parse("ccccccccccccccccc"), Err(Error::PublicIdLength(17)));
        assert_eq!(PublicId::parse("dteffuja"), Err(Error::InvalidModhex));
        assert_eq!(PublicId::parse(&"é".repeat(100_000)), Err(Error::PublicIdLength(100_000)));
    }

    #[test]
    fn private_ids_are_twelve_hex_characters() {
        let id = PrivateId::parse("8792EBFE26CC").unwrap();
        assert_eq!(id.to_hex(), "8792ebfe26cc");
        assert_eq!(id.as_bytes(), &[0x87, 0x92, 0xeb, 0xfe, 0x26, 0xcc]);
        let wrong = Err(Error::InvalidHex { what: "a YubiKey private id", len: 12 });
        assert_eq!(PrivateId::parse("8792ebfe26"), wrong);
        assert_eq!(PrivateId::parse("8792ebfe26ccdd"), wrong);
        assert_eq!(PrivateId::parse("8792ebfe26cx"), wrong);
    }

    #[test]
    fn private_ids_compare_by_value_and_hide_in_debug() {
        let id = PrivateId::parse("8792ebfe26cc").unwrap();
        assert_eq!(id, PrivateId::from_bytes([0x87, 0x92, 0xeb, 0xfe, 0x26, 0xcc]));
        assert_ne!(id, PrivateId::from_bytes([0x87, 0x92, 0xeb, 0xfe, 0x26, 0xcd]));
        assert!(!format!("{id:?}").contains("8792"));
    }

    #[test]
    fn ids_serialize_as_their_text() {
        let id = PrivateId::parse("8792ebfe26cc").unwrap();
        assert_eq!(String::from(id), "8792ebfe26cc");
        assert_eq!(PrivateId::try_from("8792ebfe26cc".to_owned()).unwrap(), id);
        assert!(PublicId::try_from("x".to_owned()).is_err());
    }

    #[test]
    fn aes_keys_are_thirty_two_hex_characters_and_never_printed() {
        let key = AesKey::parse(" ecde18dbe76fbd0c33330f1c354871db\n").unwrap();
        assert_eq!(key.as_bytes()[0], 0xec);
        assert_eq!(format!("{key:?}"), "AesKey(<hidden>)");
        let wrong = Err(Error::InvalidHex { what: "a YubiKey AES key", len: 32 });
        assert_eq!(AesKey::parse("ecde18dbe76fbd0c33330f1c354871").map(|_| ()), wrong);
        assert_eq!(AesKey::parse("").map(|_| ()), wrong);
    }
}
