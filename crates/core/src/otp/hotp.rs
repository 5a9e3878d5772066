//! HOTP, RFC 4226: HMAC over a moving counter, dynamically truncated to a short decimal code.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::{Code, Digits, Secret};
use crate::Error;

/// The HMAC hash function (RFC 6238 §1.2 allows SHA-1, SHA-256 and SHA-512).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1, what every authenticator app supports.
    #[default]
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

impl Algorithm {
    /// The name used in `otpauth://` URIs.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    /// Parses `SHA1`, `SHA256` or `SHA512` in any case.
    pub fn parse(name: &str) -> Result<Algorithm, Error> {
        match name.to_ascii_uppercase().as_str() {
            "SHA1" => Ok(Algorithm::Sha1),
            "SHA256" => Ok(Algorithm::Sha256),
            "SHA512" => Ok(Algorithm::Sha512),
            _ => Err(Error::InvalidAlgorithm(name.chars().take(32).collect())),
        }
    }
}

/// An HMAC already keyed with a factor's secret; cloning it is cheaper than keying it again,
/// which matters when one verification computes several candidate codes.
#[derive(Clone)]
enum KeyedMac {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

/// An HOTP generator for one secret (RFC 4226 §5).
#[derive(Clone)]
pub(crate) struct Hotp {
    mac: KeyedMac,
    digits: Digits,
}

impl Hotp {
    pub(crate) fn new(secret: &Secret, algorithm: Algorithm, digits: Digits) -> Result<Hotp, Error> {
        let key = secret.as_bytes();
        let invalid = |_| Error::SecretLength { min: 1, max: Secret::MAX_LEN, got: key.len() };
        let mac = match algorithm {
            Algorithm::Sha1 => KeyedMac::Sha1(Hmac::new_from_slice(key).map_err(invalid)?),
            Algorithm::Sha256 => KeyedMac::Sha256(Hmac::new_from_slice(key).map_err(invalid)?),
            Algorithm::Sha512 => KeyedMac::Sha512(Hmac::new_from_slice(key).map_err(invalid)?),
        };
        Ok(Hotp { mac, digits })
    }

    /// HOTP(K, C) = Truncate(HMAC(K, C)) mod 10^Digits, RFC 4226 §5.3.
    pub(crate) fn code(&self, counter: u64) -> Code {
        let message = counter.to_be_bytes();
        let value = match &self.mac {
            KeyedMac::Sha1(mac) => truncate(&mac.clone().chain_update(message).finalize().into_bytes()),
            KeyedMac::Sha256(mac) => truncate(&mac.clone().chain_update(message).finalize().into_bytes()),
            KeyedMac::Sha512(mac) => truncate(&mac.clone().chain_update(message).finalize().into_bytes()),
        };
        Code::new(value % self.digits.modulus(), self.digits)
    }
}

/// Dynamic truncation, RFC 4226 §5.3: 31 bits read at the offset named by the low nibble of the last byte.
fn truncate(hmac: &[u8]) -> u32 {
    let offset = usize::from(hmac.last().copied().unwrap_or(0) & 0x0f);
    match hmac.get(offset..offset + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a & 0x7f, b, c, d]),
        // Unreachable for SHA-1/256/512 outputs (at least 20 bytes), kept total rather than panicking.
        _ => 0,
    }
}

/// The HOTP code of `secret` at `counter` (RFC 4226 §5.3).
pub fn hotp(secret: &Secret, counter: u64, algorithm: Algorithm, digits: Digits) -> Result<Code, Error> {
    Ok(Hotp::new(secret, algorithm, digits)?.code(counter))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4226 Appendix D: secret "12345678901234567890", counters 0 to 9.
    #[test]
    fn rfc4226_appendix_d() {
        let secret = Secret::from_bytes(b"12345678901234567890").unwrap();
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
            "520489",
        ];
        for (counter, want) in expected.iter().enumerate() {
            let code = hotp(&secret, counter as u64, Algorithm::Sha1, Digits::SIX).unwrap();
            assert_eq!(code.to_string(), *want, "counter {counter}");
        }
    }

    /// RFC 4226 §5.4's worked example of dynamic truncation.
    #[test]
    fn rfc4226_truncation_example() {
        let hmac = [
            0x1f, 0x86, 0x98, 0x69, 0x0e, 0x02, 0xca, 0x16, 0x61, 0x85, 0x50, 0xef, 0x7f, 0x19, 0xda, 0x8e,
            0x94, 0x5b, 0x55, 0x5a,
        ];
        assert_eq!(truncate(&hmac), 0x50ef7f19);
        assert_eq!(truncate(&hmac) % 1_000_000, 872921);
    }

    #[test]
    fn algorithm_names_round_trip() {
        for algorithm in [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512] {
            assert_eq!(Algorithm::parse(algorithm.name()).unwrap(), algorithm);
            assert_eq!(Algorithm::parse(&algorithm.name().to_lowercase()).unwrap(), algorithm);
        }
        assert!(Algorithm::parse("MD5").is_err());
    }
}
