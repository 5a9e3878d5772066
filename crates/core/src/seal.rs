//! Sealed secrets at rest: AES-256-GCM envelopes under a master key, labelled with the key's id.
//!
//! TOTP secrets and YubiKey AES keys are stored sealed, so a raw database dump reveals none of them.
//! Each sealed value records the id of the master key that sealed it; the [`KeyRing`] holds the current
//! key (used to seal) and older keys (kept only to open values that have not been resealed yet), which
//! makes key rotation a matter of adding a key, resealing every value for which
//! [`KeyRing::is_current`] is false, and finally dropping the old keys.
//!
//! # Master key text
//!
//! The key file and the `KEYWARD_MASTER_KEY` variable hold the same text:
//!
//! ```text
//! # comment lines start with '#'
//! 2025-06-01:q8B2c1m8a0R2a5VJ2m7Lq0uT8o6cQ1w3Jm2kFf0tY1E=
//! k1:3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
//! ```
//!
//! - entries are separated by line breaks or commas (`k2:…,k1:…` fits in one environment variable);
//!   surrounding spaces and empty entries are ignored; a line whose first non-blank character is `#`
//!   is a comment;
//! - each entry is `id:key`: the id is 1–32 characters out of `A-Z a-z 0-9 - _ .`, the key is the
//!   32-byte AES-256 key in standard padded base64 (RFC 4648 §4, 44 characters), as
//!   `openssl rand -base64 32` prints it;
//! - the FIRST entry is the current key, which seals; the others are older keys that only open.
//!
//! [`KeyRing::to_text`] writes one entry per line, current first, without comments.

use std::fmt;

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, Key, KeyInit, Nonce};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::{Error, UnixTime};

/// Length of an AES-256 key in bytes.
pub const KEY_LEN: usize = 32;
/// Length of the random AES-GCM nonce that starts every sealed value (96 bits, as GCM prefers).
pub const NONCE_LEN: usize = 12;
/// Length of the AES-GCM authentication tag that ends every sealed value.
pub const TAG_LEN: usize = 16;
/// The longest key id: ids are stored next to every sealed value, so they stay short.
pub const MAX_KEY_ID_LEN: usize = 32;

/// One master key: a 32-byte AES-256 key and its id. The key bytes are zeroed when dropped and never
/// shown by `Debug`.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl MasterKey {
    /// A fresh random key with the given id (see [`new_key_id`]).
    pub fn generate(id: &str, rng: &mut impl CryptoRng) -> Result<MasterKey, Error> {
        check_key_id(id)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill_bytes(key.as_mut_slice());
        Ok(MasterKey { id: id.to_owned(), key })
    }

    /// Wraps existing key bytes, which must be exactly 32 bytes long.
    pub fn from_bytes(id: &str, bytes: &[u8]) -> Result<MasterKey, Error> {
        check_key_id(id)?;
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        if bytes.len() != KEY_LEN {
            return Err(Error::MasterKeyLength { id: id.to_owned(), got: bytes.len() });
        }
        key.copy_from_slice(bytes);
        Ok(MasterKey { id: id.to_owned(), key })
    }

    /// The key's id, as stored next to every value it sealed.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The AEAD instance for this key. Built per use: the AES key schedule costs far less than the
    /// database round trip around it, and no expanded key lingers in memory.
    fn cipher(&self) -> Aes256Gcm {
        let key: &Key<Aes256Gcm> = (&*self.key).into();
        Aes256Gcm::new(key)
    }

    /// The `id:base64` entry of the text form.
    fn to_entry(&self) -> Zeroizing<String> {
        let mut entry = Zeroizing::new(String::with_capacity(self.id.len() + 1 + 44));
        entry.push_str(&self.id);
        entry.push(':');
        entry.push_str(&Zeroizing::new(data_encoding::BASE64.encode(self.key.as_slice())));
        entry
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey").field("id", &self.id).finish_non_exhaustive()
    }
}

