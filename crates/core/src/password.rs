//! Passwords: argon2id hashes in PHC string format, with the parameters DESIGN.md fixes
//! (m=19456 KiB, t=2, p=1, OWASP's recommendation), and a dummy verification that makes unknown
//! usernames cost as much time as known ones.
//!
//! Hashing is deliberately slow (tens of milliseconds in a release build): callers on an async
//! executor run it on a blocking thread with bounded concurrency.

use std::fmt;

use argon2::password_hash::phc;
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::Error;

/// argon2id memory cost in KiB.
pub const M_COST: u32 = 19_456;
/// argon2id number of passes.
pub const T_COST: u32 = 2;
/// argon2id parallelism (lanes).
pub const P_COST: u32 = 1;
/// Length of the random salt in bytes (the PHC recommendation).
pub const SALT_LEN: usize = 16;

/// The largest memory cost a stored hash may ask for (256 MiB). Hashes made elsewhere with more are
/// refused when parsed rather than letting one login allocate gigabytes on a serving node.
pub const MAX_M_COST: u32 = 262_144;
/// The largest number of passes a stored hash may ask for.
pub const MAX_T_COST: u32 = 16;
/// The largest parallelism a stored hash may ask for (lanes run one after another here).
pub const MAX_P_COST: u32 = 16;

/// A password as typed: 8 to 128 characters (Unicode scalar values, not bytes), kept verbatim —
/// no trimming, no normalization, so what argon2-cffi or any other implementation hashes is the same
/// UTF-8. Zeroed when dropped, never shown by `Debug`.
#[derive(Clone)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// The fewest characters a password may have.
    pub const MIN_CHARS: usize = 8;
    /// The most characters a password may have; also bounds the work one request can cause.
    pub const MAX_CHARS: usize = 128;

    /// Accepts a password of 8 to 128 characters.
    pub fn parse(text: &str) -> Result<Password, Error> {
        let too_long_bytes = text.len() > 4 * Self::MAX_CHARS; // a character is at most 4 UTF-8 bytes
        if too_long_bytes || !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&text.chars().count()) {
            return Err(Error::PasswordLength { min: Self::MIN_CHARS, max: Self::MAX_CHARS });
        }
        Ok(Password(Zeroizing::new(text.to_owned())))
    }

    fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// A stored argon2id hash in PHC string format, e.g. `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
///
/// Only argon2id with a salt and an output is accepted, with version 19 (or 16) and costs
/// within [`MAX_M_COST`], [`MAX_T_COST`] and [`MAX_P_COST`]. `Debug` shows the parameters but not the
/// salt and hash, which would help an offline guesser.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Parses and checks a PHC string.
    pub fn parse(phc_text: &str) -> Result<PasswordHash, Error> {
        let invalid = |reason: &str| Error::InvalidPasswordHash(reason.to_owned());
        let parsed = phc::PasswordHash::new(phc_text).map_err(|error| invalid(&error.to_string()))?;
        if parsed.algorithm.as_str() != Algorithm::Argon2id.as_str() {
            return Err(invalid("the algorithm must be argon2id"));
        }
        // A missing version means 0x10 to the reference implementation but 0x13 to the argon2 crate;
        // every implementation writes it today, so refusing the ambiguous form costs nothing.
        let version = parsed.version.ok_or_else(|| invalid("the argon2 version (v=19) is missing"))?;
        Version::try_from(version).map_err(|_| invalid("the argon2 version must be 16 or 19"))?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(invalid("the salt or the hash is missing"));
        }
        let params = Params::try_from(&parsed).map_err(|error| invalid(&error.to_string()))?;
        if params.m_cost() > MAX_M_COST || params.t_cost() > MAX_T_COST || params.p_cost() > MAX_P_COST {
            return Err(invalid(
                "the cost parameters exceed what this server verifies (m≤262144, t≤16, p≤16)",
            ));
        }
        Ok(PasswordHash(phc_text.to_owned()))
    }

    /// The PHC string, as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this hash was made with other parameters than ours (e.g. imported from argon2-cffi
    /// with its defaults): such a hash should be replaced after the next successful login, which also
    /// makes every user's login cost the same as the dummy verification.
    pub fn needs_rehash(&self) -> bool {
        let Ok(parsed) = phc::PasswordHash::new(&self.0) else { return true };
        let Ok(params) = Params::try_from(&parsed) else { return true };
        parsed.version != Some(Version::V0x13.into())
            || (params.m_cost(), params.t_cost(), params.p_cost()) != (M_COST, T_COST, P_COST)
            || params.output_len() != Some(Params::DEFAULT_OUTPUT_LEN)
            || !params.keyid().is_empty()
            || !params.data().is_empty()
            || parsed.salt.is_none_or(|salt| salt.len() != SALT_LEN)
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Everything up to the salt: `$argon2id$v=19$m=…,t=…,p=…`.
        let fields: Vec<&str> = self.0.split('$').collect();
        let shown = fields.get(..fields.len().saturating_sub(2)).unwrap_or_default().join("$");
        write!(f, "PasswordHash({shown:?}, ..)")
    }
}

