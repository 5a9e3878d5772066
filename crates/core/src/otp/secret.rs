//! Shared secrets of HOTP/TOTP factors, and their base32 text form (RFC 4648 §6, without padding).

use std::fmt;

use data_encoding::{Encoding, Specification};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::Error;

/// A shared secret. It is zeroed when dropped and never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// The length of the secrets Keyward generates: 160 bits, as RFC 4226 §4 recommends.
    pub const GENERATED_LEN: usize = 20;
    /// The longest secret we accept (a SHA-512 block).
    pub const MAX_LEN: usize = 128;

    /// A fresh 160-bit secret from the given cryptographic generator.
    pub fn generate(rng: &mut impl CryptoRng) -> Secret {
        let mut bytes = Zeroizing::new(vec![0u8; Self::GENERATED_LEN]);
        rng.fill_bytes(&mut bytes);
        Secret(bytes)
    }

    /// Wraps raw key bytes. Shorter secrets than Keyward generates are accepted because older
    /// deployments hold 80-bit secrets; an empty one is not.
    pub fn from_bytes(bytes: &[u8]) -> Result<Secret, Error> {
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err(Error::SecretLength { min: 1, max: Self::MAX_LEN, got: bytes.len() });
        }
        Ok(Secret(Zeroizing::new(bytes.to_vec())))
    }

    /// Parses base32 as people and apps write it: any case, spaces, hyphens and `=` padding ignored.
    pub fn from_base32(text: &str) -> Result<Secret, Error> {
        if text.len() > 4 * Self::MAX_LEN {
            return Err(Error::SecretLength { min: 1, max: Self::MAX_LEN, got: text.len() * 5 / 8 });
        }
        let cleaned: String = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '-' | '='))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = Zeroizing::new(
            lenient_base32()
                .decode(cleaned.as_bytes())
                .map_err(|error| Error::InvalidBase32(error.to_string()))?,
        );
        Self::from_bytes(&bytes)
    }

    /// The canonical text form: upper-case base32 without padding, as otpauth URIs carry it.
    pub fn to_base32(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.0)
    }

    /// The base32 form in groups of four characters, for typing into an app by hand.
    pub fn to_base32_grouped(&self) -> String {
        let text = self.to_base32();
        let groups: Vec<&str> =
            text.as_bytes().chunks(4).map(|chunk| std::str::from_utf8(chunk).unwrap_or_default()).collect();
        groups.join(" ")
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Base32 without padding that ignores the unused low bits of the last character, as oathtool
/// and the authenticator apps do, so any secret they accept we accept too.
fn lenient_base32() -> Encoding {
    let mut spec = Specification::new();
    spec.symbols.push_str("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567");
    spec.check_trailing_bits = false;
    // The specification is a constant that data-encoding accepts; fall back to the strict form otherwise.
    spec.encoding().unwrap_or_else(|_| data_encoding::BASE32_NOPAD.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::test_rng::Counting;

    #[test]
    fn generates_160_bits_from_the_given_generator() {
        let secret = Secret::generate(&mut Counting(0));
        assert_eq!(secret.as_bytes(), (1..=20).collect::<Vec<u8>>().as_slice());
        assert_eq!(secret.to_base32().len(), 32);
    }

    #[test]
    fn base32_accepts_lower_case_spaces_and_padding() {
        let expected = Secret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(expected.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for text in [
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
            "gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
            "gezdgnbvgy3tqojq-GEZDGNBVGY3TQOJQ",
        ] {
            assert_eq!(Secret::from_base32(text).unwrap(), expected, "{text}");
        }
        assert_eq!(Secret::from_base32("MZXW6===").unwrap().as_bytes(), b"foo");
    }

    #[test]
    fn grouped_form_is_fours() {
        let secret = Secret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(secret.to_base32_grouped(), "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ");
    }

    #[test]
    fn bad_base32_is_refused_with_a_reason() {
        for bad in ["", "GEZDGNB1", "GEZ!", "A", "ÄÖÜ"] {
            assert!(Secret::from_base32(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(Secret::from_base32(&"A".repeat(1_000_000)), Err(Error::SecretLength { .. })));
    }

    #[test]
    fn debug_hides_the_secret() {
        let secret = Secret::from_bytes(b"12345678901234567890").unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(20 bytes)");
    }

    proptest! {
        #[test]
        fn base32_round_trips(bytes in proptest::collection::vec(any::<u8>(), 1..=64)) {
            let secret = Secret::from_bytes(&bytes).unwrap();
            prop_assert_eq!(Secret::from_base32(&secret.to_base32()).unwrap(), secret.clone());
            prop_assert_eq!(Secret::from_base32(&secret.to_base32_grouped().to_lowercase()).unwrap(), secret);
        }

        #[test]
        fn any_text_parses_or_errs_without_panicking(text in ".{0,200}") {
            let _ = Secret::from_base32(&text);
        }
    }
}
