//! The 16-byte token inside an OTP: its fields, its CRC, and AES-128 to and from the typed text.
//!
//! Layout (Yubico, "YubiKey Manual", section "Yubico OTP"; yubico-c `yubikey.h`), multi-byte fields
//! little-endian:
//!
//! | bytes | field |
//! | --- | --- |
//! | 0–5 | private id |
//! | 6–7 | usage counter (non-volatile, +1 per power-up); bit 0x8000 set when triggered by caps lock |
//! | 8–9, 10 | timestamp, low 16 bits then high 8 bits (an 8 Hz clock started at a random value) |
//! | 11 | session use counter (0 at power-up, +1 per OTP) |
//! | 12–13 | random |
//! | 14–15 | CRC-16 of bytes 0–13, ones' complement |

use aes::Aes128;
use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::{AesKey, PrivateId, PublicId, YubikeyOtp};
use crate::Error;

/// The largest usage counter: bit 0x8000 of the counter field is the caps-lock flag, not a count.
pub const MAX_COUNTER: u16 = 0x7fff;
/// The flag in the counter field that marks an OTP triggered by a double press of caps lock.
const CAPS_LOCK_FLAG: u16 = 0x8000;

/// CRC-16/IBM-SDLC (also ISO-HDLC, X.25): the same polynomial, reflection and initial value as
/// yubico-c's `yubikey_crc16`, which however leaves out the final xor with 0xffff.
const CRC: crc::Crc<u16> = crc::Crc::<u16>::new(&crc::CRC_16_IBM_SDLC);
/// yubico-c's `YUBIKEY_CRC_OK_RESIDUE`: `yubikey_crc16` over all 16 bytes of a sound token.
const CRC_OK_RESIDUE: u16 = 0xf0b8;

/// yubico-c's `yubikey_crc16`: the CRC register before the final xor, so the ones' complement of what
/// the `crc` crate's CRC-16/IBM-SDLC returns.
fn yubico_crc16(bytes: &[u8]) -> u16 {
    !CRC.checksum(bytes)
}

/// Where an OTP lies in its key's sequence: a key's later OTP always has a greater position, ordered by
/// usage counter first, then session use (the derived `Ord` compares the fields in this order).
///
/// The replay rule: a server stores the position of the last accepted OTP of each key and accepts an OTP
/// only when its position is strictly greater ([`Position::is_after`]), storing the new one atomically.
/// An equal position is a replay; a smaller one is an OTP captured earlier and typed late.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The usage counter, caps-lock flag masked off (0..=[`MAX_COUNTER`]).
    pub counter: u16,
    /// The session use counter.
    #[serde(rename = "use")]
    pub session_use: u8,
}

impl Position {
    /// Whether an OTP at this position may be accepted after one at `stored`: strictly greater only.
    pub fn is_after(self, stored: Position) -> bool {
        self > stored
    }

    /// The position of the key's next OTP without a replug: session use + 1, or when it wraps past 0xff
    /// the next counter with use 0. `None` after the last position a key can reach.
    pub fn next(self) -> Option<Position> {
        match self.session_use.checked_add(1) {
            Some(session_use) => Some(Position { session_use, ..self }),
            None if self.counter < MAX_COUNTER => {
                Some(Position { counter: self.counter + 1, session_use: 0 })
            }
            None => None,
        }
    }
}

/// The decrypted content of an OTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    /// The key's private id.
    pub private_id: PrivateId,
    /// The usage counter, caps-lock flag masked off (0..=[`MAX_COUNTER`]; encoding masks larger values).
    pub counter: u16,
    /// Whether the OTP was triggered by a double press of caps lock (flag 0x8000 of the counter field).
    pub triggered_by_caps_lock: bool,
    /// The low 16 bits of the 24-bit timestamp.
    pub timestamp_low: u16,
    /// The high 8 bits of the 24-bit timestamp.
    pub timestamp_high: u8,
    /// The session use counter.
    pub session_use: u8,
    /// Random bits, making equal fields encrypt differently.
    pub random: u16,
}

impl Token {
    /// The (counter, use) pair the replay rule compares.
    pub fn position(&self) -> Position {
        Position { counter: self.counter, session_use: self.session_use }
    }

    /// The 24-bit timestamp: 8 Hz ticks since an arbitrary start at power-up.
    pub fn timestamp(&self) -> u32 {
        u32::from(self.timestamp_high) << 16 | u32::from(self.timestamp_low)
    }

    /// The CRC field as the key writes it: the ones' complement of `yubikey_crc16` over bytes 0–13.
    pub fn crc(&self) -> u16 {
        let bytes = self.to_bytes();
        !yubico_crc16(&bytes[..14])
    }