/// Our hasher: argon2id, version 0x13, m=19456 KiB, t=2, p=1, 32-byte output.
fn our_params() -> Result<Params, Error> {
    Params::new(M_COST, T_COST, P_COST, None).map_err(|e| Error::PasswordHashing(e.to_string()))
}

/// argon2's working memory (19 MiB with our parameters), kept between hashes.
///
/// Allocating and freeing 19 MiB per login leaves a server's heap fragmented and its resident size
/// growing (BENCHMARKS.md, "Memory"); a server keeps one workspace per hash that may run at once and
/// reuses it. A hash with larger parameters (imported from elsewhere) grows it for that one call and
/// shrinks it back. The memory is zeroed after every use, so no password-derived state outlives a call.
pub struct Workspace(Vec<Block>);

impl Default for Workspace {
    fn default() -> Workspace {
        Workspace::new()
    }
}

impl Workspace {
    /// A workspace sized for our parameters.
    pub fn new() -> Workspace {
        let blocks = our_params().map(|params| params.block_count()).unwrap_or_default();
        Workspace(vec![Block::default(); blocks])
    }

    /// Runs argon2id `hasher` over `password` and `salt` into `out`, in this workspace.
    fn run(
        &mut self,
        hasher: &Argon2<'_>,
        password: &Password,
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), Error> {
        let ours = self.0.len();
        let needed = hasher.params().block_count();
        if needed > ours {
            self.0.resize(needed, Block::default());
        }
        let result =
            hasher.hash_password_into_with_memory(password.as_bytes(), salt, out, &mut self.0[..needed]);
        self.0.iter_mut().for_each(Zeroize::zeroize);
        if needed > ours {
            self.0.truncate(ours);
            self.0.shrink_to_fit();
        }
        result.map_err(|error| Error::PasswordHashing(error.to_string()))
    }

    /// Hashes a password with a fresh 16-byte salt from `rng`.
    pub fn hash(&mut self, password: &Password, rng: &mut impl CryptoRng) -> Result<PasswordHash, Error> {
        fn hashing(error: impl fmt::Display) -> Error {
            Error::PasswordHashing(error.to_string())
        }
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let params = our_params()?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        self.run(
            &Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone()),
            password,
            &salt,
            &mut out,
        )?;
        let phc = phc::PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: phc::ParamsString::try_from(&params).map_err(hashing)?,
            salt: Some(phc::Salt::new(&salt).map_err(hashing)?),
            hash: Some(phc::Output::new(&out).map_err(hashing)?),
        };
        Ok(PasswordHash(phc.to_string()))
    }

    /// Whether `password` matches `hash`. The hash's own parameters are used, so hashes made with
    /// other argon2id parameters (argon2-cffi's defaults, say) verify too. The final comparison is
    /// constant-time.
    pub fn verify(&mut self, hash: &PasswordHash, password: &Password) -> bool {
        let Ok(parsed) = phc::PasswordHash::new(&hash.0) else { return false };
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else { return false };
        let Ok(params) = Params::try_from(&parsed) else { return false };
        let Some(version) = parsed.version.and_then(|v| Version::try_from(v).ok()) else { return false };
        let mut out = Zeroizing::new(vec![0u8; expected.len()]);
        let hasher = Argon2::new(Algorithm::Argon2id, version, params);
        if self.run(&hasher, password, salt.as_ref(), &mut out).is_err() {
            return false;
        }
        out.ct_eq(expected.as_bytes()).into()
    }

    /// Spends the time of one real verification and returns false: the login path calls this when
    /// the username is unknown, so response times do not tell which usernames exist.
    pub fn verify_for_unknown_user(&mut self, password: &Password) -> bool {
        let matched = match PasswordHash::parse(DUMMY_HASH) {
            Ok(dummy) => self.verify(&dummy, password),
            Err(_) => false,
        };
        // Keeps the computation from being optimized away, since its result is ignored.
        std::hint::black_box(matched);
        false
    }
}

