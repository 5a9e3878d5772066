//! Modhex ("modified hexadecimal"): hex digits written with the letters `cbdefghijklnrtuv`, which sit on
//! the same keys in nearly every keyboard layout, so a YubiKey typing as a USB keyboard is read back the
//! same everywhere (Yubico, "YubiKey Manual", section "Modhex").
//!
//! Each byte becomes two characters, high nibble first: `0x00` is `cc`, `0xff` is `vv`.

use crate::Error;

/// The modhex alphabet: the character at index `n` stands for the nibble `n`.
pub const ALPHABET: &[u8; 16] = b"cbdefghijklnrtuv";

/// The nibble a modhex character stands for; upper case is accepted too.
fn nibble(character: u8) -> Option<u8> {
    let lower = character.to_ascii_lowercase();
    ALPHABET.iter().position(|&c| c == lower).and_then(|index| u8::try_from(index).ok())
}

/// Whether every character of `text` is modhex (either case). The empty string is modhex.
pub fn is_modhex(text: &str) -> bool {
    text.bytes().all(|character| nibble(character).is_some())
}

/// Writes `bytes` as lower-case modhex, two characters per byte.
pub fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(ALPHABET[usize::from(byte >> 4)]));
        text.push(char::from(ALPHABET[usize::from(byte & 0x0f)]));
    }
    text
}

/// Reads modhex (either case) into exactly `out.len()` bytes.
///
/// Fails with [`Error::InvalidModhex`] when `text` holds another character or is not exactly twice as
/// long as `out`; `out` is left unspecified then.
pub fn decode_into(text: &str, out: &mut [u8]) -> Result<(), Error> {
    let text = text.as_bytes();
    if text.len() != out.len() * 2 {
        return Err(Error::InvalidModhex);
    }
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        let (Some(high), Some(low)) = (nibble(pair[0]), nibble(pair[1])) else {
            return Err(Error::InvalidModhex);
        };
        *byte = high << 4 | low;
    }
    Ok(())
}

/// Reads modhex (either case) into bytes. An odd number of characters, like any character outside the
/// alphabet, is [`Error::InvalidModhex`].
pub fn decode(text: &str) -> Result<Vec<u8>, Error> {
    if !text.len().is_multiple_of(2) {
        return Err(Error::InvalidModhex);
    }
    let mut bytes = vec![0; text.len() / 2];
    decode_into(text, &mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn every_byte_has_its_pair_of_characters() {
        assert_eq!(
            encode(&[0x00, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xff]),
            "cccbdefghijklnrtuvvv"
        );
        assert_eq!(encode(&[]), "");
    }

    #[test]
    fn yubico_c_vector() {
        // yubico-c's modhex test: "test" encodes to "ifhgieif".
        assert_eq!(encode(b"test"), "ifhgieif");
        assert_eq!(decode("ifhgieif").unwrap(), b"test");
    }

    #[test]
    fn decoding_ignores_case() {
        assert_eq!(decode("IFHGieif").unwrap(), b"test");
        assert!(is_modhex("CBDEFGHIJKLNRTUVcbdefghijklnrtuv"));
    }

    #[test]
    fn foreign_characters_and_odd_lengths_are_refused() {
        assert_eq!(decode("ifhgieia"), Err(Error::InvalidModhex));
        assert_eq!(decode("0123"), Err(Error::InvalidModhex));
        assert_eq!(decode("cbd"), Err(Error::InvalidModhex));
        assert_eq!(decode("cé"), Err(Error::InvalidModhex));
        assert_eq!(decode_into("cccc", &mut [0; 1]), Err(Error::InvalidModhex));
        assert!(!is_modhex("abc"));
    }

    proptest! {
        #[test]
        fn bytes_survive_a_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let text = encode(&bytes);
            prop_assert!(is_modhex(&text));
            prop_assert_eq!(decode(&text)?, bytes.clone());
            prop_assert_eq!(decode(&text.to_uppercase())?, bytes);
        }

        #[test]
        fn any_string_decodes_or_fails_cleanly(text in ".{0,80}") {
            let _ = decode(&text);
        }
    }
}