    /// The 16 plaintext bytes, CRC included.
    pub fn to_bytes(&self) -> [u8; 16] {
        let mut counter = self.counter & MAX_COUNTER;
        if self.triggered_by_caps_lock {
            counter |= CAPS_LOCK_FLAG;
        }
        let mut bytes = [0; 16];
        bytes[..6].copy_from_slice(self.private_id.as_bytes());
        bytes[6..8].copy_from_slice(&counter.to_le_bytes());
        bytes[8..10].copy_from_slice(&self.timestamp_low.to_le_bytes());
        bytes[10] = self.timestamp_high;
        bytes[11] = self.session_use;
        bytes[12..14].copy_from_slice(&self.random.to_le_bytes());
        let crc = !yubico_crc16(&bytes[..14]);
        bytes[14..].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Reads 16 plaintext bytes, refusing them unless the CRC-16 over all of them leaves the residue
    /// 0xf0b8 ([`Error::CrcMismatch`]: the wrong key, or an OTP changed on the way).
    pub fn from_bytes(bytes: &[u8; 16]) -> Result<Token, Error> {
        if yubico_crc16(bytes) != CRC_OK_RESIDUE {
            return Err(Error::CrcMismatch);
        }
        let [p0, p1, p2, p3, p4, p5, c0, c1, t0, t1, timestamp_high, session_use, r0, r1, _, _] = *bytes;
        let counter = u16::from_le_bytes([c0, c1]);
        Ok(Token {
            private_id: PrivateId::from_bytes([p0, p1, p2, p3, p4, p5]),
            counter: counter & MAX_COUNTER,
            triggered_by_caps_lock: counter & CAPS_LOCK_FLAG != 0,
            timestamp_low: u16::from_le_bytes([t0, t1]),
            timestamp_high,
            session_use,
            random: u16::from_le_bytes([r0, r1]),
        })
    }
}

/// Decrypts an OTP's token with the key's AES-128 secret and checks its CRC.
///
/// This does not check the private id (see [`verify`]) nor the replay rule (see [`Position`]).
pub fn decode(otp: &YubikeyOtp, key: &AesKey) -> Result<Token, Error> {
    let cipher = Aes128::new(key.as_bytes().into());
    let mut block = (*otp.ciphertext()).into();
    cipher.decrypt_block(&mut block);
    Token::from_bytes(&block.into())
}

/// Decrypts an OTP like [`decode`] and checks, in constant time, that it carries `expected` as its
/// private id ([`Error::PrivateIdMismatch`] otherwise). What remains for the caller is the replay rule:
/// accept only if the token's [`Token::position`] [`is_after`](Position::is_after) the stored one.
pub fn verify(otp: &YubikeyOtp, key: &AesKey, expected: &PrivateId) -> Result<Token, Error> {
    let token = decode(otp, key)?;
    if bool::from(token.private_id.ct_eq(expected)) { Ok(token) } else { Err(Error::PrivateIdMismatch) }
}

/// Encrypts a token into the OTP a key with this public id would type: the other direction of
/// [`decode`], for software keys and tests.
pub fn encode(key: &AesKey, public_id: &PublicId, token: &Token) -> YubikeyOtp {
    let cipher = Aes128::new(key.as_bytes().into());
    let mut block = token.to_bytes().into();
    cipher.encrypt_block(&mut block);
    YubikeyOtp::from_parts(public_id.clone(), block.into())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const KEY: &str = "ecde18dbe76fbd0c33330f1c354871db";
    const VECTOR: &str = "dteffujehknhfjbrjnlnldnhcujvddbikngjrtgh";

    fn key() -> AesKey {
        AesKey::parse(KEY).unwrap()
    }

    fn vector() -> YubikeyOtp {
        YubikeyOtp::parse(VECTOR).unwrap()
    }

    #[test]
    fn yubico_c_vector_decodes_to_its_fields() {
        let token = decode(&vector(), &key()).unwrap();
        assert_eq!(token.private_id.to_hex(), "8792ebfe26cc");
        assert_eq!(token.counter, 19);
        assert!(!token.triggered_by_caps_lock);
        assert_eq!((token.timestamp_low, token.timestamp_high, token.timestamp()), (49712, 0, 49712));
        assert_eq!(token.session_use, 17);
        assert_eq!(token.random, 40904);
        assert_eq!(token.crc(), 51235);
        assert_eq!(token.position(), Position { counter: 19, session_use: 17 });
    }

    #[test]
    fn yubico_c_vector_encodes_back_to_the_same_otp() {
        let token = decode(&vector(), &key()).unwrap();
        assert_eq!(encode(&key(), vector().public_id(), &token).to_string(), VECTOR);
    }

    #[test]
    fn crc_vector_and_the_relation_to_the_crc_crate() {
        let bytes = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x30, 0x75, 0x00, 0x09, 0x3d, 0xfa, 0x60, 0xea];
        // yubico-c's self test: yubikey_crc16 over these 14 bytes is 35339.
        assert_eq!(yubico_crc16(&bytes), 35339);
        // The crc crate applies the final xor that yubikey_crc16 leaves out.
        assert_eq!(CRC.checksum(&bytes), !35339);
        // Appending the ones' complement, little-endian, leaves the residue 0xf0b8.
        let mut token = bytes.to_vec();
        token.extend_from_slice(&(!35339u16).to_le_bytes());
        assert_eq!(yubico_crc16(&token), CRC_OK_RESIDUE);
        assert_eq!(CRC.checksum(&token), !CRC_OK_RESIDUE);
        assert_eq!(CRC.algorithm.residue, CRC_OK_RESIDUE);
    }

