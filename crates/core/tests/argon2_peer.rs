//! Password hashes cross-checked against argon2-cffi (the reference C implementation behind Python's
//! `argon2` module), both ways: what we hash it verifies, what it hashes we verify, and wrong passwords
//! fail on both sides.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use keyward_core::password::{
    DUMMY_HASH, Password, PasswordHash, hash_password, verify_password, verify_password_for_unknown_user,
};
use serde_json::{Value, json};

/// A deterministic stand-in for the OS generator (splitmix64), so a failure replays with the same salts.
struct SplitMix(u64);
impl rand_core::TryRng for SplitMix {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        Ok(z ^ (z >> 31))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for SplitMix {}

/// One interpreter run: verifies our hashes with argon2-cffi and makes hashes of its own.
const PROGRAM: &str = r#"
import json, sys
from argon2 import PasswordHasher
from argon2.exceptions import VerifyMismatchError

def verifies(hasher, hash, password):
    try:
        return hasher.verify(hash, password)
    except VerifyMismatchError:
        return False

request = json.load(sys.stdin)
default = PasswordHasher()
ours = PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1)
print(json.dumps({
    "verified": [
        {
            "right": verifies(default, case["hash"], case["password"]),
            "wrong": verifies(default, case["hash"], case["wrong"]),
            "same_params": not ours.check_needs_rehash(case["hash"]),
        }
        for case in request["ours"]
    ],
    "dummy_verifies": verifies(default, request["dummy"], request["ours"][0]["password"]),
    "dummy_same_params": not ours.check_needs_rehash(request["dummy"]),
    "theirs": [
        {"default": default.hash(password), "ours": ours.hash(password)}
        for password in request["passwords"]
    ],
}))
"#;

const PASSWORDS: [(&str, &str); 2] = [
    ("correct horse battery staple", "correct horse battery stapler"),
    ("pässwörd-🔑-Ünïcödé", "passwörd-🔑-Ünïcödé"),
];

#[test]
fn argon2_cffi_agrees_both_ways() {
    let Some(python) = keyward_testkit::python_with("argon2") else { return };
    let mut rng = SplitMix(0x4b65_7977_6172_6421);

    let ours: Vec<Value> = PASSWORDS
        .iter()
        .map(|(right, wrong)| {
            let hash = hash_password(&Password::parse(right).unwrap(), &mut rng).unwrap();
            json!({"hash": hash.as_str(), "password": right, "wrong": wrong})
        })
        .collect();
    let passwords: Vec<&str> = PASSWORDS.iter().map(|(right, _)| *right).collect();
    let answer = keyward_testkit::python_json(
        &python,
        PROGRAM,
        &json!({"ours": ours, "dummy": DUMMY_HASH, "passwords": passwords}),
    );

    // Ours, checked by argon2-cffi.
    for (case, verdict) in ours.iter().zip(answer["verified"].as_array().unwrap()) {
        assert_eq!(verdict["right"], json!(true), "argon2-cffi refused our hash {case}");
        assert_eq!(verdict["wrong"], json!(false), "argon2-cffi accepted a wrong password for {case}");
        assert_eq!(verdict["same_params"], json!(true), "argon2-cffi reads other parameters in {case}");
    }
    assert_eq!(answer["dummy_verifies"], json!(false));
    assert_eq!(answer["dummy_same_params"], json!(true), "the dummy hash must cost what a real one costs");

    // Theirs, checked by us.
    for ((right, wrong), made) in PASSWORDS.iter().zip(answer["theirs"].as_array().unwrap()) {
        let right = Password::parse(right).unwrap();
        let wrong = Password::parse(wrong).unwrap();
        for (label, expect_rehash) in [("default", true), ("ours", false)] {
            let text = made[label].as_str().unwrap();
            let hash = PasswordHash::parse(text).unwrap_or_else(|e| panic!("{label} hash {text}: {e}"));
            assert!(verify_password(&hash, &right), "we refused argon2-cffi's {label} hash {text}");
            assert!(!verify_password(&hash, &wrong), "we accepted a wrong password for {label} hash {text}");
            assert_eq!(hash.needs_rehash(), expect_rehash, "{label} hash {text}");
        }
    }
    assert!(!verify_password_for_unknown_user(&Password::parse(PASSWORDS[0].0).unwrap()));
}