/// A value sealed under a master key: what the database stores instead of the secret.
///
/// `ciphertext` is laid out as `nonce (12 bytes) || AES-256-GCM ciphertext (as long as the plaintext)
/// || tag (16 bytes)`; the nonce is random, and the caller's context string is the associated data
/// (it is authenticated, not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The id of the master key that sealed the value.
    pub key_id: String,
    /// Nonce, ciphertext and tag, in that order.
    pub ciphertext: Vec<u8>,
}

/// The master keys Keyward knows: the current one, which seals, and older ones that still open
/// values sealed before a rotation. Never shown by `Debug` beyond the ids.
#[derive(Clone)]
pub struct KeyRing {
    /// The key that seals.
    current: MasterKey,
    /// Older keys, newest first, that only open. Ids are unique across `current` and `older`.
    older: Vec<MasterKey>,
}

impl KeyRing {
    /// A key ring holding one key, which is current.
    pub fn new(current: MasterKey) -> KeyRing {
        KeyRing { current, older: Vec::new() }
    }

    /// The key that seals new values.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The ids of all keys, current first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys().map(MasterKey::id)
    }

    /// Seals `plaintext` under the current key with a fresh random nonce. `context` says where the
    /// value belongs (e.g. `b"totp:user:42"`): it is authenticated as associated data, so a sealed value
    /// copied into another row does not open there.
    ///
    /// Nonces are random 96-bit values; NIST SP 800-38D allows 2³² of them per key, far more than a
    /// deployment seals between rotations.
    pub fn seal(&self, plaintext: &[u8], context: &[u8], rng: &mut impl CryptoRng) -> Result<Sealed, Error> {
        let key = &self.current;
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        // Capacity for the whole envelope up front, so no reallocation leaves a copy of the plaintext
        // behind in freed memory; on failure the buffer is zeroed as it drops.
        let mut buffer = Zeroizing::new(Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN));
        buffer.extend_from_slice(&nonce);
        buffer.extend_from_slice(plaintext);
        let tag = key
            .cipher()
            .encrypt_inout_detached(
                <&Nonce<Aes256Gcm>>::from(&nonce),
                context,
                buffer[NONCE_LEN..].as_mut().into(),
            )
            .map_err(|_| Error::SealTooLarge)?;
        buffer.extend_from_slice(&tag);
        Ok(Sealed { key_id: key.id.clone(), ciphertext: std::mem::take(&mut *buffer) })
    }

    /// Opens a sealed value with the key it names, checking it against the same `context` it was sealed
    /// with. A missing key ([`Error::UnknownKeyId`]) and a value that fails authentication
    /// ([`Error::UnsealFailed`]) are different errors: the first is a configuration problem, the second
    /// tampering or a value copied from elsewhere.
    pub fn open(&self, sealed: &Sealed, context: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
        let key = self.get(&sealed.key_id).ok_or_else(|| Error::UnknownKeyId(sealed.key_id.clone()))?;
        if sealed.ciphertext.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::SealedMalformed);
        }
        let (nonce, rest) = sealed.ciphertext.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce = <&Nonce<Aes256Gcm>>::try_from(nonce).map_err(|_| Error::SealedMalformed)?;
        let tag = <&aes_gcm::Tag>::try_from(tag).map_err(|_| Error::SealedMalformed)?;
        // Decrypt into a buffer that zeroes itself, whether authentication succeeds or not.
        let mut plaintext = Zeroizing::new(body.to_vec());
        key.cipher()
            .decrypt_inout_detached(nonce, context, plaintext.as_mut_slice().into(), tag)
            .map_err(|_| Error::UnsealFailed)?;
        Ok(plaintext)
    }

    /// Whether the value is sealed under the current key; the others are due for resealing after a
    /// rotation.
    pub fn is_current(&self, sealed: &Sealed) -> bool {
        sealed.key_id == self.current.id
    }

    /// The ring after a rotation: `new_key` becomes current, every old key stays to open what it
    /// sealed. Refuses a new key whose id is already in the ring, since the old key of that id would
    /// otherwise be lost along with everything it sealed.
    pub fn rotated(self, new_key: MasterKey) -> Result<KeyRing, Error> {
        if self.get(&new_key.id).is_some() {
            return Err(Error::DuplicateKeyId(new_key.id));
        }
        let mut older = Vec::with_capacity(self.older.len() + 1);
        older.push(self.current);
        older.extend(self.older);
        Ok(KeyRing { current: new_key, older })
    }

    /// The ring with only the current key, once every value has been resealed.
    pub fn without_older_keys(self) -> KeyRing {
        KeyRing::new(self.current)
    }

    /// Parses the master key text (see the [module documentation](self) for the format).
    pub fn parse(text: &str) -> Result<KeyRing, Error> {
        let mut keys: Vec<MasterKey> = Vec::new();
        let entries = text
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
        for (index, entry) in entries.enumerate() {
            let key = parse_entry(index + 1, entry)?;
            if keys.iter().any(|known| known.id == key.id) {
                return Err(Error::DuplicateKeyId(key.id));
            }
            keys.push(key);
        }
        let mut keys = keys.into_iter();
        let current = keys.next().ok_or(Error::NoMasterKey)?;
        Ok(KeyRing { current, older: keys.collect() })
    }

    /// The text form: one `id:base64` line per key, current first. It holds the keys themselves, so it
    /// is zeroed when dropped.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut text = Zeroizing::new(String::with_capacity((self.older.len() + 1) * (MAX_KEY_ID_LEN + 46)));
        for key in self.keys() {
            text.push_str(&key.to_entry());
            text.push('\n');
        }
        text
    }

    /// All keys, current first.
    fn keys(&self) -> impl Iterator<Item = &MasterKey> {
        std::iter::once(&self.current).chain(&self.older)
    }

    fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys().find(|key| key.id == id)
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing").field("current", &self.current).field("older", &self.older).finish()
    }
}