/// Hashes a password with a fresh 16-byte salt from `rng`, in a workspace of its own.
pub fn hash_password(password: &Password, rng: &mut impl CryptoRng) -> Result<PasswordHash, Error> {
    Workspace::new().hash(password, rng)
}

/// [`Workspace::verify`] in a workspace of its own.
pub fn verify_password(hash: &PasswordHash, password: &Password) -> bool {
    Workspace::new().verify(hash, password)
}

/// The hash of a random password that was thrown away at development time (made with argon2-cffi
/// using exactly our parameters), so verifying against it costs what a real verification costs and
/// can never succeed.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$O6DSn3O07AsWMUuALMxtnQ$dKpjWr96ihrbw9/FP7WLCFUDT0AWhpZMgWvVAnV8N0A";

/// [`Workspace::verify_for_unknown_user`] in a workspace of its own.
pub fn verify_password_for_unknown_user(password: &Password) -> bool {
    Workspace::new().verify_for_unknown_user(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rng::Counting;

    fn password(text: &str) -> Password {
        Password::parse(text).unwrap()
    }

    /// One hash shared by the tests below: argon2 is slow in debug builds.
    #[test]
    fn hash_round_trip_wrong_password_and_format() {
        let hash = hash_password(&password("correct horse battery"), &mut Counting(0)).unwrap();
        // The salt is the 16 bytes 1..=16 from the generator, in unpadded base64.
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$AQIDBAUGBwgJCgsMDQ4PEA$"),
            "{}",
            hash.as_str()
        );
        assert!(!hash.needs_rehash());
        assert_eq!(PasswordHash::parse(hash.as_str()).unwrap(), hash);
        assert!(verify_password(&hash, &password("correct horse battery")));
        assert!(!verify_password(&hash, &password("correct horse battery ")));
        assert!(!verify_password(&hash, &password("Correct horse battery")));
    }

    #[test]
    fn known_answer_from_argon2_cffi() {
        // Made by argon2-cffi 25.1: PasswordHasher(time_cost=2, memory_cost=19456,
        // parallelism=1).hash("pässwörd-🔑", salt=b"saltsaltsaltsalt").
        let hash = PasswordHash::parse(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$wJm5xhwl2TMVkMeh0ycok6dur4XWQ4giWubB/iWCHho",
        )
        .unwrap();
        assert!(!hash.needs_rehash());
        assert!(verify_password(&hash, &password("pässwörd-🔑")));
    }

    #[test]
    fn length_limits_count_characters() {
        for ok in ["a".repeat(8), "a".repeat(128), "ä".repeat(8), "🔑".repeat(128), "ü".repeat(100)] {
            assert!(Password::parse(&ok).is_ok(), "{} chars", ok.chars().count());
        }
        // 7 two-byte characters are 14 bytes but still too short; 129 characters are too long.
        for bad in ["a".repeat(7), "ä".repeat(7), "a".repeat(129), "🔑".repeat(129), String::new()] {
            assert_eq!(
                Password::parse(&bad).unwrap_err(),
                Error::PasswordLength { min: 8, max: 128 },
                "{} chars",
                bad.chars().count()
            );
        }
        assert!(Password::parse(&"a".repeat(10_000_000)).is_err());
        // Kept verbatim: spaces count.
        assert!(Password::parse("       a").is_ok());
    }

    #[test]
    fn debug_hides_secrets() {
        assert_eq!(format!("{:?}", password("hunter2hunter2")), "Password(..)");
        let hash = PasswordHash::parse(DUMMY_HASH).unwrap();
        assert_eq!(format!("{hash:?}"), "PasswordHash(\"$argon2id$v=19$m=19456,t=2,p=1\", ..)");
    }

    #[test]
    fn refuses_other_algorithms_and_malformed_hashes() {
        for bad in [
            "",
            "argon2id",
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$1W0dZcmpKAVX12UgA4otdi5xw0AUL5zhTxcVCNRDHuk",
            "$argon2d$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$1W0dZcmpKAVX12UgA4otdi5xw0AUL5zhTxcVCNRDHuk",
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "$pbkdf2-sha256$29000$N2bMGaMUYizFGGPsPcc4Zw$1KXjDL6Wo8UUUF2XEZ/8U7VxbFIuXxYgh2H5zbgRa6U",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA",
            "$argon2id$v=19$m=19456,t=2,p=1",
            "$argon2id$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$wJm5xhwl2TMVkMeh0ycok6dur4XWQ4giWubB/iWCHho",
            "$argon2id$v=18$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$1W0dZcmpKAVX12UgA4otdi5xw0AUL5zhTxcVCNRDHuk",
            "$argon2id$v=19$m=19456,t=2,p=1,x=3$c2FsdHNhbHRzYWx0c2FsdA$1W0dZcmpKAVX12UgA4otdi5xw0AUL5zhTxcVCNRDHuk",
            "$argon2id$v=19$m=4,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$1W0dZcmpKAVX12UgA4otdi5xw0AUL5zhTxcVCNRDHuk",
            "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$1W0dZcmpKAVX12UgA4otdi5xw0AUL5zhTxcVCNRDHuk",
            "$argon2id$v=19$m=19456,t=1000,p=1$c2FsdHNhbHRzYWx0c2FsdA$1W0dZcmpKAVX12UgA4otdi5xw0AUL5zhTxcVCNRDHuk",
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$1W0dZcmpKAVX12UgA4otdi5xw0AUL5zhTxcVCNRDHuk$x",
            "$argon2id$v=19$m=19456,t=2,p=1$!!!$1W0dZcmpKAVX12UgA4otdi5xw0AUL5zhTxcVCNRDHuk",
        ] {
            assert!(
                matches!(PasswordHash::parse(bad), Err(Error::InvalidPasswordHash(_))),
                "{bad:?} gave {:?}",
                PasswordHash::parse(bad)
            );
        }
    }

    #[test]
    fn other_argon2id_parameters_are_accepted_but_need_rehash() {
        // argon2-cffi's defaults (m=65536, t=3, p=4); verified against it in tests/argon2_peer.rs.
        let cffi_default = PasswordHash::parse(
            "$argon2id$v=19$m=65536,t=3,p=4$FhmVrxE7JY5E7JN24c/0Bg$WwSThFe9EpZsIDRzErgQPLFbiHKVms9yPW5zfUtnbVQ",
        )
        .unwrap();
        assert!(cffi_default.needs_rehash());
    }

    #[test]
    fn dummy_path_returns_false_with_our_parameters() {
        let dummy = PasswordHash::parse(DUMMY_HASH).unwrap();
        assert!(!dummy.needs_rehash(), "the dummy must cost exactly what a real verification costs");
        assert!(DUMMY_HASH.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!verify_password_for_unknown_user(&password("correct horse battery")));
    }

    #[test]
    fn parsing_arbitrary_text_never_panics() {
        let mut inputs = keyward_testkit::Inputs::new(7);
        let alphabet = b"$argon2idv=19mtp,0123456789abcdefABCDEF+/=!";
        for _ in 0..2_000 {
            let len = inputs.below(120) as usize;
            let text: String = (0..len)
                .map(|_| char::from(alphabet[inputs.below(alphabet.len() as u64) as usize]))
                .collect();
            let _ = PasswordHash::parse(&text);
            let _ = PasswordHash::parse(&format!("$argon2id$v=19$m=19456,t=2,p=1${text}"));
        }
    }
}