    #[test]
    fn the_caps_lock_flag_is_masked_off_the_counter() {
        let token = Token { triggered_by_caps_lock: true, ..decode(&vector(), &key()).unwrap() };
        let bytes = token.to_bytes();
        assert_eq!(&bytes[6..8], &[19, 0x80]);
        let read = Token::from_bytes(&bytes).unwrap();
        assert_eq!((read.counter, read.triggered_by_caps_lock), (19, true));
        let overflowing = Token { counter: 0x8013, triggered_by_caps_lock: false, ..token };
        assert_eq!(Token::from_bytes(&overflowing.to_bytes()).unwrap().counter, 19);
    }

    #[test]
    fn a_wrong_key_fails_the_crc() {
        let wrong = AesKey::parse("ecde18dbe76fbd0c33330f1c354871dc").unwrap();
        assert_eq!(decode(&vector(), &wrong), Err(Error::CrcMismatch));
    }

    #[test]
    fn a_changed_otp_fails_the_crc() {
        let changed = YubikeyOtp::parse("dteffujehknhfjbrjnlnldnhcujvddbikngjrtgg").unwrap();
        assert_eq!(decode(&changed, &key()), Err(Error::CrcMismatch));
    }

    #[test]
    fn verify_checks_the_private_id() {
        let right = PrivateId::parse("8792ebfe26cc").unwrap();
        let wrong = PrivateId::parse("8792ebfe26cd").unwrap();
        assert_eq!(verify(&vector(), &key(), &right).unwrap().counter, 19);
        assert_eq!(verify(&vector(), &key(), &wrong), Err(Error::PrivateIdMismatch));
        let wrong_key = AesKey::from_bytes([0; 16]);
        assert_eq!(verify(&vector(), &wrong_key, &right), Err(Error::CrcMismatch));
    }

    #[test]
    fn positions_order_by_counter_then_use() {
        let at = |counter, session_use| Position { counter, session_use };
        assert!(at(1, 1).is_after(at(1, 0)));
        assert!(at(2, 0).is_after(at(1, 255)));
        assert!(!at(1, 1).is_after(at(1, 1)), "a replay is not after itself");
        assert!(!at(1, 0).is_after(at(1, 1)));
        assert!(!at(1, 255).is_after(at(2, 0)));
    }

    #[test]
    fn the_next_position_wraps_use_into_the_counter() {
        let at = |counter, session_use| Position { counter, session_use };
        assert_eq!(at(1, 0).next(), Some(at(1, 1)));
        assert_eq!(at(1, 255).next(), Some(at(2, 0)));
        assert!(at(1, 255).next().unwrap().is_after(at(1, 255)));
        assert_eq!(at(MAX_COUNTER, 254).next(), Some(at(MAX_COUNTER, 255)));
        assert_eq!(at(MAX_COUNTER, 255).next(), None);
    }

    fn any_token() -> impl Strategy<Value = Token> {
        (
            any::<[u8; 6]>(),
            0..=MAX_COUNTER,
            any::<bool>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u16>(),
        )
            .prop_map(|(id, counter, caps, low, high, session_use, random)| Token {
                private_id: PrivateId::from_bytes(id),
                counter,
                triggered_by_caps_lock: caps,
                timestamp_low: low,
                timestamp_high: high,
                session_use,
                random,
            })
    }

    proptest! {
        #[test]
        fn encoded_tokens_decode_to_their_fields(
            key in any::<[u8; 16]>(),
            public_id in "[cbdefghijklnrtuv]{0,16}",
            token in any_token(),
        ) {
            let key = AesKey::from_bytes(key);
            let public_id = PublicId::parse(&public_id)?;
            let typed = encode(&key, &public_id, &token).to_string();
            let otp = YubikeyOtp::parse(&typed)?;
            prop_assert_eq!(otp.public_id(), &public_id);
            prop_assert_eq!(verify(&otp, &key, &token.private_id)?, token);
        }

        #[test]
        fn any_ciphertext_decodes_or_fails_cleanly(key in any::<[u8; 16]>(), ciphertext in any::<[u8; 16]>()) {
            let otp = YubikeyOtp::from_parts(PublicId::parse("")?, ciphertext);
            let _ = decode(&otp, &AesKey::from_bytes(key));
        }
    }
}