/// The id of a new key: the UTC day it was made and 48 random bits (`2026-12-01-9f3a0c21b4e7`). The date
/// tells an operator how old a key is; the random part makes two keys made on one day — by two nodes, or
/// by a node that lost its key file — never share an id, so a value sealed under one is never tried
/// under the other.
pub fn new_key_id(now: UnixTime, rng: &mut impl CryptoRng) -> String {
    let mut suffix = [0u8; 6];
    rng.fill_bytes(&mut suffix);
    format!("{}-{}", now.date(), hex::encode(suffix))
}

fn check_key_id(id: &str) -> Result<(), Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.len() > MAX_KEY_ID_LEN || !id.chars().all(allowed) {
        return Err(Error::InvalidKeyId);
    }
    Ok(())
}

/// One `id:base64` entry. Errors name the entry's position, never its text, which may be a key.
fn parse_entry(entry: usize, text: &str) -> Result<MasterKey, Error> {
    let malformed = |reason| Error::InvalidMasterKey { entry, reason };
    let (id, encoded) = text.split_once(':').ok_or(malformed("expected `id:base64-key`"))?;
    let id = id.trim();
    check_key_id(id)
        .map_err(|_| malformed("the id must be 1 to 32 characters: letters, digits, '-', '_' and '.'"))?;
    let bytes = Zeroizing::new(
        data_encoding::BASE64
            .decode(encoded.trim().as_bytes())
            .map_err(|_| malformed("the key is not valid padded base64"))?,
    );
    MasterKey::from_bytes(id, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_rng::Counting;

    fn ring(id: &str, seed: u8) -> KeyRing {
        KeyRing::new(MasterKey::generate(id, &mut Counting(seed)).unwrap())
    }

    #[test]
    fn round_trip_with_the_documented_layout() {
        let ring = ring("k1", 0);
        let sealed = ring.seal(b"12345678901234567890", b"totp:user:42", &mut Counting(100)).unwrap();
        assert_eq!(sealed.key_id, "k1");
        assert_eq!(sealed.ciphertext.len(), NONCE_LEN + 20 + TAG_LEN);
        assert_eq!(&sealed.ciphertext[..NONCE_LEN], (101..=112).collect::<Vec<u8>>().as_slice());
        assert!(!sealed.ciphertext.windows(20).any(|w| w == b"12345678901234567890"));
        let opened = ring.open(&sealed, b"totp:user:42").unwrap();
        assert_eq!(opened.as_slice(), b"12345678901234567890");
        assert!(ring.is_current(&sealed));
        // An empty value seals too.
        let empty = ring.seal(b"", b"ctx", &mut Counting(7)).unwrap();
        assert!(ring.open(&empty, b"ctx").unwrap().is_empty());
    }

    #[test]
    fn matches_an_independent_aes_gcm_computation() {
        // NIST GCM test case 14 (AES-256, zero key, zero IV, one zero block, no AAD).
        let key = MasterKey::from_bytes("nist", &[0u8; 32]).unwrap();
        let ring = KeyRing::new(key);
        let sealed = Sealed {
            key_id: "nist".into(),
            ciphertext: [
                vec![0u8; 12],
                hex::decode("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919").unwrap(),
            ]
            .concat(),
        };
        assert_eq!(ring.open(&sealed, b"").unwrap().as_slice(), &[0u8; 16]);
    }

    #[test]
    fn nonces_differ_between_seals() {
        let ring = ring("k1", 0);
        let mut rng = Counting(0);
        let a = ring.seal(b"same", b"ctx", &mut rng).unwrap();
        let b = ring.seal(b"same", b"ctx", &mut rng).unwrap();
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn wrong_context_fails() {
        let ring = ring("k1", 0);
        let sealed = ring.seal(b"secret", b"totp:user:42", &mut Counting(9)).unwrap();
        assert_eq!(ring.open(&sealed, b"totp:user:43"), Err(Error::UnsealFailed));
        assert_eq!(ring.open(&sealed, b""), Err(Error::UnsealFailed));
    }

    #[test]
    fn tampering_fails() {
        let ring = ring("k1", 0);
        let sealed = ring.seal(b"secret", b"ctx", &mut Counting(9)).unwrap();
        for index in 0..sealed.ciphertext.len() {
            let mut tampered = sealed.clone();
            tampered.ciphertext[index] ^= 0x01;
            assert_eq!(ring.open(&tampered, b"ctx"), Err(Error::UnsealFailed), "byte {index}");
        }
        let mut truncated = sealed.clone();
        truncated.ciphertext.pop();
        assert_eq!(ring.open(&truncated, b"ctx"), Err(Error::UnsealFailed));
        truncated.ciphertext.truncate(NONCE_LEN + TAG_LEN - 1);
        assert_eq!(ring.open(&truncated, b"ctx"), Err(Error::SealedMalformed));
    }

    #[test]
    fn same_id_but_other_key_fails_authentication() {
        let sealed = ring("k1", 0).seal(b"secret", b"ctx", &mut Counting(9)).unwrap();
        assert_eq!(ring("k1", 50).open(&sealed, b"ctx"), Err(Error::UnsealFailed));
    }

    #[test]
    fn unknown_key_id_is_its_own_error() {
        let ring = ring("k1", 0);
        let mut sealed = ring.seal(b"secret", b"ctx", &mut Counting(9)).unwrap();
        sealed.key_id = "k0".into();
        assert_eq!(ring.open(&sealed, b"ctx"), Err(Error::UnknownKeyId("k0".into())));
        assert!(!ring.is_current(&sealed));
        assert!(Error::UnknownKeyId("k0".into()).to_string().contains("\"k0\""));
    }

    #[test]
    fn old_values_open_after_rotation_and_are_not_current() {
        let old_ring = ring("k1", 0);
        let old = old_ring.seal(b"old secret", b"yubikey:7", &mut Counting(9)).unwrap();
        let new_key = MasterKey::generate("k2", &mut Counting(77)).unwrap();
        let ring = old_ring.rotated(new_key).unwrap();
        assert_eq!(ring.current().id(), "k2");
        assert_eq!(ring.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
        assert!(!ring.is_current(&old));
        assert_eq!(ring.open(&old, b"yubikey:7").unwrap().as_slice(), b"old secret");
        let resealed =
            ring.seal(&ring.open(&old, b"yubikey:7").unwrap(), b"yubikey:7", &mut Counting(3)).unwrap();
        assert!(ring.is_current(&resealed));
        assert_eq!(resealed.key_id, "k2");
        // The rotated ring survives its text form.
        let reparsed = KeyRing::parse(&ring.to_text()).unwrap();
        assert_eq!(reparsed.open(&old, b"yubikey:7").unwrap().as_slice(), b"old secret");
        assert!(reparsed.is_current(&resealed));
        // Once everything is resealed the old key can go.
        let trimmed = reparsed.without_older_keys();
        assert_eq!(trimmed.open(&old, b"yubikey:7"), Err(Error::UnknownKeyId("k1".into())));
        assert!(trimmed.open(&resealed, b"yubikey:7").is_ok());
    }

    #[test]
    fn rotation_refuses_an_id_already_in_the_ring() {
        let again = MasterKey::generate("k1", &mut Counting(77)).unwrap();
        assert_eq!(ring("k1", 0).rotated(again).unwrap_err(), Error::DuplicateKeyId("k1".into()));
    }

    #[test]
    fn text_round_trip_and_format() {
        let key = MasterKey::from_bytes("k1", &[0xAB; 32]).unwrap();
        let ring = KeyRing::new(key).rotated(MasterKey::from_bytes("2025-06-01", &[1; 32]).unwrap()).unwrap();
        let text = ring.to_text();
        assert_eq!(
            text.as_str(),
            "2025-06-01:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\
             k1:q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n"
        );
        let parsed = KeyRing::parse(&text).unwrap();
        assert_eq!(parsed.to_text(), text);
        assert_eq!(parsed.current().id(), "2025-06-01");
        // Comma-separated, with spaces, comments and blank lines, is the same ring.
        let other = KeyRing::parse(
            "# keyward master keys\n\n 2025-06-01 : AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE= ,\
             k1:q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=,\n",
        )
        .unwrap();
        assert_eq!(other.to_text(), text);
    }

    #[test]
    fn malformed_text_gets_clear_errors() {
        let good = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
        assert_eq!(KeyRing::parse("").unwrap_err(), Error::NoMasterKey);
        assert_eq!(KeyRing::parse(" \n# only a comment\n,,").unwrap_err(), Error::NoMasterKey);
        assert!(matches!(KeyRing::parse(good), Err(Error::InvalidMasterKey { entry: 1, .. })));
        assert!(matches!(
            KeyRing::parse(&format!("k1:{good}\nk 2:{good}")),
            Err(Error::InvalidMasterKey { entry: 2, .. })
        ));
        assert!(matches!(KeyRing::parse(&format!(":{good}")), Err(Error::InvalidMasterKey { entry: 1, .. })));
        assert!(matches!(KeyRing::parse("k1:not base64!"), Err(Error::InvalidMasterKey { entry: 1, .. })));
        assert_eq!(
            KeyRing::parse(&format!("k1:{good}\nk1:{good}")).unwrap_err(),
            Error::DuplicateKeyId("k1".into())
        );
        assert_eq!(
            KeyRing::parse("k1:AAAA").unwrap_err(),
            Error::MasterKeyLength { id: "k1".into(), got: 3 }
        );
        let hex_key = "ab".repeat(32);
        assert_eq!(
            KeyRing::parse(&format!("k1:{hex_key}")).unwrap_err(),
            Error::MasterKeyLength { id: "k1".into(), got: 48 }
        );
        assert!(matches!(
            KeyRing::parse(&format!("{}:{good}", "a".repeat(33))),
            Err(Error::InvalidMasterKey { .. })
        ));
        // No error message repeats the key material.
        for text in [good.to_owned(), format!("k1;{good}"), format!("k1:{good}x")] {
            let message = KeyRing::parse(&text).unwrap_err().to_string();
            assert!(!message.contains("AQEBAQEB"), "{message}");
        }
    }

    #[test]
    fn debug_never_shows_keys() {
        let ring = KeyRing::parse(
            "k2:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=,k1:q6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=",
        )
        .unwrap();
        let debug = format!("{ring:?} {:?}", ring.current());
        assert_eq!(
            debug,
            "KeyRing { current: MasterKey { id: \"k2\", .. }, older: [MasterKey { id: \"k1\", .. }] } \
             MasterKey { id: \"k2\", .. }"
        );
    }

    #[test]
    fn key_ids_are_checked() {
        let mut rng = Counting(0);
        for good in ["k1", "2025-06-01", "a.b_c-D", &"x".repeat(32)] {
            assert!(MasterKey::generate(good, &mut rng).is_ok(), "{good}");
        }
        for bad in ["", "k 1", "k:1", "k,1", "ключ", &"x".repeat(33)] {
            assert_eq!(MasterKey::generate(bad, &mut rng).unwrap_err(), Error::InvalidKeyId, "{bad}");
        }
        assert_eq!(
            MasterKey::from_bytes("k1", &[0; 16]).unwrap_err(),
            Error::MasterKeyLength { id: "k1".into(), got: 16 }
        );
    }

    #[test]
    fn new_ids_carry_the_day_and_differ_within_it() {
        let mut rng = Counting(1);
        let first = new_key_id(UnixTime(1_748_779_199), &mut rng);
        assert_eq!(first, "2025-06-01-020304050607");
        let second = new_key_id(UnixTime(1_748_779_199), &mut rng);
        assert_eq!(second, "2025-06-01-08090a0b0c0d");
        assert!(new_key_id(UnixTime(4_102_444_800), &mut rng).starts_with("2100-01-01-"));
        // Every new id is a valid key id, and a ring takes several made on one day.
        let ring = KeyRing::new(MasterKey::generate(&first, &mut rng).unwrap());
        assert!(ring.rotated(MasterKey::generate(&second, &mut rng).unwrap()).is_ok());
    }

    proptest! {
        #[test]
        fn any_text_parses_or_errs_without_panicking(text in ".{0,300}") {
            let _ = KeyRing::parse(&text);
        }

        #[test]
        fn entry_shaped_text_never_panics(id in "[a-z0-9:., -]{0,40}", key in "[A-Za-z0-9+/=, \n]{0,60}") {
            let _ = KeyRing::parse(&format!("{id}:{key}"));
        }

        #[test]
        fn text_round_trips(keys in proptest::collection::vec(any::<[u8; 32]>(), 1..5)) {
            let mut ring: Option<KeyRing> = None;
            for (index, bytes) in keys.iter().enumerate() {
                let key = MasterKey::from_bytes(&format!("k{index}"), bytes).unwrap();
                ring = Some(match ring { None => KeyRing::new(key), Some(ring) => ring.rotated(key).unwrap() });
            }
            let ring = ring.unwrap();
            let text = ring.to_text();
            prop_assert_eq!(KeyRing::parse(&text).unwrap().to_text(), text);
        }

        #[test]
        fn seal_open_round_trips(plaintext in proptest::collection::vec(any::<u8>(), 0..100), seed in any::<u8>()) {
            let ring = ring("k1", seed);
            let sealed = ring.seal(&plaintext, b"ctx", &mut Counting(seed)).unwrap();
            let opened = ring.open(&sealed, b"ctx").unwrap();
            prop_assert_eq!(opened.as_slice(), plaintext.as_slice());
        }
    }
}
