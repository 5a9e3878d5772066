//! High-entropy random tokens (session ids, e-mailed link tokens, API keys, recovery codes): handed out
//! once as text, stored only as their SHA-256 hash. Because they are random and long, a fast hash is enough:
//! nothing is gained by guessing against the hash that is not already infeasible against the server.

use std::fmt;

use rand_core::CryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A token as given to its holder: unpadded base64url of its random bytes.
#[derive(Clone)]
pub struct Token(Zeroizing<String>);

/// The stored form of a token.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenHash(pub [u8; 32]);

impl Token {
    /// A new token of `bytes` random bytes (16 for session ids, 32 for e-mailed links).
    pub fn generate(bytes: usize, rng: &mut impl CryptoRng) -> Token {
        let mut raw = Zeroizing::new(vec![0u8; bytes]);
        rng.fill_bytes(&mut raw);
        Token(Zeroizing::new(data_encoding::BASE64URL_NOPAD.encode(&raw)))
    }

    /// Takes a token presented by a client (a cookie, a URL, a header). Anything is accepted: a wrong
    /// token simply hashes to something that is not stored.
    pub fn from_presented(text: &str) -> Token {
        Token(Zeroizing::new(text.trim().to_owned()))
    }

    /// The text to hand out.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the database keeps.
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

impl TokenHash {
    /// Constant-time comparison, for the rare place that compares hashes outside a database lookup.
    pub fn matches(&self, other: &TokenHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenHash({}…)", hex::encode(&self.0[..4]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(u8);
    impl rand_core::TryRng for Fixed {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(0)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            dst.fill(self.0);
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for Fixed {}

    #[test]
    fn tokens_have_the_requested_entropy_and_hash_stably() {
        let token = Token::generate(32, &mut Fixed(0xab));
        assert_eq!(token.as_str().len(), 43, "256 bits in unpadded base64url");
        let presented = Token::from_presented(&format!(" {} ", token.as_str()));
        assert!(presented.hash().matches(&token.hash()));
        assert!(!Token::from_presented("other").hash().matches(&token.hash()));
        assert_eq!(Token::generate(16, &mut Fixed(1)).as_str().len(), 22, "128 bits");
        assert_eq!(format!("{token:?}"), "Token(<hidden>)");
    }
}
